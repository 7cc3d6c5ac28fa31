"""The engine's per-frame cache holds everything a prepared frame depends on."""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from vsrife import RIFE_HDv3
from vsrife.colour import resolve_spec
from vsrife.engine import RELEASE_EVERY, BoundedCache, Engine, EngineSettings, network_layout
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


def test_cache_computes_each_entry_once_for_concurrent_requests():
    """Threads asking for an entry while it is being computed wait for that result; a failure is not kept."""
    cache: BoundedCache[int, object] = BoundedCache(4)
    calls = []
    started = threading.Event()

    def slow() -> object:
        calls.append(1)
        started.set()
        time.sleep(0.3)
        return object()

    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(cache.get, 1, slow)
        started.wait(5)
        others = [pool.submit(cache.get, 1, slow) for _ in range(2)]
        results = [first.result(), *(f.result() for f in others)]
    assert len(calls) == 1 and all(r is results[0] for r in results)

    def broken() -> object:
        raise RuntimeError("no frame")

    with pytest.raises(RuntimeError, match="no frame"):
        cache.get(2, broken)
    assert cache.get(2, object) is not None and cache.misses == 3


def test_network_layout():
    """Two calls at once on a multi-core CPU with VapourSynth threads to feed them; the threads of a call
    are torch's, whatever VapourSynth's are, so the output cannot depend on them."""
    assert network_layout("cpu", 2, 2) == (2, 2)
    assert network_layout("cpu", 16, 16) == (2, 16)
    assert network_layout("cpu", 2, 1) == (1, 2)
    assert network_layout("cpu", 1, 8) == (1, 1)
    assert network_layout("cuda", 8, 8) == (1, 8)
