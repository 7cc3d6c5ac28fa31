"""Held drawings (dedup=True) and the model's confidence (sc_confidence, _RIFEConfidence) on real clips."""

from __future__ import annotations

import math
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

from vsrife.filter import RIFE
from vsrife.holds import HOLD_THRESHOLD, MAX_SCAN, drawing_span, hold_difference, hold_thumbnail, retime

core = vs.core


# --- pure functions -----------------------------------------------------------------------------------------


def spans_of(pattern: str) -> list[tuple[int, int | None] | None]:
    """drawing_span of every frame of a pattern like "ABBCCCD" (a letter per frame, repeats are holds)."""
    last = len(pattern) - 1
    return [drawing_span(i, last, lambda k: pattern[k] == pattern[k - 1]) for i in range(len(pattern))]


def test_drawing_span_finds_the_drawing_and_the_next_one() -> None:
    assert spans_of("AABBBCD") == [(0, 2), (0, 2), (2, 5), (2, 5), (2, 5), (5, 6), (6, None)]
    assert spans_of("ABCD") == [(0, 1), (1, 2), (2, 3), (3, None)]


def test_drawing_span_is_bounded() -> None:
    long = "A" + "B" * (MAX_SCAN + 2) + "C"
    spans = spans_of(long)
    assert spans[0] == (0, 1)
    assert all(s is None for s in spans[1:-1])  # every frame of a hold too long to be one: a still
    assert spans[-1] == (MAX_SCAN + 3, None)
    longest = spans_of("A" + "B" * MAX_SCAN + "C")
    assert longest[1 : MAX_SCAN + 1] == [(1, MAX_SCAN + 1)] * MAX_SCAN


def test_retime_puts_holds_between_drawings() -> None:
    # drawing at 2 shown until the next drawing at 5: source time 3 is a third of the way
    assert retime(3, Fraction(0), 2, 5) == Fraction(1, 3)
    assert retime(4, Fraction(1, 2), 2, 5) == Fraction(5, 6)
    assert retime(2, Fraction(0), 2, 5) == 0


def test_hold_difference_ignores_noise_but_not_a_small_moving_object() -> None:
    rng = np.random.default_rng(1)
    base = rng.uniform(0.2, 0.8, (180, 320)).astype(np.float32)
    noisy = base + rng.normal(0, 0.01, base.shape).astype(np.float32)
    moved = base.copy()
    moved[40:60, 100:120] = 0.95  # a 20 px object (0.7 % of the picture)
    t = [hold_thumbnail([x], False, 1.0) for x in (base, noisy, moved)]
    assert hold_difference(t[0], t[1]) < HOLD_THRESHOLD
    assert hold_difference(t[0], t[2]) > 5 * HOLD_THRESHOLD


# --- real clips ---------------------------------------------------------------------------------------------


def encode(node: vs.VideoNode, path: Path) -> vs.VideoNode:
    """``node`` through x264 crf 18 (holds then differ by coding noise), decoded again."""
    cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "yuv4mpegpipe", "-i", "-", "-c:v", "libx264"]
    cmd += ["-preset", "fast", "-crf", "18", "-pix_fmt", "yuv420p", str(path)]
    with subprocess.Popen(cmd, stdin=subprocess.PIPE) as proc:
        assert proc.stdin is not None
        node.output(proc.stdin, y4m=True)
        proc.stdin.close()
    assert proc.returncode == 0
    return core.bs.VideoSource(str(path), cachemode=0)


def small(path: Path, first: int, count: int, width: int = 192, height: int = 112) -> vs.VideoNode:
    src = core.bs.VideoSource(str(path), cachemode=0)
    matrix = "709" if src.height >= 576 else "170m"
    clip = src[first : first + count].resize.Bicubic(
        width, height, format=vs.YUV420P8, matrix_in_s=matrix, matrix_s="709"
    )
    return clip.std.AssumeFPS(fpsnum=25)


def rgb(frame: vs.VideoFrame) -> np.ndarray:
    return np.stack([np.asarray(frame[p]) for p in range(3)]).astype(np.float64)


def same(a: vs.VideoFrame, b: vs.VideoFrame) -> bool:
    return all(np.array_equal(np.asarray(a[p]), np.asarray(b[p])) for p in range(a.format.num_planes))


def psnr(a: vs.VideoFrame, b: vs.VideoFrame) -> float:
    mse = float(np.mean((rgb(a) - rgb(b)) ** 2))
    return 99.0 if mse == 0 else 10 * math.log10(255.0**2 / mse)


def as_rgb(clip: vs.VideoNode) -> vs.VideoNode:
    return clip.resize.Bicubic(format=vs.RGB24, matrix_in_s="709")


