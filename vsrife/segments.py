"""Splitting an output timeline into segments: pure arithmetic, no VapourSynth, no Ray.

A segment is a half-open range ``[start, end)`` of output frames. Every worker builds the whole filter and
renders only its range, so boundaries can sit on any frame without changing a single pixel; they are put at
scene cuts where one is near (an encoder starts a new picture group there anyway, so a segment's forced
keyframe costs nothing) and at the target length otherwise.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

#: Default segment length (s of output). Long enough that starting a worker (about 10 s) is small against
#: rendering one segment, short enough that an interrupted job loses little and many workers stay busy.
DEFAULT_SEGMENT_SECONDS = 60.0
#: How far (as a share of the segment length) a boundary may move towards a scene cut.
CUT_SLACK = 0.25


@dataclass(frozen=True)
class Segment:
    index: int
    start: int  # first output frame
    end: int  # one past the last output frame

    @property
    def frames(self) -> int:
        return self.end - self.start


def segment_frames(seconds: float, fps_out: Fraction) -> int:
    """Target segment length in output frames (at least 1)."""
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"--segment-seconds must be a positive number; got {seconds!r}")
    return max(1, round(seconds * fps_out))


def nominal_boundaries(n_out: int, target: int) -> list[int]:
    """Boundaries every ``target`` frames; a last piece shorter than half a target joins the one before."""
    if n_out < 1 or target < 1:
        raise ValueError(f"need at least one frame and a positive target; got {n_out}, {target}")
    count = max(1, round(n_out / target))
    return [k * target for k in range(1, count) if k * target < n_out]


def cut_windows(n_out: int, target: int) -> list[tuple[int, int]]:
    """Ranges of output frames to search for scene cuts, one around each nominal boundary."""
    slack = int(target * CUT_SLACK)
    return [(max(1, b - slack), min(n_out - 1, b + slack)) for b in nominal_boundaries(n_out, target)]


def plan_segments(n_out: int, target: int, cuts: Sequence[int] = ()) -> list[Segment]:
    """Segments covering ``[0, n_out)``: each nominal boundary moves to the nearest cut (an output frame that
    starts a new shot) within ``CUT_SLACK`` of a segment length, if there is one. ``cuts`` must be sorted."""
    slack = int(target * CUT_SLACK)
    bounds = []
    for b in nominal_boundaries(n_out, target):
        lo, hi = bisect.bisect_left(cuts, b - slack), bisect.bisect_right(cuts, b + slack)
        near = [c for c in cuts[lo:hi] if 0 < c < n_out]
        bounds.append(min(near, key=lambda c: (abs(c - b), c)) if near else b)
    edges = sorted({0, *bounds, n_out})
    return [Segment(i, a, b) for i, (a, b) in enumerate(itertools.pairwise(edges))]


def first_frame_at(locate: Callable[[int], int], n_out: int, source_index: int) -> int:
    """The first output frame whose source position is ``source_index`` or later (``locate(n)`` gives the
    source frame of output frame n and never decreases)."""
    return bisect.bisect_left(range(n_out), source_index, key=locate)
