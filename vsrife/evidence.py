"""The model's own evidence: how much an interpolated frame can be trusted.

IFNet makes the frame at time t by warping both source frames towards t and blending them with a mask:
``out = m * warp(img0, F_t0) + (1 - m) * warp(img1, F_t1)``. When the two frames show the same picture in
motion, the two warped frames agree wherever the mask really blends them (``m`` away from 0 and 1), and the
two flows describe one motion: ``F_t0 / t ~ -F_t1 / (1 - t)``. Across a jump cut, or any pair the network
cannot match, the flows find no consistent correspondence and the blend mixes two different pictures.

Metric (:func:`confidence`)
---------------------------
On luma pooled to cells of ``_CELL`` pixels (compression noise and sub-pixel misalignment average out):

1. ``blend = 2 * min(m, 1 - m)``: 1 where both frames contribute equally, 0 where one frame is used alone
   (occlusions are handled that way and disagree legitimately).
2. Only cells that *changed* between the two source frames (luma differs by more than ``_DISAGREE``) carry
   evidence: an unchanged background agrees whatever happens elsewhere, and would dilute a jump cut whose
   camera did not move.
3. A cell is *bad* when its two warped lumas differ by more than ``_DISAGREE``, when the two flows, brought
   to the same time span, differ by more than ``_INCONSISTENT`` of the picture width, or when either flow is
   longer than ``_HUGE`` of the width.
4. ``confidence = 1 - sum(blend * changed * bad) / max(sum(changed), _MIN_CHANGED * cells)``: one minus the
   share of the changed picture that the output *blends from two pictures that disagree* (a ghost). Where the
   mask picks one frame (an object crossing close to the camera uncovers background: occlusion) the output
   shows one picture, not a ghost, however much the frames differ there; the floor keeps a few changed cells
   (noise, a small object) from deciding alone.

On real footage (``scripts/bench_jumpcuts.py``, the ``dev`` set the constants were chosen on: Big Buck Bunny
and carphone) plain shots, motion, pans, zooms and motion blur score 0.91 to 1, objects crossing close to the
camera 0.82 to 0.96, jump cuts (the same scene a few seconds later) 0.81 to 0.95 and other takes 0.79 to 0.86.
On the held-out set (bikes: riders, crowds, spokes) plain shots go down to 0.75 and zooms to 0.79 while jump
cuts score 0.54 to 0.84: the ranges overlap, so the filter does not act on the confidence by default.

Cuts (:func:`cut_by_evidence`, what ``sc=True`` decides)
-------------------------------------------------------
A jump cut (the same scene a few seconds later) looks like motion to the thumbnail detector of
:mod:`vsrife.scenecut`, and in absolute terms like hard motion to the model. What gives it away is time: the
model matches the pair much worse than the pairs just before and after it, while hard motion (spokes,
crowds, zooms, fast pans, blur, objects crossing close to the camera) is as hard in the neighbouring pairs.

1. Every source frame is resized to :data:`JUMP_WIDTH` px wide (:func:`small_frames`) and the model warps
   each consecutive pair to t = 0.5 once (the filter caches it per pair: about one small call per source
   frame).
2. :func:`disagreement`: the mean absolute difference of the two warped lumas over cells of 8 px, after
   each is normalised to its own mean and spread (a fade or a change of exposure is no evidence), leaving
   out cells blown out to white in either (a flash), fading out when less than half the picture is left or
   either frame is nearly flat (a dip to black); and the plain difference beside it.
3. :func:`jump_ratio`: the pair's disagreement over the larger of its two neighbours' (plus 0.01 on both
   sides, so a still's noise and small motion are no evidence). A cut is an isolated peak.
4. A pair above :data:`JUMP_CUT_RATIO` that changed by :data:`MIN_JUMP` at least is a cut, unless it changed
   mostly in tone (:data:`TONE_RATIO`) or the picture returns within two frames on either side (a flash of
   one or two frames: the frames around it match each other again). A cut of the thumbnail detector stands
   when the ratio is above :data:`CONFIRM_RATIO`: a pair the model matches no worse than its neighbours is
   motion the thumbnails mistook for a cut (a fast pan or a crossing next to a real cut).

On ``scripts/bench_jumpcuts.py`` (RIFE 4.0 bf16 on the CPU) cuts of every kind score 1.63 to 12.9 and every
hard negative 1.14 or less; the filter's rule reaches precision and recall 1.000 on both of its sets, on the
fades, cross-fades and flashes of ``scripts/bench_scenecut.py`` and on its random edits of seeds 14-20
(17,020 pairs, 266 cuts). The constants were chosen on the jump-cut sets, the spliced material and random
edits 11-13; the closest call left is a small head movement in carphone (frames 39-40, 1.46). See the
README, Measured.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

__all__ = [
    "CONFIRM_RATIO",
    "DEFAULT_SC_CONFIDENCE",
    "JUMP_CUT_CONFIDENCE",
    "JUMP_CUT_RATIO",
    "JUMP_WIDTH",
    "MIN_JUMP",
    "TONE_RATIO",
    "PairEvidence",
    "confidence",
    "cut_by_evidence",
    "disagreement",
    "jump_ratio",
    "neighbour_ratio",
    "small_frames",
]

#: Default ``sc_confidence`` of the filter: off. The confidence alone flags fast complex motion (bikes) too;
#: jump cuts are found by :func:`cut_by_evidence` under ``sc=True`` instead.
DEFAULT_SC_CONFIDENCE = 0.0
#: The threshold chosen on the ``dev`` set (best F1 there): catches most jump cuts, with false cuts in
#: complex motion and occlusion (see the README's figures).
JUMP_CUT_CONFIDENCE = 0.88
#: Cell size (px) of the pooled luma planes: large enough to average out noise and sub-pixel misalignment.
_CELL = 8
#: Luma difference (0..1) of the two warped frames above which a blended cell disagrees.
_DISAGREE = 0.06
#: Share of the cells that must have changed before the changed cells alone decide.
_MIN_CHANGED = 0.1
#: Difference of the two flows (same time span, share of the picture width) above which a cell is implausible.
_INCONSISTENT = 0.05
#: Floor of t (1 - t) when the flow residual is scaled to the whole span (t = 0.1 or 0.9).
_MIN_SPAN = 0.09
#: Flow length (share of the picture width) beyond which motion is implausible.
_HUGE = 0.5
_LUMA = (0.2126, 0.7152, 0.0722)

#: Width (px) of the frames the cut evidence compares (:func:`small_frames`; the height keeps the aspect).
JUMP_WIDTH = 256
#: A pair whose :func:`disagreement` is this many times its neighbours' (:func:`jump_ratio`) is a cut.
JUMP_CUT_RATIO = 1.5
#: ... and it must change at least this much (0..1 luma, after alignment): a small sudden move in a still
#: shot (a head turning) stands out from its neighbours too.
MIN_JUMP = 0.012
#: A cut found by the thumbnail detector stands only when its :func:`jump_ratio` is above this: the model
#: then finds the pair harder to match than its neighbours too.
CONFIRM_RATIO = 1.2
#: A candidate whose plain difference is this many times its tone-normalised one changed mostly in tone (a
#: flash, a fade, an exposure change), not in content: not a cut. Cuts and jump cuts stay under 2.2.
TONE_RATIO = 3.0
#: Added to both sides of :func:`jump_ratio` (0..1 luma): the noise and small motion of a still shot are no
#: evidence.
_RATIO_FLOOR = 0.01
#: Added to the spread of the lumas before they are normalised: a flat frame (black) is not amplified.
_FLAT = 0.01
#: Spread (0..1 luma) below which a frame counts as (partly) flat: the evidence fades out (a dip to black).
_FLAT_SPREAD = 0.02
#: Luma (0..1) from which a cell counts as blown out (a flash): it carries no evidence.
_WHITE = 0.95
#: Below this share of cells that are not blown out, the evidence fades towards 0 (as in vsrife.scenecut).
_MIN_UNCLIPPED = 0.5


def _luma(rgb: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(_LUMA, dtype=torch.float32, device=rgb.device).view(1, 3, 1, 1)
    return (rgb.float() * w).sum(1, keepdim=True)


def _pool(x: torch.Tensor, cell: int, height: int, width: int) -> torch.Tensor:
    """``x[..., :height, :width]`` averaged over cells of ``cell`` pixels (a remainder is left out). Pooled
    whole, then cropped to the cells inside the picture: the same cells, without the copy that pooling a
    cropped view makes first."""
    return F.avg_pool2d(x.float(), cell)[..., : height // cell, : width // cell]


def _pooled_luma(rgb: torch.Tensor, cell: int, height: int, width: int) -> torch.Tensor:
    """Luma averaged over cells: pooled first, then weighted (both are linear), so the weighting runs on
    cells, not pixels."""
    return _luma(_pool(rgb, cell, height, width))


def _length(xy: torch.Tensor) -> torch.Tensor:
    """Length of the vectors in the two channels of ``xy`` ``[B, 2, h, w]`` -> ``[B, 1, h, w]`` (torch's
    vector norm over a channel slice takes a slow general path: 1.2 ms for 90x160 cells)."""
    return torch.hypot(xy[:, 0:1], xy[:, 1:2])


def confidence(
    img0: torch.Tensor,
    img1: torch.Tensor,
    warped0: torch.Tensor,
    warped1: torch.Tensor,
    mask: torch.Tensor,
    flow: torch.Tensor,
    t: torch.Tensor | float,
    height: int | None = None,
    width: int | None = None,
) -> torch.Tensor:
    """Per-frame confidence in 0..1 (``[B]`` float32) of IFNet's output.

    Args:
        img0, img1: ``[B, 3, H, W]`` the source frames.
        warped0, warped1: ``[B, 3, H, W]`` both source frames warped to time t.
        mask: ``[B, 1, H, W]`` blend mask *logits* (weight of ``warped0`` after a sigmoid).
        flow: ``[B, 4, H, W]`` flows t->0 (channels 0, 1) and t->1 (2, 3) in pixels.
        t: the timestep, a float or ``[B]``.
        height, width: the picture inside the padded tensors (default: all of it).
    """
    h = warped0.shape[-2] if height is None else height
    w = warped0.shape[-1] if width is None else width
    b = warped0.shape[0]
    cell = max(1, min(_CELL, h, w))
    ts = torch.as_tensor(t, dtype=torch.float32, device=warped0.device).flatten()
    ts = ts.expand(b) if ts.numel() == 1 else ts
    ts = ts.view(b, 1, 1, 1)
    y0 = _pooled_luma(warped0, cell, h, w)
    y1 = _pooled_luma(warped1, cell, h, w)
    m = torch.sigmoid(_pool(mask, cell, h, w))
    fl = _pool(flow, cell, h, w)
    blend = 2 * torch.minimum(m, 1 - m)
    changed = (_pooled_luma(img0, cell, h, w) - _pooled_luma(img1, cell, h, w)).abs() > _DISAGREE
    weight = blend * changed.float()
    disagree = (y0 - y1).abs() > _DISAGREE
    # One motion v over the span 0 -> 1 gives F_t0 = -t v and F_t1 = (1 - t) v, so (1 - t) F_t0 + t F_t1 = 0;
    # divided by t (1 - t) the residual is the difference of the two motions (floored near the ends).
    residual = fl[:, 0:2] * (1 - ts) + fl[:, 2:4] * ts
    span = (ts * (1 - ts)).clamp_min(_MIN_SPAN)
    inconsistent = _length(residual) / span > _INCONSISTENT * w
    huge = torch.maximum(_length(fl[:, 0:2]), _length(fl[:, 2:4])) > _HUGE * w
    bad = (disagree | inconsistent | huge).float()
    floor = _MIN_CHANGED * weight[0].numel()
    share = (weight * bad).sum((1, 2, 3)) / changed.float().sum((1, 2, 3)).clamp_min(floor)
    result: torch.Tensor = 1 - share
    return result


# ----------------------------------------------------------------------------------------------------------
# Cuts from the model's evidence: a pair that the model matches much worse than both of its neighbours


def small_frames(rgb: torch.Tensor) -> torch.Tensor:
    """``[B, 3, H, W]`` RGB in 0..1 -> ``[B, 3, h, w]`` fp32, resized (bilinear, antialiased) to
    :data:`JUMP_WIDTH` px wide (narrower frames keep their size), the height keeping the aspect ratio,
    rounded to even: the frames :func:`disagreement` is measured on, whatever the clip's size."""
    _, _, h, w = rgb.shape
    tw = min(w, JUMP_WIDTH)
    th = max(2, 2 * round(h * tw / w / 2))
    out = rgb.float()
    if (th, tw) != (h, w):
        out = F.interpolate(out, size=(th, tw), mode="bilinear", antialias=True, align_corners=False)
    return out.clamp(0.0, 1.0)