@pytest.mark.slow
def test_dedup_rebuilds_the_frames_of_animation_on_twos(bbb_path, v40_weights, tmp_path) -> None:
    orig = small(bbb_path, 40, 10)
    kept = orig[::2]
    twos = encode(core.std.Interleave([kept, kept]), tmp_path / "twos.mkv")
    holds = [
        hold_difference(
            *(hold_thumbnail([np.asarray(twos.get_frame(n + k)[0])], False, 255.0) for k in (0, 1))
        )
        for n in range(0, 10, 2)
    ]
    assert max(holds) < HOLD_THRESHOLD, holds  # the coded holds are not identical, but count as holds
    out = RIFE(twos, model="4.0", fps=25, dedup=True)
    assert (out.num_frames, out.fps) == (twos.num_frames, twos.fps)
    for n in (0, 2, 4):  # the first frame of a drawing is passed through, bit for bit
        assert same(out.get_frame(n), twos.get_frame(n))
    ref, got, held = as_rgb(orig), as_rgb(out), as_rgb(twos)
    gains = []
    for n in (1, 3, 5, 7):  # holds: rebuilt halfway between the drawings
        assert 0.0 <= out.get_frame(n).props["_RIFEConfidence"] <= 1.0
        gains.append(psnr(got.get_frame(n), ref.get_frame(n)) - psnr(held.get_frame(n), ref.get_frame(n)))
    assert np.mean(gains) > 2.0, gains
    # the last drawing has no next one: its hold is shown as it is
    assert same(out.get_frame(9), twos.get_frame(9))


@pytest.mark.slow
def test_dedup_changes_nothing_on_live_action(carphone_path, v40_weights, tmp_path) -> None:
    clip = encode(small(carphone_path, 30, 5, 176, 144), tmp_path / "live.mkv")
    plain = RIFE(clip, model="4.0", factor_num=2)
    dedup = RIFE(clip, model="4.0", factor_num=2, dedup=True)
    for n in range(plain.num_frames):
        assert same(plain.get_frame(n), dedup.get_frame(n)), n


def test_cuts_win_over_holds(bbb_path, carphone_path, v40_weights) -> None:
    a = small(bbb_path, 0, 4)
    b = small(carphone_path, 0, 4)
    clip = a[0] + a[0] + a[2] + a[2] + b[0] + b[0] + b[2]  # on twos, a cut between frames 3 and 4
    out = RIFE(clip, model="4.0", fps=25, dedup=True, sc_confidence=0)
    # frame 3 holds drawing 2, whose next drawing lies across the cut: the nearest drawing, not a blend
    assert same(out.get_frame(3), clip.get_frame(2))
    assert same(out.get_frame(6), clip.get_frame(6))  # a drawing's first frame
    assert not same(out.get_frame(1), clip.get_frame(1))  # a hold inside the shot


def test_equal_rate_needs_dedup(carphone_path, v40_weights) -> None:
    clip = small(carphone_path, 0, 4, 176, 144)
    with pytest.raises(vs.Error, match=r"fps must be higher than the clip's 25 fps; got 25\. .*dedup=True"):
        RIFE(clip, model="4.0", fps=25)
    with pytest.raises(vs.Error, match=r"fps must be at least the clip's 25 fps; got 24"):
        RIFE(clip, model="4.0", fps=24, dedup=True)
    with pytest.raises(vs.Error, match=r"RIFE: sc_confidence must be a number in \[0, 1\]"):
        RIFE(clip, model="4.0", sc_confidence=1.5)
    assert RIFE(clip, model="4.0", factor_num=1, dedup=True).num_frames == 4


def test_low_confidence_shows_the_nearest_source_frame_at_a_jump_cut(carphone_path, v40_weights) -> None:
    src = small(carphone_path, 0, 100, 176, 144)
    clip = src[15:18] + src[75:78]  # the same shot 2.4 s later: a jump cut between frames 2 and 3
    floor = 0.95  # this jump scores about 0.9 at this size, the motion around it about 1.0
    out = RIFE(clip, model="4.0", factor_num=2, sc=False, sc_confidence=floor)
    conf = {n: out.get_frame(n).props["_RIFEConfidence"] for n in range(1, 10, 2)}
    assert conf[5] < floor, conf  # the pair (2, 3)
    assert same(out.get_frame(5), clip.get_frame(2))
    for n in (1, 3, 7, 9):
        assert conf[n] >= floor, conf
        assert not same(out.get_frame(n), clip.get_frame(n // 2))
    # with the floor at 0 the blend is shown, confidence still attached
    off = RIFE(clip, model="4.0", factor_num=2, sc=False, sc_confidence=0)
    assert off.get_frame(5).props["_RIFEConfidence"] == pytest.approx(conf[5], abs=1e-6)
    assert not same(off.get_frame(5), clip.get_frame(2))


def test_dedup_same_frames_on_the_cycle_path_and_the_per_frame_path(carphone_path, v40_weights, monkeypatch):
    """Drawings are found per output frame when it is requested, by either path: the same frames."""
    import vsrife.filter

    src = core.bs.VideoSource(str(carphone_path), cachemode=0)
    clip = core.std.Splice([src[k] for k in (10, 10, 12, 12, 14, 14)])
    kwargs: dict = {"model": "4.0", "factor_num": 3, "factor_den": 2, "dedup": True}
    cyc = RIFE(clip, **kwargs)
    monkeypatch.setattr(vsrife.filter, "CYCLE_LIMIT", 0)
    per = RIFE(clip, **kwargs)
    assert cyc.num_frames == per.num_frames == 9
    for n in range(cyc.num_frames):
        a, b = cyc.get_frame(n), per.get_frame(n)
        assert same(a, b), n
        assert dict(a.props) == dict(b.props)
    assert same(cyc.get_frame(0), clip.get_frame(0)) and same(cyc.get_frame(3), clip.get_frame(2))
    assert not same(cyc.get_frame(1), clip.get_frame(0))  # source time 2/3, on the hold of drawing 0
