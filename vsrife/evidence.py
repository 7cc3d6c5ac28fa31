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
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["DEFAULT_SC_CONFIDENCE", "JUMP_CUT_CONFIDENCE", "confidence"]

#: Default ``sc_confidence`` of the filter: off. The confidence does not yet measure well enough to act on by
#: default: on the held-out set of ``scripts/bench_jumpcuts.py`` it flags fast complex motion (bikes) too.
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
