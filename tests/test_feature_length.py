"""Feature-length input: building the filter costs the same for 100 frames and for 3 hours, absurd rates work
or fail clearly, variable-rate timestamps come from timecode files without reading a frame, and seeking far
into a
film costs a few interpolations, not a catch-up."""

from __future__ import annotations

import math
import random
import time
import tracemalloc
from fractions import Fraction as F
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

import vsrife.engine
import vsrife.filter
from vsrife.filter import RIFE
from vsrife.timecodes import TimecodesError, parse_timecodes
from vsrife.timing import MAX_FRAMES, CFRTimeline

core = vs.core
NTSC24, NTSC60 = F(24000, 1001), F(60000, 1001)
TWO_HOURS_24 = 172_800  # 2 h at 24 fps


def indexed(clip: vs.VideoNode) -> vs.VideoNode:
    """The clip with each frame's own number in the prop SrcIndex (the filter copies props of frame a)."""

    def tag(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        out.props["SrcIndex"] = n
        return out

    return clip.std.ModifyFrame(clip, tag)


def failing(clip: vs.VideoNode, calls: list[int]) -> vs.VideoNode:
    """The clip, but every frame request fails (and is counted)."""

    def boom(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        calls.append(n)
        raise RuntimeError(f"frame {n} was requested")

    return clip.std.ModifyFrame(clip, boom)


def timed_build(clip: vs.VideoNode, **kwargs: object) -> tuple[vs.VideoNode, float, int]:
    """Build twice (the first loads the model); time and trace Python allocations of the second."""
    RIFE(clip, model="4.0", **kwargs)
    tracemalloc.start()
    start = time.perf_counter()
    out = RIFE(clip, model="4.0", **kwargs)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, seconds, peak


def check_positions(out: vs.VideoNode, fps_in: F, n_in: int, samples: list[int]) -> None:
    for n in samples:
        want = min(math.floor(F(n) * fps_in / (out.fps_num / F(out.fps_den))), n_in - 1)
        assert out.get_frame(n).props["SrcIndex"] == want, n


@pytest.fixture(scope="module")
def film(v40_weights):
    """2 hours of (identical, so nothing is interpolated) 64x48 frames that carry their own numbers."""
    return lambda fpsnum, fpsden: indexed(
        core.std.BlankClip(
            width=64, height=48, format=vs.YUV420P8, length=TWO_HOURS_24, fpsnum=fpsnum, fpsden=fpsden
        )
    )


@pytest.mark.parametrize("fps_in, fps", [(NTSC24, 59.94), (F(24), 60)])
def test_two_hour_cfr_builds_in_constant_time(film, fps_in, fps):
    clip = film(fps_in.numerator, fps_in.denominator)
    out, seconds, peak = timed_build(clip, fps=fps, sc=False)
    n_out = math.ceil(TWO_HOURS_24 * F(5, 2))
    assert out.num_frames == n_out == 432_000
    assert seconds < 0.5, f"building took {seconds:.2f} s"
    assert peak < 4 << 20, f"building allocated {peak / 2**20:.1f} MiB"
    rng = random.Random(7)
    check_positions(
        out,
        fps_in,
        TWO_HOURS_24,
        [0, 1, 2, 3, 4, 5, 400000, n_out - 2, n_out - 1, *rng.sample(range(n_out), 40)],
    )


def test_million_times_and_a_billion_fps(film, v40_weights):
    five = film(24, 1)[:5]
    out, seconds, peak = timed_build(five, factor_num=1_000_000, sc=False)
    assert out.num_frames == 5_000_000
    assert seconds < 0.5 and peak < 4 << 20
    check_positions(out, F(24), 5, [0, 999_999, 1_000_000, 3_456_789, 4_000_000, 4_999_999])

    out, seconds, peak = timed_build(five, fps=1e9, sc=False)
    assert out.num_frames == math.ceil(5 * F(10**9) / 24) == 208_333_334
    assert seconds < 0.5 and peak < 4 << 20
    check_positions(out, F(24), 5, [0, 41_666_666, 41_666_667, 208_333_333])


def test_output_longer_than_a_clip_can_hold_is_a_clear_error(film):
    five = film(24, 1)[:5]
    start = time.perf_counter()
    with pytest.raises(vs.Error, match=r"RIFE: fps 1000000000000 would make 208,333,333,334 output frames"):
        RIFE(five, model="4.0", fps=10**12)
    assert time.perf_counter() - start < 1
    assert MAX_FRAMES == 2**31 - 1


def test_cycle_path_and_per_frame_path_give_identical_frames(carphone_path, v40_weights, monkeypatch):
    """Short cycles are selected by SelectEvery, long ones per frame: same frames either way."""
    clip = core.bs.VideoSource(str(carphone_path))[10:16]
    kwargs = {"model": "4.0", "factor_num": 5, "factor_den": 2, "sc": True}
    cyc = RIFE(clip, **kwargs)
    monkeypatch.setattr(vsrife.filter, "CYCLE_LIMIT", 0)
    per = RIFE(clip, **kwargs)
    assert cyc.num_frames == per.num_frames == 15
    for n in range(cyc.num_frames):
        a, b = cyc.get_frame(n), per.get_frame(n)
        for p in range(a.format.num_planes):
            assert np.array_equal(np.asarray(a[p]), np.asarray(b[p])), n
        assert dict(a.props) == dict(b.props)


def test_seeking_deep_into_a_film_costs_a_few_frames(carphone_path, v40_weights, monkeypatch):
    """Frame 400,000 of a 2-hour 23.976 -> 59.94 render, asked for first, prepares only its own window."""
    real = core.bs.VideoSource(str(carphone_path))[:48]
    film = core.std.AssumeFPS(real * (TWO_HOURS_24 // 48), fpsnum=24000, fpsden=1001)
    prepared: list[int] = []
    original = vsrife.engine.Engine.prepare

    def counting(self, index, planes, spec):  # type: ignore[no-untyped-def]
        prepared.append(index)
        return original(self, index, planes, spec)

    monkeypatch.setattr(vsrife.engine.Engine, "prepare", counting)
    out = RIFE(film, model="4.0", fps=59.94)
    n = 400_001  # position 160000.4: interpolated
    start = time.perf_counter()
    frame = out.get_frame(n)
    assert time.perf_counter() - start < 20
    assert set(prepared) <= {159_999, 160_000, 160_001, 160_002}, sorted(set(prepared))
    assert np.asarray(frame[0]).shape == (144, 176)


V2 = """# timecode format v2
# 9 frames and the end of the last
0
40
80
120
160
180
200
220
240
300
"""
V1 = """# timecode format v1
Assume 25
4,7,50
"""


@pytest.mark.parametrize("text", [V2, V1], ids=["v2", "v1"])
def test_vfr_from_timecodes_reads_no_frame(tmp_path: Path, v40_weights, text):
    """25 fps for 4 frames, 50 fps for 4, then one frame of 60 ms (v2) or 40 ms (v1) -> 50 fps."""
    tc = tmp_path / "tc.txt"
    tc.write_text(text)
    blank = core.std.BlankClip(width=64, height=48, format=vs.YUV420P8, length=9, fpsnum=0, fpsden=1)
    calls: list[int] = []
    out = RIFE(failing(blank, calls), model="4.0", fps=50, timecodes=str(tc), sc=False)
    assert calls == []  # built without a single frame request
    stamps = parse_timecodes(text, 9)
    assert out.num_frames == math.ceil(stamps.end * 50)
    assert stamps.starts[:5] == (0, F(1, 25), F(2, 25), F(3, 25), F(4, 25))
    assert stamps.starts[5:8] == (F(4, 25) + F(1, 50), F(4, 25) + F(2, 50), F(4, 25) + F(3, 50))

    # the same timestamps on a readable source: each output frame shows the source frame whose time it is in
    good = indexed(core.std.BlankClip(blank, fpsnum=0, fpsden=1))
    out = RIFE(good, model="4.0", fps=50, timecodes=str(tc), sc=False)
    for n in range(out.num_frames):
        time_n = F(n, 50)
        want = max(k for k, s in enumerate(stamps.starts) if s <= time_n)
        assert out.get_frame(n).props["SrcIndex"] == want, n


def test_vfr_from_timecodes_matches_vfr_from_frame_durations(carphone_path, v40_weights, tmp_path):
    clip = core.bs.VideoSource(str(carphone_path))
    a = core.std.AssumeFPS(clip[:4], fpsnum=25, fpsden=1)
    b = core.std.AssumeFPS(clip[4:8], fpsnum=50, fpsden=1)
    vfr = core.std.Splice([a, b], mismatch=True)
    tc = tmp_path / "tc.txt"
    tc.write_text(
        "# timecode format v2\n" + "\n".join(str(x) for x in (0, 40, 80, 120, 160, 180, 200, 220, 240))
    )
    by_props = RIFE(vfr, model="4.0", fps=50, sc=False)
    by_file = RIFE(vfr, model="4.0", fps=50, sc=False, timecodes=str(tc))
    assert by_props.num_frames == by_file.num_frames == 12
    for n in range(12):
        x, y = by_props.get_frame(n), by_file.get_frame(n)
        assert all(np.array_equal(np.asarray(x[p]), np.asarray(y[p])) for p in range(3)), n


@pytest.mark.parametrize(
    "text, match",
    [
        ("# timecode format v2\n0\n40\n", r"has 2 timestamps but the clip has 9 frames"),
        ("# timecode format v2\n" + "0\n40\n30\n" + "50\n" * 6, r"line 4: timestamps must increase"),
        ("# timecode format v2\n0\nabc\n" + "50\n" * 7, r"line 3: 'abc' is not a number"),
        ("# timecode format v1\n0,3,50\n", r"needs an 'Assume <fps>' line"),
        ("# timecode format v1\nAssume 25\n5,12,50\n", r"range 5-12 goes past the clip's 9 frames"),
        ("# timecode format v1\nAssume 25\n3,5,0\n", r"'0' is not a positive frame rate"),
        ("hello\n", r"not a Matroska timecode file"),
    ],
)
def test_bad_timecodes_are_clear_errors(tmp_path: Path, v40_weights, text, match):
    tc = tmp_path / "tc.txt"
    tc.write_text(text)
    blank = core.std.BlankClip(width=64, height=48, format=vs.YUV420P8, length=9, fpsnum=0, fpsden=1)
    with pytest.raises(vs.Error, match=r"RIFE: timecodes: .*" + match):
        RIFE(blank, model="4.0", fps=50, timecodes=str(tc))
    with pytest.raises(TimecodesError, match=match):
        parse_timecodes(text, 9)


def test_missing_timecodes_file_and_directory(tmp_path: Path, v40_weights):
    blank = core.std.BlankClip(width=64, height=48, format=vs.YUV420P8, length=9, fpsnum=0, fpsden=1)
    with pytest.raises(vs.Error, match=r"RIFE: timecodes: cannot read .*nope.txt"):
        RIFE(blank, model="4.0", fps=50, timecodes=str(tmp_path / "nope.txt"))
    with pytest.raises(vs.Error, match=r"RIFE: timecodes: .* is a directory"):
        RIFE(blank, model="4.0", fps=50, timecodes=str(tmp_path))


def test_cycle_offsets_reproduce_locate():
    for fps_in, fps_out in [(NTSC24, NTSC60), (F(25), NTSC60), (F(30), F(144)), (F(24), F(48))]:
        tl = CFRTimeline(1000, fps_in, fps_out)
        p, q = tl.cycle
        offsets = tl.cycle_offsets(2)
        for n in range(tl.length):
            want = tl.locate(n).index
            got = min((n // (2 * q)) * 2 * p + offsets[n % (2 * q)], 999)
            assert got == want, (fps_in, fps_out, n)
