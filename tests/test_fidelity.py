"""Our one parametrised IFNet against vs-rife 5.7.0's per-release reference files (the oracle), with
identical random weights in the official layout: max abs difference <= 1e-4 for every release, with the
model API's default precision on the CPU (fp32)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vsrife import RIFE_HDv3
from vsrife.registry import MODELS, VERSIONS

from .conftest import random_official_state

H, W = 100, 150  # not a multiple of anything: padding and crop are exercised


def reference_output(oracle_module, state, spec, pair, t, scale, ensemble):
    """What vs-rife computes: pad right/bottom, grid, per-frame encoder features, IFNet, crop."""
    ref = oracle_module.IFNet(scale, ensemble).eval()
    ref.load_state_dict(state, strict=True)
    mult = max(spec.modulo, int(spec.modulo / scale))
    ph, pw = math.ceil(H / mult) * mult, math.ceil(W / mult) * mult
    x = F.pad(pair, (0, pw - W, 0, ph - H))
    img0, img1 = x[:, :3], x[:, 3:]
    b = x.shape[0]
    timestep = torch.full((b, 1, ph, pw), t)
    div = torch.tensor([(pw - 1.0) / 2.0, (ph - 1.0) / 2.0])
    gh = torch.linspace(-1.0, 1.0, pw).view(1, 1, 1, pw).expand(-1, -1, ph, -1)
    gv = torch.linspace(-1.0, 1.0, ph).view(1, 1, ph, 1).expand(-1, -1, -1, pw)
    grid = torch.cat([gh, gv], 1)
    with torch.no_grad():
        if spec.has_encoder:
            out = ref(img0, img1, timestep, div, grid, ref.encode(img0), ref.encode(img1))
        else:
            out = ref(img0, img1, timestep, div, grid)
    return out[:, :, :H, :W]


@pytest.mark.parametrize("version", VERSIONS)
def test_matches_reference(version, oracle):
    """The model API with its default precision (fp32 on the CPU, as the reference) matches the reference."""
    spec = MODELS[version]
    model = RIFE_HDv3(version, device="cpu")
    assert model.dtype == torch.float32
    state = random_official_state(model.flownet, seed=len(version))
    model.flownet.load_state_dict(state, strict=True)
    g = torch.Generator().manual_seed(7)
    pair = torch.rand(2, 6, H, W, generator=g)
    module = oracle(version)
    cases = 0
    for scale in (1.0, 0.5):
        for ensemble in (False, True) if spec.supports_ensemble else (False,):
            for t in (0.3, 0.5):
                ours = model.inference(pair, timestep=t, scale=scale, ensemble=ensemble)
                ref = reference_output(module, state, spec, pair, t, scale, ensemble)
                assert ours.shape == (2, 3, H, W)
                diff = (ours - ref).abs().max().item()
                assert diff <= 1e-4, f"{version} scale={scale} ensemble={ensemble} t={t}: max diff {diff}"
                cases += 1
    assert cases == (8 if spec.supports_ensemble else 4)


def test_v40_large_motion_rescale_matches_reference(oracle):
    """4.0/4.1 double their pyramid when block1 sees flows over 32 px: force that path and compare."""
    spec = MODELS["4.0"]
    model = RIFE_HDv3("4.0", device="cpu", precision="fp32")
    state = random_official_state(model.flownet, seed=3)
    state["block1.lastconv.bias"] = torch.tensor([6.0, 6.0, 6.0, 6.0, 0.0])  # x (scale*2=8) -> 48 px
    model.flownet.load_state_dict(state, strict=True)
    pair = torch.rand(2, 6, H, W, generator=torch.Generator().manual_seed(1))
    ours = model.inference(pair, timestep=0.5, scale=1.0)
    ref = reference_output(oracle("4.0"), state, spec, pair, 0.5, 1.0, False)
    assert (ours - ref).abs().max().item() <= 1e-4


def test_timestep_tensor_per_batch_item():
    model = RIFE_HDv3("4.6", device="cpu", precision="fp32")
    model.flownet.load_state_dict(random_official_state(model.flownet), strict=True)
    pair = torch.rand(2, 6, 64, 64, generator=torch.Generator().manual_seed(2))
    both = model.inference(pair, timestep=torch.tensor([0.3, 0.5]))
    assert torch.allclose(both[:1], model.inference(pair[:1], 0.3), atol=1e-4)
    assert torch.allclose(both[1:], model.inference(pair[1:], 0.5), atol=1e-4)


def test_v40_large_motion_at_sizes_the_reference_cannot_take(oracle):
    """At 96x160 (a multiple of 32, not 64) the reference 4.0 fails once its pyramid doubles; ours pads
    4.0/4.1
    to 64 and works."""
    model = RIFE_HDv3("4.0", device="cpu", precision="fp32")
    state = random_official_state(model.flownet, seed=3)
    state["block1.lastconv.bias"] = torch.tensor([6.0, 6.0, 6.0, 6.0, 0.0])
    model.flownet.load_state_dict(state, strict=True)
    h, w = 96, 160
    pair = torch.rand(1, 6, h, w, generator=torch.Generator().manual_seed(5))
    out = model.inference(pair, 0.5)
    assert out.shape == (1, 3, h, w) and torch.isfinite(out).all()
    ref = oracle("4.0").IFNet(1.0, False).eval()
    ref.load_state_dict(state)
    div = torch.tensor([(w - 1.0) / 2.0, (h - 1.0) / 2.0])
    grid = torch.cat(
        [
            torch.linspace(-1, 1, w).view(1, 1, 1, w).expand(-1, -1, h, -1),
            torch.linspace(-1, 1, h).view(1, 1, h, 1).expand(-1, -1, -1, w),
        ],
        1,
    )
    with pytest.raises(RuntimeError, match="must match the size"):
        ref(pair[:, :3], pair[:, 3:], torch.full((1, 1, h, w), 0.5), div, grid)
