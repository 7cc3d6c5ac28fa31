"""Held drawings ("on twos"): which source frames repeat the previous drawing, and where a drawing starts.

Animation and much web video show each drawing for 2 or 3 frames. After compression the repeats are not
bit-identical, so they are recognised on small luma thumbnails: frame k *holds* frame k-1 when no cell of
their thumbnails differs by more than :data:`HOLD_THRESHOLD`.

Metric (:func:`hold_difference`)
--------------------------------
Each frame is reduced to a luma thumbnail of cells of about 1/:data:`HOLD_CELLS` of the width (box averages:
the noise of a good encode averages out). The difference of two frames is the *largest* absolute difference
of their cells, on 0..1 luma. The maximum (not a mean) keeps a small moving object from being averaged away:
a frame only holds the previous one when nothing in it moved. On real encodes (``scripts/bench_holds.py``)
x264 crf 18 repeats of one frame differ by at most about 0.01, while consecutive frames of live action and of
animation that moves differ by 0.03 or more wherever anything moves.

A drawing is a run of frames each holding the one before. :func:`drawing_span` finds the run around a frame
by scanning at most :data:`MAX_SCAN` frames each way; longer runs are a still picture, where interpolation has
nothing to do, and are left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import numpy as np

__all__ = ["HOLD_CELLS", "HOLD_THRESHOLD", "MAX_SCAN", "drawing_span", "hold_difference", "hold_thumbnail"]

#: Thumbnail width in cells: 1280 px wide frames are averaged over 20x20 px cells.
HOLD_CELLS = 64
#: Largest cell difference (0..1 luma) between a frame and the previous one for it to be a hold.
HOLD_THRESHOLD = 0.02
#: The longest hold recognised: a drawing shown for up to MAX_SCAN frames (on sixes); longer ones are stills.
#: Bounds the frames scanned each way, hence the frames the filter requests per output frame.
MAX_SCAN = 6

_LUMA = (0.2126, 0.7152, 0.0722)


def hold_thumbnail(planes: list[np.ndarray], rgb: bool, peak: float) -> np.ndarray:
    """Cell-averaged luma (0..1, float32) of one frame's planes.

    Args:
        planes: the frame's planes; the first is luma for GRAY and YUV.
        rgb: the planes are R, G, B (luma is computed from them).
        peak: the largest code value (255 for 8 bit; 1.0 for float formats).
    """
    if rgb:
        y = sum(w * p.astype(np.float32) for w, p in zip(_LUMA, planes, strict=False))
    else:
        y = planes[0].astype(np.float32)
    y = np.asarray(y, dtype=np.float32) / np.float32(peak)
    h, w = y.shape
    cell = max(1, w // HOLD_CELLS)
    hc, wc = max(1, h // cell), max(1, w // cell)
    y = y[: hc * cell, : wc * cell]
    return y.reshape(hc, cell, wc, cell).mean(axis=(1, 3), dtype=np.float32)


def hold_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Largest cell difference of two :func:`hold_thumbnail` results (0 for repeats of one frame)."""
    return float(np.abs(a - b).max())


def drawing_span(
    index: int, last: int, holds: Callable[[int], bool], scan: int = MAX_SCAN
) -> tuple[int, int | None] | None:
    """The drawing around source frame ``index``: ``(start, next_start)``.

    ``start`` is the first frame of the drawing that frame ``index`` shows, ``next_start`` the first frame of
    the next drawing (None when the drawing lasts to the end of the clip, frame ``last``). ``holds(k)`` tells
    whether frame k (1 <= k <= last) repeats frame k-1. None when the drawing is shown for more than ``scan``
    frames (a still: left alone), which every frame of it finds alike, with ``holds`` called for frames
    ``index - scan + 1`` to ``index + scan`` at most.
    """
    start = index
    while start > 0 and holds(start):
        start -= 1
        if index - start >= scan:
            return None
    nxt = index + 1
    while nxt <= last and holds(nxt):
        nxt += 1
        if nxt - start > scan:
            return None
    if nxt - start > scan:
        return None
    return start, (nxt if nxt <= last else None)


def retime(index: int, t: Fraction, start: int, next_start: int) -> Fraction:
    """Timestep between drawings ``start`` and ``next_start`` of source time ``index + t``."""
    return (index + t - start) / (next_start - start)
