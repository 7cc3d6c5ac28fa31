"""The model's own evidence: the confidence path returns the same frame and tells motion from two pictures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import vapoursynth as vs

from vsrife.evidence import JUMP_CUT_CONFIDENCE
from vsrife.model import RIFE_HDv3


@pytest.fixture(scope="module")
def model(v40_weights) -> RIFE_HDv3:
    return RIFE_HDv3("4.0", device="cpu", precision="fp32").load_weights(v40_weights)


def frames(path, indices: list[int], width: int = 256, height: int = 128) -> list[torch.Tensor]:
    src = vs.core.bs.VideoSource(str(path), cachemode=0)
    clip = src.resize.Bicubic(width, height, format=vs.RGBS, matrix_in_s="709")
    out = []
    for n in indices:
        f = clip.get_frame(n)
        out.append(torch.from_numpy(np.stack([np.asarray(f[p]) for p in range(3)])).unsqueeze(0))
    return out


def run(model: RIFE_HDv3, a: torch.Tensor, b: torch.Tensor, t: float = 0.5) -> tuple[torch.Tensor, float]:
    h, w = a.shape[-2:]
    pa, pb = model.pad(a, 1.0), model.pad(b, 1.0)
    ts = torch.tensor([t])
    with torch.inference_mode():
        out, conf = model.interpolate_with_confidence(pa, pb, ts, None, None, 1.0, False, h, w)
        plain = model.interpolate(pa, pb, ts, None, None, 1.0, False)
    assert torch.equal(out, plain)  # the confidence path shows exactly the frame the default path makes
    return out, float(conf[0])


@pytest.mark.slow
def test_confidence_tells_motion_from_a_jump_cut(model, bbb_path) -> None:
    f0, f1, f40 = frames(bbb_path, [10, 11, 50])
    _, same = run(model, f0, f0)
    _, motion = run(model, f0, f1, 0.3)
    _, jump = run(model, f0, f40)
    assert same == 1.0
    assert motion >= JUMP_CUT_CONFIDENCE, motion
    assert jump < JUMP_CUT_CONFIDENCE, jump
