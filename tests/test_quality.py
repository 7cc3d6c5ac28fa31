"""Quality with the real RIFE v4.0 weights on real video: drop every odd frame of the first 60 frames of
Big Buck Bunny, interpolate them back at t=0.5, compare in RGB with the frames that were dropped."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import vapoursynth as vs

from vsrife import RIFE_HDv3

from .conftest import psnr

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bbb_rgb(bbb_path):
    clip = vs.core.bs.VideoSource(str(bbb_path))
    rgb = vs.core.resize.Bicubic(clip[:60], format=vs.RGBS, matrix_in_s="709")

    def frame(n: int) -> torch.Tensor:
        f = rgb.get_frame(n)
        return torch.from_numpy(np.stack([np.asarray(f[p]) for p in range(3)])).clamp(0, 1)

    return frame


@pytest.fixture(scope="module")
def direct_scores(bbb_rgb, v40_weights) -> list[float]:
    """PSNR of every dropped odd frame 1..57, interpolated by the model API straight from RGB."""
    model = RIFE_HDv3("4.0", device="cpu", precision="fp32").load_weights(v40_weights)
    scores = []
    for n in range(1, 59, 2):
        out = model.inference(torch.cat([bbb_rgb(n - 1), bbb_rgb(n + 1)])[None], timestep=0.5)
        scores.append(psnr(out[0].clamp(0, 1), bbb_rgb(n)))
    return scores


def test_model_api_psnr_v40(bbb_rgb, direct_scores):
    scores = direct_scores
    # a blend of the neighbours is the baseline the model has to beat
    blend = np.mean([psnr((bbb_rgb(n - 1) + bbb_rgb(n + 1)) / 2, bbb_rgb(n)) for n in range(1, 59, 8)])
    mean = float(np.mean(scores))
    print(f"v4.0 mean PSNR {mean:.3f} dB over {len(scores)} frames (blend baseline {blend:.2f} dB)")
    assert mean >= 34.5
    assert mean > blend + 2


def test_filter_yuv_in_and_out_matches_model_on_rgb(bbb_path, bbb_rgb, direct_scores):
    """The same drop-every-odd-frame test through the filter, YUV420P8 in and out: the colour path must not
    cost more than 0.1 dB against running the model directly on RGB."""
    from vsrife.filter import RIFE

    clip = vs.core.bs.VideoSource(str(bbb_path))[:60]
    even = clip.std.SelectEvery(cycle=2, offsets=0)  # frames 0, 2, ..., 58 at 12.5 fps
    out = RIFE(even, model="4.0", factor_num=2, sc=False, precision="fp32")
    assert out.format.id == vs.YUV420P8 and out.num_frames == 60
    out_rgb = vs.core.resize.Bicubic(out, format=vs.RGBS, matrix_in_s="709")

    def as_tensor(f):
        return torch.from_numpy(np.stack([np.asarray(f[p]) for p in range(3)])).clamp(0, 1)

    via_filter = [psnr(as_tensor(out_rgb.get_frame(n)), bbb_rgb(n)) for n in range(1, 59, 2)]
    f_mean, d_mean = float(np.mean(via_filter)), float(np.mean(direct_scores))
    print(f"filter YUV420P8 {f_mean:.3f} dB vs model on RGB {d_mean:.3f} dB (delta {f_mean - d_mean:+.3f})")
    assert f_mean >= d_mean - 0.1
