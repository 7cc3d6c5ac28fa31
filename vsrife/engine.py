"""Per-frame work of the filter, free of VapourSynth: planes in, planes out.

Each source frame is moved to the device, converted to RGB, padded and encoded once; a bounded, locked cache
keeps those results for every output frame that needs them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from .colour import ColourSpec, planes_to_rgb, rgb_to_planes
from .evidence import PairEvidence, cut_by_evidence, small_frames
from .holds import MAX_SCAN, hold_thumbnail
from .memory import keep_freed_memory, request_release
from .model import RIFE_HDv3
from .scenecut import SceneCutDetector, thumbnail

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedCache[K: Hashable, V]:
    """Thread-safe LRU cache that computes each entry once: the first thread to ask computes it outside the
    lock (torch releases the GIL), and threads asking for it meanwhile wait for that result."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self._data: OrderedDict[K, Future[V]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: K, compute: Callable[[], V]) -> V:
        with self._lock:
            found = self._data.get(key)
            if found is not None:
                self._data.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
                slot: Future[V] = Future()
                self._data[key] = slot
                while len(self._data) > self.capacity:  # waiters keep their own reference to an evicted slot
                    self._data.popitem(last=False)
        if found is not None:
            return found.result()
        try:
            slot.set_result(compute())
        except BaseException as exc:
            with self._lock:
                if self._data.get(key) is slot:
                    del self._data[key]  # not cached: the next request tries again
            slot.set_exception(exc)
            raise
        return slot.result()

    def __len__(self) -> int:
        return len(self._data)


@dataclass(frozen=True)
class Prepared:
    """One source frame, ready for the model."""

    rgb: torch.Tensor  # [1, 3, Hp, Wp] padded, fp32
    features: torch.Tensor | None
    thumb: torch.Tensor | None  # the scene-cut detector's thumbnail (sc=True)
    small: torch.Tensor | None = None  # vsrife.evidence.small_frames, unpadded: the cut evidence (sc=True)


@dataclass(frozen=True)
class EngineSettings:
    scale: float
    ensemble: bool
    detector: SceneCutDetector | None
    cache_size: int = 16
    parallel: int = 1  # network calls at once (see network_layout)
    threads: int = 0  # torch threads of each call; 0: whatever torch gives a new thread


# Network calls between two requests to return the heap's free pages to the OS (vsrife.memory); 0: never.
RELEASE_EVERY = 32


def network_layout(device_type: str, torch_threads: int, vs_threads: int) -> tuple[int, int]:
    """How many network calls run at once, and the torch threads of each.

    On the CPU two calls run at once, each with all of torch's threads. On 2 cores at 720p (RIFE 4.0, bf16,
    `clip.frames()`), two calls render 2.36-2.39 interpolated frames/s against 2.01-2.11 for one: the
    filter's own per-frame work (colour, padding, VapourSynth) and the parts of a call that use one core
    well fill the other call's gaps. Half the threads per call renders as fast (2.30-2.42) but halves the
    speed of a consumer that asks for one frame at a time (a previewer: 1.24 against 1.98). The threads of
    a call never depend on VapourSynth's, so neither does the output (oneDNN's sums depend on the threads
    of a call). Two calls need two VapourSynth threads to hand them frames. A GPU runs one call at a time.
    """
    threads = max(1, torch_threads)
    parallel = 2 if device_type == "cpu" and threads >= 2 and vs_threads >= 2 else 1
    return parallel, threads