class PairEvidence(NamedTuple):
    """How well the model matches two frames warped to the same time (0..1 luma, :func:`disagreement`)."""

    residual: Any  # what no tone change explains: the evidence of a cut (float, or [B] tensor)
    raw: Any  # the plain difference, tone changes included

    def item(self, i: int = 0) -> PairEvidence:
        """Pair ``i`` of a batch, as floats."""
        return PairEvidence(float(self.residual[i]), float(self.raw[i]))


def disagreement(warped0: torch.Tensor, warped1: torch.Tensor, height: int, width: int) -> PairEvidence:
    """How far apart two source frames still are once the model has warped both to the same time, over the
    ``height`` x ``width`` picture, as ``[B]`` tensors: the mean absolute difference of their lumas over
    cells of ``_CELL`` px, ``raw``; and ``residual``, the same after each luma is normalised to its own mean
    and spread (so a fade or a change of exposure is no evidence), leaving out cells blown out to white in
    either (a flash), fading out when less than half the picture is left or either frame is nearly flat (a
    dip to black). Near 0 for motion the model follows, large across a cut."""
    cell = max(1, min(_CELL, height, width))
    y0 = _pooled_luma(warped0, cell, height, width)
    y1 = _pooled_luma(warped1, cell, height, width)
    dims = (1, 2, 3)
    valid = ((y0 < _WHITE) & (y1 < _WHITE)).float()
    count = valid.sum(dims, keepdim=True).clamp_min(1.0)
    share = count / valid[0].numel()

    def normalised(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = (y * valid).sum(dims, keepdim=True) / count
        spread = (((y - mean) ** 2 * valid).sum(dims, keepdim=True) / count).sqrt()
        return (y - mean) / (spread + _FLAT), spread

    z0, s0 = normalised(y0)
    z1, s1 = normalised(y1)
    residual = ((z0 - z1).abs() * valid).sum(dims, keepdim=True) / count * (s0 + s1) / 2
    fade = (share / _MIN_UNCLIPPED).clamp_max(1.0) * (torch.minimum(s0, s1) / _FLAT_SPREAD).clamp_max(1.0)
    return PairEvidence((residual * fade).flatten(), (y0 - y1).abs().mean(dims))


def jump_ratio(prev: float | None, mid: float, nxt: float | None) -> float | None:
    """The pair's :func:`disagreement` ``mid`` against the larger of its neighbours' (the pairs before and
    after it; None where the clip has none): a cut is an isolated peak. Motion the model cannot follow
    (spokes, crowds, a zoom, a fast pan) is as hard in the neighbouring pairs, and a flash raises both pairs
    around the flash frame, so neither stands out. None when there is no neighbour to compare with."""
    around = [v for v in (prev, nxt) if v is not None]
    if not around:
        return None
    return (mid + _RATIO_FLOOR) / (max(around) + _RATIO_FLOOR)


def neighbour_ratio(evidence: Callable[[int, int], PairEvidence], a: int, b: int, last: int) -> float | None:
    """:func:`jump_ratio` of source frames ``a`` < ``b`` (of frames 0 .. ``last``) against the pairs
    (a-1, a) and (b, b+1), where the clip has them; ``evidence(i, j)`` as in :func:`cut_by_evidence`."""
    before = evidence(a - 1, a).residual if a > 0 else None
    after = evidence(b, b + 1).residual if b < last else None
    return jump_ratio(before, evidence(a, b).residual, after)


def cut_by_evidence(
    thumbnail_cut: bool, a: int, b: int, last: int, evidence: Callable[[int, int], PairEvidence]
) -> bool:
    """The filter's cut decision for source frames ``a`` < ``b`` (of frames 0 .. ``last``).

    ``evidence(i, j)`` is :func:`disagreement` of source frames i and j as floats (computed on demand: most
    pairs need three, a candidate cut a few more). A cut is

    * a thumbnail cut (``thumbnail_cut``, :class:`vsrife.scenecut.SceneCutDetector`) that the model's
      evidence confirms: the pair stands out from its neighbours by :data:`CONFIRM_RATIO`
      (:func:`jump_ratio`; without neighbours the thumbnail detector decides alone), or
    * a pair that stands out by :data:`JUMP_CUT_RATIO` and changes by :data:`MIN_JUMP` at least (a jump cut,
      or any cut the thumbnails miss), unless it changed mostly in tone (:data:`TONE_RATIO`) or the picture
      returns: a frame within two of the pair on one side matches a frame on the other side much better
      than the pair does (less than the pair's evidence / :data:`JUMP_CUT_RATIO`). Those are flashes, which
      the model cannot match either, not cuts.
    """
    ratio = neighbour_ratio(evidence, a, b, last)
    if thumbnail_cut:
        return ratio is None or ratio > CONFIRM_RATIO
    pair = evidence(a, b)
    mid = pair.residual
    if ratio is None or ratio <= JUMP_CUT_RATIO or mid < MIN_JUMP or pair.raw > TONE_RATIO * mid:
        return False
    around = [(a, b + 1), (a, b + 2), (a - 1, b), (a - 2, b)]
    return all(evidence(i, j).residual * JUMP_CUT_RATIO >= mid for i, j in around if i >= 0 and j <= last)
