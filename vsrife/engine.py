"""Per-frame work of the filter, free of VapourSynth: planes in, planes out.

Each source frame is moved to the device, converted to RGB, padded and encoded once; a bounded, locked cache
keeps those results for every output frame that needs them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from .colour import ColourSpec, planes_to_rgb, rgb_to_planes
from .holds import MAX_SCAN, hold_thumbnail
from .memory import request_release
from .model import RIFE_HDv3
from .scenecut import SceneCutDetector, thumbnail

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedCache[K: Hashable, V]:
    """Thread-safe LRU cache. The value is computed outside the lock (torch releases the GIL), so two threads
    may compute the same entry at once; both get equal results and one is kept."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: K, compute: Callable[[], V]) -> V:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
            self.misses += 1
        value = compute()
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._data)


@dataclass(frozen=True)
class Prepared:
    """One source frame, ready for the model."""

    rgb: torch.Tensor  # [1, 3, Hp, Wp] padded, fp32
    features: torch.Tensor | None
    thumb: torch.Tensor | None


@dataclass(frozen=True)
class EngineSettings:
    scale: float
    ensemble: bool
    detector: SceneCutDetector | None
    cache_size: int = 16


# Network calls between two requests to return the heap's free pages to the OS (vsrife.memory); 0: never.
RELEASE_EVERY = 32


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
        # One network call at a time: torch already spreads each call over every core (or the whole GPU);
        # concurrent calls from VapourSynth's threads would only oversubscribe the cores.
        self._net_lock = threading.Lock()
        self._calls = 0

    def _upload(self, planes: Sequence[np.ndarray], spec: ColourSpec) -> torch.Tensor:
        dev = self.model.device
        tensors = [torch.from_numpy(np.array(p, copy=True)).to(dev, non_blocking=True) for p in planes]
        return planes_to_rgb(tensors, spec)

    def prepare(self, index: int, planes: Sequence[np.ndarray], spec: ColourSpec) -> Prepared:
        def compute() -> Prepared:
            with torch.inference_mode():
                rgb = self._upload(planes, spec)
                padded = self.model.pad(rgb.float(), self.settings.scale)
                with self._net_lock:
                    feats = self.model.features(padded)
                thumb = thumbnail(rgb) if self.settings.detector is not None else None
            return Prepared(padded, feats, thumb)

        return self.cache.get((index, spec), compute)

    def is_cut(self, window: Sequence[Prepared]) -> bool:
        detector = self.settings.detector
        assert detector is not None
        return detector.is_cut([p.thumb for p in window if p.thumb is not None])

    def interpolate(
        self, a: Prepared, b: Prepared, t: float, spec: ColourSpec, height: int, width: int
    ) -> list[np.ndarray]:
        with torch.inference_mode():
            ts = torch.tensor([t], dtype=torch.float32)
            with self._net_lock:
                out = self.model.interpolate(
                    a.rgb, b.rgb, ts, a.features, b.features, self.settings.scale, self.settings.ensemble
                )
                self._counted()
            return self._planes(out, spec, height, width)

    def interpolate_checked(
        self, a: Prepared, b: Prepared, t: float, spec: ColourSpec, height: int, width: int, floor: float
    ) -> tuple[list[np.ndarray] | None, float]:
        """:meth:`interpolate` (the same planes) and the frame's confidence
        (:func:`vsrife.evidence.confidence`); the planes are None when the confidence is below ``floor``."""
        with torch.inference_mode():
            ts = torch.tensor([t], dtype=torch.float32)
            with self._net_lock:
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
                self._counted()
            value = float(conf[0])
            if value < floor:
                return None, value
            return self._planes(out, spec, height, width), value

    def _counted(self) -> None:
        """Called under the network lock: every RELEASE_EVERY calls, ask the trimming thread to hand the
        heap's free pages back to the OS (glibc keeps them; see :mod:`vsrife.memory`). Only an event is set
        here, on VapourSynth's thread; the trim itself runs on the trimming thread."""
        self._calls += 1
        if RELEASE_EVERY and self._calls % RELEASE_EVERY == 0:
            request_release()

    @staticmethod
    def _planes(out: torch.Tensor, spec: ColourSpec, height: int, width: int) -> list[np.ndarray]:
        planes = rgb_to_planes(out[:, :, :height, :width].float(), spec)
        return [p.reshape(p.shape[-2:]).cpu().numpy() for p in planes]

    def hold_thumbnail(self, index: int, planes: Sequence[np.ndarray], rgb: bool, peak: float) -> np.ndarray:
        """:func:`vsrife.holds.hold_thumbnail` of source frame ``index``, cached."""
        return self.holds.get((index, rgb, peak), lambda: hold_thumbnail(list(planes), rgb, peak))