class Engine:
    def __init__(self, model: RIFE_HDv3, settings: EngineSettings) -> None:
        self.model = model
        self.settings = settings
        # keyed by everything the prepared frame depends on: the source frame and the colour spec it was
        # converted with (the model and the settings are fixed per engine)
        self.cache: BoundedCache[tuple[int, ColourSpec], Prepared] = BoundedCache(settings.cache_size)
        # Held-drawing thumbnails (a few KiB each) for the scans of dedup=True, keyed by the source frame and
        # how its planes are read (RGB or luma first, code value peak).
        self.holds: BoundedCache[tuple[int, bool, float], np.ndarray] = BoundedCache(
            4 * settings.cache_size + 4 * MAX_SCAN
        )
        # The cut evidence of source frame pairs (vsrife.evidence.disagreement), keyed by their numbers.
        self.pairs: BoundedCache[tuple[int, int], PairEvidence] = BoundedCache(4 * settings.cache_size)
        # Every tensor operation runs on these workers, settings.parallel at once, each with settings.threads
        # torch threads: the same thread count for every frame, whichever VapourSynth thread asked for it
        # (oneDNN's and MKL's sums depend on it).
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, settings.parallel),
            thread_name_prefix="vsrife",
            initializer=_set_threads,
            initargs=(settings.threads,),
        )
        self._calls = 0
        self._count_lock = threading.Lock()
        if model.device.type == "cpu":
            keep_freed_memory()  # freed tensors are reused, not faulted in again, frame after frame

    def _run(self, work: Callable[[], V]) -> V:
        return self._pool.submit(work).result()

    def _after_call(self) -> None:
        """Every RELEASE_EVERY network calls, ask the trimming thread to hand the heap's free pages back (see
        :mod:`vsrife.memory`); only an event is set here."""
        with self._count_lock:
            self._calls += 1
            due = bool(RELEASE_EVERY) and self._calls % RELEASE_EVERY == 0
        if due:
            request_release()

    def _upload(self, planes: Sequence[np.ndarray], spec: ColourSpec) -> torch.Tensor:
        dev = self.model.device
        tensors = [torch.from_numpy(np.array(p, copy=True)).to(dev, non_blocking=True) for p in planes]
        return planes_to_rgb(tensors, spec)

    def prepare(self, index: int, planes: Sequence[np.ndarray], spec: ColourSpec) -> Prepared:
        def compute() -> Prepared:
            with torch.inference_mode():
                rgb = self._upload(planes, spec)
                padded = self.model.pad(rgb.float(), self.settings.scale)
                feats = self.model.features(padded)
                sc = self.settings.detector is not None
                thumb = thumbnail(rgb) if sc else None
                small = small_frames(rgb) if sc else None
            return Prepared(padded, feats, thumb, small)

        return self.cache.get((index, spec), lambda: self._run(compute))

    def evidence(self, ia: int, ib: int, frame: Callable[[int], Prepared]) -> PairEvidence:
        """:func:`vsrife.evidence.disagreement` of source frames ``ia`` and ``ib`` on their small frames, once
        per pair; ``frame(k)`` prepares source frame k (with sc=True), only when the pair is not cached."""

        def compute() -> PairEvidence:
            small_a, small_b = frame(ia).small, frame(ib).small
            assert small_a is not None and small_b is not None

            def run() -> PairEvidence:
                with torch.inference_mode():
                    h, w = small_a.shape[-2:]
                    x0, x1 = self.model.pad(small_a, 1.0), self.model.pad(small_b, 1.0)
                    return self.model.pair_evidence(x0, x1, h, w).item()

            return self._run(run)

        return self.pairs.get((ia, ib), compute)

    def is_cut(self, frame: Callable[[int], Prepared], a: int, b: int, last: int) -> bool:
        """A cut between source frames ``a`` < ``b`` of a clip of frames 0 .. ``last``; ``frame(k)`` prepares
        source frame k (with sc=True). The thumbnail detector's verdict on frames a-1, a, b, b+1 (edges
        repeated), weighed with the model's evidence (:func:`vsrife.evidence.cut_by_evidence`)."""
        detector = self.settings.detector
        assert detector is not None
        window = [frame(min(max(k, 0), last)) for k in (a - 1, a, b, b + 1)]
        thumb_cut = self._run(lambda: detector.is_cut([p.thumb for p in window if p.thumb is not None]))
        return cut_by_evidence(thumb_cut, a, b, last, lambda i, j: self.evidence(i, j, frame))

    def interpolate(
        self, a: Prepared, b: Prepared, t: float, spec: ColourSpec, height: int, width: int
    ) -> list[np.ndarray]:
        def work() -> list[np.ndarray]:
            with torch.inference_mode():
                ts = torch.tensor([t], dtype=torch.float32)
                out = self.model.interpolate(
                    a.rgb, b.rgb, ts, a.features, b.features, self.settings.scale, self.settings.ensemble
                )
                planes = self._planes(out, spec, height, width)
            self._after_call()
            return planes

        return self._run(work)

    def interpolate_checked(
        self, a: Prepared, b: Prepared, t: float, spec: ColourSpec, height: int, width: int, floor: float
    ) -> tuple[list[np.ndarray] | None, float]:
        """:meth:`interpolate` (the same planes) and the frame's confidence
        (:func:`vsrife.evidence.confidence`); the planes are None when the confidence is below ``floor``."""

        def work() -> tuple[list[np.ndarray] | None, float]:
            with torch.inference_mode():
                ts = torch.tensor([t], dtype=torch.float32)
                out, conf = self.model.interpolate_with_confidence(
                    a.rgb,
                    b.rgb,
                    ts,
                    a.features,
                    b.features,
                    self.settings.scale,
                    self.settings.ensemble,
                    height,
                    width,
                )
                value = float(conf[0])
                planes = self._planes(out, spec, height, width) if value >= floor else None
            self._after_call()
            return planes, value

        return self._run(work)

    @staticmethod
    def _planes(out: torch.Tensor, spec: ColourSpec, height: int, width: int) -> list[np.ndarray]:
        planes = rgb_to_planes(out[:, :, :height, :width].float(), spec)
        return [p.reshape(p.shape[-2:]).cpu().numpy() for p in planes]

    def hold_thumbnail(self, index: int, planes: Sequence[np.ndarray], rgb: bool, peak: float) -> np.ndarray:
        """:func:`vsrife.holds.hold_thumbnail` of source frame ``index``, cached."""
        return self.holds.get((index, rgb, peak), lambda: hold_thumbnail(list(planes), rgb, peak))


def _set_threads(threads: int) -> None:
    if threads:
        torch.set_num_threads(threads)
