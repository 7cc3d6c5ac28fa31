"""The engine's per-frame cache holds everything a prepared frame depends on."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest
import torch

from vsrife import RIFE_HDv3
from vsrife.colour import resolve_spec
from vsrife.engine import RELEASE_EVERY, Engine, EngineSettings
from vsrife.memory import releases_done

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


def test_every_32_network_calls_ask_the_trimming_thread_to_release_memory():
    """The engine only sets the trimming thread's event (vsrife.memory); the release is counted there."""
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc's malloc_trim")
    model = RIFE_HDv3("4.0", device="cpu", precision="fp32")
    model.flownet.load_state_dict(random_official_state(model.flownet))
    engine = Engine(model, EngineSettings(1.0, False, None))
    rng = np.random.default_rng(1)
    spec = resolve_spec("yuv", 8, False, 1, 1, 48, 32, matrix=1)
    frames = [
        engine.prepare(
            i,
            [rng.integers(16, 236, (32, 48), dtype=np.uint8)]
            + [rng.integers(16, 241, (16, 24), dtype=np.uint8) for _ in range(2)],
            spec,
        )
        for i in range(2)
    ]
    time.sleep(0.5)  # a release asked for by an earlier test has finished by now
    done = releases_done()
    for _ in range(RELEASE_EVERY - 1):
        engine.interpolate(frames[0], frames[1], 0.5, spec, 32, 48)
    time.sleep(0.5)
    assert releases_done() == done  # not yet
    engine.interpolate(frames[0], frames[1], 0.5, spec, 32, 48)
    deadline = time.monotonic() + 10
    while releases_done() == done and time.monotonic() < deadline:
        time.sleep(0.01)
    assert releases_done() == done + 1
