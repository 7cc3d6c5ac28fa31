"""The engine's per-frame cache holds everything a prepared frame depends on."""

from __future__ import annotations

import numpy as np
import torch

from vsrife import RIFE_HDv3
from vsrife.colour import resolve_spec
from vsrife.engine import Engine, EngineSettings

from .conftest import random_official_state


def test_cache_key_holds_the_colour_spec():
    """The same source frame prepared with two matrices gives two entries, each converted with its own."""
    model = RIFE_HDv3("4.0", device="cpu", precision="fp32")
    model.flownet.load_state_dict(random_official_state(model.flownet))
    engine = Engine(model, EngineSettings(1.0, False, None))
    rng = np.random.default_rng(0)
    planes = [rng.integers(16, 236, (32, 48), dtype=np.uint8)] + [
        rng.integers(16, 241, (16, 24), dtype=np.uint8) for _ in range(2)
    ]
    bt709 = resolve_spec("yuv", 8, False, 1, 1, 48, 32, matrix=1)
    bt601 = resolve_spec("yuv", 8, False, 1, 1, 48, 32, matrix=6)
    a = engine.prepare(7, planes, bt709)
    b = engine.prepare(7, planes, bt601)
    assert len(engine.cache) == 2 and not torch.equal(a.rgb, b.rgb)
    assert engine.prepare(7, planes, bt709) is a and engine.cache.hits == 1
