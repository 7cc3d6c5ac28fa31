"""Cuts from the model's evidence (vsrife.evidence.cut_by_evidence): jump cuts found, flashes and fast motion
left alone, on real clips through the filter, and the rule itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import vapoursynth as vs

from vsrife.evidence import (
    CONFIRM_RATIO,
    JUMP_CUT_RATIO,
    MIN_JUMP,
    TONE_RATIO,
    PairEvidence,
    cut_by_evidence,
    jump_ratio,
    small_frames,
)
from vsrife.filter import RIFE
from vsrife.scenecut import SceneCutDetector, thumbnail

from .test_holds import same
from .test_holds import small as clip_of

core = vs.core


def interpolated(out: vs.VideoNode, clip: vs.VideoNode, n: int) -> bool:
    """Output frame n (x2) is neither of the source frames around it."""
    f = out.get_frame(n)
    return not same(f, clip.get_frame(n // 2)) and not same(f, clip.get_frame(n // 2 + 1))


def thumbnails(clip: vs.VideoNode) -> list[torch.Tensor]:
    rgb = clip.resize.Bicubic(format=vs.RGBS, matrix_in_s="709")
    frames = [torch.from_numpy(np.stack([np.asarray(f[p]) for p in range(3)])) for f in rgb.frames()]
    return list(thumbnail(torch.stack(frames)).unbind(0))


# --- the rule ---------------------------------------------------------------------------------------------


def test_jump_ratio_compares_with_the_harder_neighbour() -> None:
    assert jump_ratio(0.01, 0.06, 0.02) == pytest.approx((0.06 + 0.01) / (0.02 + 0.01))
    assert jump_ratio(None, 0.06, 0.02) == jump_ratio(0.02, 0.06, None)
    assert jump_ratio(None, 0.06, None) is None
    assert jump_ratio(0.0, 0.0, 0.0) == 1.0  # a still: no evidence either way


def evidence_of(table: dict[tuple[int, int], float], default: float = 0.01, raw: dict | None = None):
    """An evidence function over frames 0..9 from a table of residuals (the plain difference as large,
    unless ``raw`` says otherwise), recording what was asked."""
    asked: list[tuple[int, int]] = []

    def evidence(i: int, j: int) -> PairEvidence:
        asked.append((i, j))
        residual = table.get((i, j), default)
        return PairEvidence(residual, (raw or {}).get((i, j), residual))

    return evidence, asked


def test_a_pair_that_stands_out_is_a_cut_unless_the_picture_returns() -> None:
    jump = {(4, 5): 0.08, (4, 6): 0.08, (4, 7): 0.08, (3, 5): 0.08, (2, 5): 0.08}
    # frames 0..9, motion everywhere at 0.01; the pair (4, 5) at 0.08 and every pair across it: a jump cut
    ev, asked = evidence_of(jump)
    assert cut_by_evidence(False, 4, 5, 9, ev)
    assert {(3, 4), (4, 5), (5, 6)} <= set(asked)
    # a flash at frame 5 (one frame): (5, 6) is as hard, no isolated peak
    ev, _ = evidence_of({(4, 5): 0.08, (5, 6): 0.08})
    assert not cut_by_evidence(False, 4, 5, 9, ev)
    ev, _ = evidence_of({**jump, (4, 6): 0.02})
    assert not cut_by_evidence(False, 4, 5, 9, ev)  # the picture before returns at frame 6
    ev, _ = evidence_of({**jump, (2, 5): 0.02})
    assert not cut_by_evidence(False, 4, 5, 9, ev)  # frame 5 matches frame 2: 3 and 4 were a flash
    ev, _ = evidence_of(jump, raw={(4, 5): TONE_RATIO * 0.08 + 0.01})
    assert not cut_by_evidence(False, 4, 5, 9, ev)  # mostly a change of tone: a flash or an exposure jump
    # a small sudden move in a still shot stands out from its neighbours but changes too little
    ev, _ = evidence_of(dict.fromkeys(jump, MIN_JUMP * 0.9), default=0.001)
    assert not cut_by_evidence(False, 4, 5, 9, ev)
    ev, _ = evidence_of(dict.fromkeys(jump, MIN_JUMP * 1.1), default=0.001)
    assert cut_by_evidence(False, 4, 5, 9, ev)
    # a pair no harder than its neighbours: never a cut from the evidence, and it vetoes a thumbnail cut
    ev, asked = evidence_of({(4, 5): 0.011})
    assert not cut_by_evidence(False, 4, 5, 9, ev)
    assert set(asked) == {(3, 4), (4, 5), (5, 6)}  # the flash checks only run for candidates
    assert not cut_by_evidence(True, 4, 5, 9, ev)
    # a thumbnail cut the evidence confirms (a smaller margin than a cut from the evidence alone)
    ratio = (CONFIRM_RATIO + JUMP_CUT_RATIO) / 2
    ev, _ = evidence_of({(4, 5): ratio * 0.02 - 0.01})
    assert cut_by_evidence(True, 4, 5, 9, ev) and not cut_by_evidence(False, 4, 5, 9, ev)
    # a two-frame clip has no neighbours: the thumbnail detector decides alone
    ev, _ = evidence_of({(0, 1): 0.5})
    assert cut_by_evidence(True, 0, 1, 1, ev) and not cut_by_evidence(False, 0, 1, 1, ev)


def test_small_frames_keep_the_aspect_and_small_clips() -> None:
    assert small_frames(torch.rand(2, 3, 720, 1280)).shape == (2, 3, 144, 256)
    assert small_frames(torch.rand(1, 3, 480, 640)).shape == (1, 3, 192, 256)
    tiny = torch.rand(1, 3, 112, 192) * 1.2 - 0.1
    assert torch.equal(small_frames(tiny), tiny.clamp(0, 1))


# --- the filter on real clips ---------------------------------------------------------------------------


def test_a_jump_cut_the_thumbnails_miss_shows_the_nearest_frame(carphone_path, v40_weights) -> None:
    src = clip_of(carphone_path, 0, 100)
    clip = src[15:18] + src[75:78]  # the same shot 2.4 s later: a jump cut between frames 2 and 3
    thumbs = thumbnails(clip)
    assert not SceneCutDetector().is_cut(thumbs[1:5])  # the thumbnail detector sees motion
    out = RIFE(clip, model="4.0", factor_num=2)  # sc=True, the default
    assert same(out.get_frame(5), clip.get_frame(2))
    for n in (1, 3, 7, 9):
        assert interpolated(out, clip, n), n
    off = RIFE(clip, model="4.0", factor_num=2, sc=False)
    assert interpolated(off, clip, 5)


def test_flashes_and_fast_pans_are_not_cuts(bbb_path, v40_weights) -> None:
    src = clip_of(bbb_path, 20, 12)
    # a one-frame flash at 3 and a two-frame flash at 7-8 (brightened and clipped, as lightning)
    bright = src.std.Expr(["x 1.8 * 60 +", "", ""])
    clip = src[:3] + bright[3] + src[4:7] + bright[7:9] + src[9:]
    out = RIFE(clip, model="4.0", factor_num=2)
    for n in range(1, 2 * clip.num_frames - 2, 2):
        assert interpolated(out, clip, n), n
    # a fast pan: a 60 % window of each frame moving 8 % of the frame per frame
    wide = clip_of(bbb_path, 100, 8, 384, 112)
    pan = core.std.Splice(
        [wide[i].std.Crop(left=8 * (4 * i), right=384 - 230 - 8 * (4 * i)) for i in range(5)]
    )
    out = RIFE(pan, model="4.0", factor_num=2)
    for n in range(1, 9, 2):
        assert interpolated(out, pan, n), n
