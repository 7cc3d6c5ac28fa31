"""Colour conversion between VapourSynth plane layouts and normalised RGB, in pure torch.

Runs on whatever device the planes live on; no VapourSynth import.

* :func:`resolve_spec` turns a clip's format and frame props into a :class:`ColourSpec` (defaults and
  validation in one place).
* :func:`planes_to_rgb` turns per-plane tensors (native dtype) into float32 RGB ``[B,3,H,W]``, nominally 0..1
  and not clamped.
* :func:`rgb_to_planes` is the inverse: RGB back to planes in the native dtype, rounded and clamped to the
  codes the format can hold (integer formats; float formats are left unclamped).

Chroma resampling is separable and honours the chroma siting:

* upsampling uses the Spline36 kernel (6 taps at chroma rate), evaluated at the exact sub-sample phase of
  every
  output row/column;
* downsampling uses the *least-squares inverse* of that upsampler, ``D = (UᵀU)⁻¹Uᵀ``, computed once per
  (factor, siting) and truncated to a FIR kernel (83-88 taps for 2x; the dropped taps sum below 1e-7).
  So ``D∘U`` is the identity:
  YUV → RGB → YUV is lossless apart from float rounding, and for arbitrary RGB the result is the chroma
  whose Spline36 reconstruction is closest (L2) to the input, i.e. a sharp, projection-based anti-alias
  filter.

Edges use mirror extension chosen so that the extended full-resolution signal is exactly the upsample of the
extended chroma signal (possible for every siting with 2x subsampling), which keeps the round trip exact
up to the borders (4x subsampling, 4:1:x, is exact inside and approximate in the border columns/rows).
Resampling runs as ``F.conv2d`` with fixed kernels; on CUDA it runs in float64 so that
TF32 settings made for the model never reach it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .errors import VsrifeError

__all__ = [
    "MATRIX_COEFFS",
    "ColourSpec",
    "default_matrix",
    "planes_to_rgb",
    "resolve_spec",
    "rgb_to_planes",
    "spec_from_format",
]

#: (Kr, Kb) per ITU-T H.273 matrix code supported here.
MATRIX_COEFFS: dict[int, tuple[float, float]] = {
    1: (0.2126, 0.0722),  # BT.709
    4: (0.30, 0.11),  # FCC
    5: (0.299, 0.114),  # BT.470BG (= BT.601)
    6: (0.299, 0.114),  # SMPTE 170M (= BT.601)
    7: (0.212, 0.087),  # SMPTE 240M
    9: (0.2627, 0.0593),  # BT.2020 non-constant luminance
}
_MATRIX_HELP = "1 (BT.709), 4 (FCC), 5/6 (BT.601), 7 (SMPTE 240M), 9 (BT.2020 NCL) or 2 (unspecified)"
_FAMILIES = ("gray", "yuv", "rgb")
# _ChromaLocation code -> (horizontal, vertical) siting, and back.
_LOC_SITING = {
    0: ("left", "center"),
    1: ("center", "center"),
    2: ("left", "top"),
    3: ("center", "top"),
    4: ("left", "bottom"),
    5: ("center", "bottom"),
}
_SITING_LOC = {v: k for k, v in _LOC_SITING.items()}


@dataclass(frozen=True)
class ColourSpec:
    """Everything that changes the conversion (normalised, so equal specs convert identically)."""

    family: str  # "gray" | "yuv" | "rgb"
    bits: int  # 8..16 for integer, 16 or 32 for float
    is_float: bool
    ss_w: int  # log2 horizontal chroma subsampling (0 for rgb/gray)
    ss_h: int  # log2 vertical chroma subsampling
    matrix: int  # ITU-T H.273 matrix code used (0 for rgb)
    full_range: bool
    chroma_location: int  # 0 left, 1 center, 2 top-left, 3 top, 4 bottom-left, 5 bottom

    @property
    def num_planes(self) -> int:
        return 1 if self.family == "gray" else 3

    @property
    def dtype(self) -> torch.dtype:
        """Native torch dtype of the planes."""
        if self.is_float:
            return torch.float16 if self.bits == 16 else torch.float32
        return torch.uint8 if self.bits == 8 else torch.uint16

    def plane_shapes(self, width: int, height: int) -> list[tuple[int, int]]:
        """``(height, width)`` of each plane for a frame of the given size."""
        shapes = [(height, width)]
        if self.num_planes == 3:
            shapes += [(height >> self.ss_h, width >> self.ss_w)] * 2
        return shapes


def default_matrix(width: int, height: int) -> int:
    """The H.273 matrix of a YUV or GRAY frame without a usable ``_Matrix``: BT.709 (1) for HD, i.e. wider
    than 1024 or taller than 576, else BT.601 (6). The one rule: the filter and training both use it."""
    return 1 if (width > 1024 or height > 576) else 6


def resolve_spec(
    family: str,
    bits: int,
    is_float: bool,
    ss_w: int,
    ss_h: int,
    width: int,
    height: int,
    matrix: int | None = None,
    color_range: int | None = None,
    chroma_location: int | None = None,
) -> ColourSpec:
    """Build the :class:`ColourSpec` for a clip format plus its frame props (pure, no VapourSynth).

    ``matrix``, ``color_range``, ``chroma_location`` are the ``_Matrix``, ``_ColorRange`` and
    ``_ChromaLocation`` props (``None`` when absent). Defaults: matrix BT.709 for HD (width > 1024 or
    height > 576) else BT.601/170M when absent or 2 (unspecified); limited range for integer YUV/GRAY, full
    for RGB and float (``_ColorRange`` 0 = full, 1 = limited; float is always full); chroma location left.
    Values that do not matter for the format are normalised away (matrix 0 for RGB, location 0 without
    subsampling, the vertical half of the location for 4:2:2 ...). Raises ``VsrifeError`` (a ``ValueError``)
    for unsupported values.
    """
    family = family.lower()
    if family not in _FAMILIES:
        raise VsrifeError(f"colour family {family!r} is not supported; use one of {', '.join(_FAMILIES)}")
    if is_float and bits not in (16, 32):
        raise VsrifeError(f"float formats must have 16 or 32 bits, got {bits}")
    if not is_float and not 8 <= bits <= 16:
        raise VsrifeError(f"integer formats must have 8..16 bits, got {bits}")
    if family != "yuv" and (ss_w or ss_h):
        raise VsrifeError(f"{family} formats cannot be subsampled (ss_w={ss_w}, ss_h={ss_h})")
    if not (0 <= ss_w <= 2 and 0 <= ss_h <= 2):
        raise VsrifeError(f"chroma subsampling must be 0..2 (log2), got ss_w={ss_w}, ss_h={ss_h}")
    if width % (1 << ss_w) or height % (1 << ss_h):
        raise VsrifeError(
            f"{width}x{height} is not divisible by the chroma subsampling {1 << ss_w}x{1 << ss_h}"
        )

    if is_float:
        full = True
    elif color_range is None:
        full = family == "rgb"
    elif color_range in (0, 1):
        full = color_range == 0
    else:
        raise VsrifeError(f"_ColorRange={color_range} is not supported; use 0 (full) or 1 (limited)")

    if family == "rgb":
        mat = 0
    elif matrix is None or matrix == 2 or (family == "gray" and matrix == 0):
        mat = default_matrix(width, height)
    elif matrix in MATRIX_COEFFS:
        mat = int(matrix)
    else:
        raise VsrifeError(f"_Matrix={matrix} is not supported; use one of {_MATRIX_HELP}")

    if chroma_location is None:
        chroma_location = 0
    if chroma_location not in _LOC_SITING:
        raise VsrifeError(
            f"_ChromaLocation={chroma_location} is not supported; use 0 (left), 1 (center), 2 (top-left), "
            "3 (top), 4 (bottom-left) or 5 (bottom)"
        )
    h_site, v_site = _LOC_SITING[int(chroma_location)]
    loc = _SITING_LOC[(h_site if ss_w else "left", v_site if ss_h else "center")]
    return ColourSpec(family, int(bits), bool(is_float), int(ss_w), int(ss_h), mat, full, loc)


def spec_from_format(fmt: Any, width: int, height: int, props: Mapping[str, Any] | None = None) -> ColourSpec:
    """:func:`resolve_spec` from a ``vapoursynth.VideoFormat``-like object and a frame-props mapping.

    Duck-typed (reads ``color_family.name``, ``sample_type``, ``bits_per_sample``, ``subsampling_w/h``) so
    this module needs no VapourSynth import. Range: VapourSynth R81 stores ``_Range`` (1 = full, 0 = limited,
    the H.273 flag) and reads ``_ColorRange`` as an alias of it *without* translating back to the old
    0 = full / 1 = limited meaning, so ``_Range`` is preferred whenever present; ``_ColorRange`` (old
    meaning) is used only without it (VapourSynth before R81).
    """
    props = props or {}
    sample_type = getattr(fmt.sample_type, "name", fmt.sample_type)
    if (
        "_Range" in props
    ):  # VapourSynth R81+: H.273 full-range flag (1 = full); _ColorRange reads as its alias
        rng = int(props["_Range"])
        color_range: int | None = {0: 1, 1: 0}.get(rng, rng + 2)  # to the _ColorRange meaning; others invalid
    else:
        color_range = _opt_int(props.get("_ColorRange"))
    return resolve_spec(
        fmt.color_family.name.lower(),
        fmt.bits_per_sample,
        sample_type in ("FLOAT", 1),
        fmt.subsampling_w,
        fmt.subsampling_h,
        width,
        height,
        _opt_int(props.get("_Matrix")),
        color_range,
        _opt_int(props.get("_ChromaLocation")),
    )


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


# ----------------------------------------------------------------------------------------------------------
# Sample normalisation: value = (code - offset) / scale


def _scale_offset(spec: ColourSpec, chroma: bool) -> tuple[float, float]:
    if spec.is_float:
        return 1.0, 0.0
    shift = 1 << (spec.bits - 8)
    if not spec.full_range:
        return (224.0 * shift, 128.0 * shift) if chroma else (219.0 * shift, 16.0 * shift)
    top = float((1 << spec.bits) - 1)
    return (top, float(1 << (spec.bits - 1))) if chroma else (top, 0.0)


def _to_float(plane: torch.Tensor, spec: ColourSpec, chroma: bool) -> torch.Tensor:
    if plane.dtype == torch.int16:  # uint16 data handed over as int16 bits
        plane = plane.to(torch.int32) & 0xFFFF
    scale, offset = _scale_offset(spec, chroma)
    if scale == 1.0 and not offset:
        return plane.to(torch.float32)
    x = plane.to(torch.float32, copy=True)  # a tensor of its own (one conversion), normalised in place
    if offset:
        x.sub_(offset)
    return x if scale == 1.0 else x.mul_(1.0 / scale)


def _from_float(x: torch.Tensor, spec: ColourSpec, chroma: bool, own: bool = False) -> torch.Tensor:
    """Float samples -> contiguous planes in the native dtype; ``own``: ``x`` may be overwritten."""
    scale, offset = _scale_offset(spec, chroma)
    if spec.is_float:
        return x.to(spec.dtype, memory_format=torch.contiguous_format)
    x = x.mul_(scale) if own else x * scale
    x = x.add_(offset).round_().clamp_(0, (1 << spec.bits) - 1)
    return x.to(spec.dtype, memory_format=torch.contiguous_format)


# ----------------------------------------------------------------------------------------------------------
# Chroma resampling


def _spline36(x: np.ndarray) -> np.ndarray:
    """Spline36 interpolation kernel (support [-3, 3])."""
    x = np.abs(x)
    y = np.zeros_like(x)
    t = x
    m = t < 1
    y[m] = ((13 / 11 * t[m] - 453 / 209) * t[m] - 3 / 209) * t[m] + 1
    t = x - 1
    m = (x >= 1) & (x < 2)
    y[m] = ((-6 / 11 * t[m] + 270 / 209) * t[m] - 156 / 209) * t[m]
    t = x - 2
    m = (x >= 2) & (x < 3)
    y[m] = ((1 / 11 * t[m] - 45 / 209) * t[m] + 26 / 209) * t[m]
    return y


def _phase(siting: str, factor: int) -> float:
    """Full-resolution position of chroma sample 0 (left/top = 0, center = (f-1)/2, bottom = f-1)."""
    return {"left": 0.0, "top": 0.0, "center": (factor - 1) / 2, "bottom": float(factor - 1)}[siting]


@functools.cache
def _upsample_taps(factor: int, phase: float) -> tuple[np.ndarray, int]:
    """Per-output-phase Spline36 weights ``[factor, K]`` and the chroma offset ``jmin`` of tap 0.

    Output sample ``factor*n + q`` sits at chroma coordinate ``n + s_q`` with ``s_q = (q - phase)/factor``
    and is ``sum_k w[q, k] * c[n + jmin + k]``.
    """
    s = (np.arange(factor) - phase) / factor
    jmin = int(np.floor(s.min())) - 2
    jmax = int(np.floor(s.max())) + 3
    j = np.arange(jmin, jmax + 1)
    w = _spline36(s[:, None] - j[None, :])
    w /= w.sum(axis=1, keepdims=True)
    keep = np.nonzero(np.abs(w).max(axis=0) > 0)[0]
    return w[:, keep[0] : keep[-1] + 1], jmin + int(keep[0])


@functools.cache
def _downsample_taps(factor: int, phase: float, tol: float = 1e-7) -> tuple[np.ndarray, int]:
    """Least-squares inverse of the upsampler as a FIR kernel and the offset ``emin`` of tap 0.

    Chroma sample ``n`` is ``sum_k d[k] * x[factor*n + emin + k]``. Computed on a periodic signal (circulant
    U), so it is the exact shift-invariant left inverse, truncated where the dropped taps sum below ``tol``.
    """
    up, jmin = _upsample_taps(factor, phase)
    n_low = 256
    n_full = factor * n_low
    u = np.zeros((n_full, n_low))
    rows = factor * np.arange(n_low)[:, None] + np.arange(factor)[None, :]  # [n, q]
    for k in range(up.shape[1]):
        cols = (np.arange(n_low) + jmin + k) % n_low
        u[rows, cols[:, None]] += up[None, :, k]
    d = np.linalg.solve(u.T @ u, u.T)[n_low // 2]
    e = np.arange(n_full) - factor * (n_low // 2)  # full-res offset of each tap from factor*n
    dist = np.abs(e - phase)
    order = np.argsort(dist, kind="stable")
    tail = np.cumsum(np.abs(d[order])[::-1])[::-1]  # tail[i] = sum of |d| over order[i:]
    radius = dist[order][np.nonzero(tail < tol)[0][0]]
    keep = dist < radius
    taps, offs = d[keep], e[keep]
    taps = 0.5 * (taps + taps[::-1])  # exact symmetry about `phase`
    return taps / taps.sum(), int(offs[0])


def _edge_axes(factor: int, phase: float, n_low: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Doubled mirror axes ``(lo, hi)`` for the full-res and the chroma signal.

    Candidates are whole-sample (reflect) or half-sample (symmetric) mirrors at each edge; the full-res one is
    picked so that the chroma grid maps onto itself (then upsample(extend(c)) == extend(upsample(c))).
    """
    n_full = factor * n_low
    out = []
    for cands, lo_hi in (
        ((0, -1), (0, -1)),
        ((2 * n_full - 2, 2 * n_full - 1), (2 * n_low - 2, 2 * n_low - 1)),
    ):
        best = None
        for a2 in cands:
            alpha2 = (a2 - 2 * phase) / factor  # chroma-index axis, doubled
            err = abs(alpha2 - round(alpha2))
            if best is None or err < best[0] - 1e-9:
                best = (err, a2, min(max(round(alpha2), min(lo_hi)), max(lo_hi)))
        assert best is not None
        out.append(best[1:])
    (full_lo, low_lo), (full_hi, low_hi) = out
    return (full_lo, full_hi), (low_lo, low_hi)


@functools.lru_cache(maxsize=256)
def _mirror_index(n: int, pad_lo: int, pad_hi: int, axis2_lo: int, axis2_hi: int) -> np.ndarray:
    """Source indices for positions ``-pad_lo .. n+pad_hi-1`` under mirroring about the doubled axes."""
    idx = np.arange(-pad_lo, n + pad_hi)
    if axis2_hi - axis2_lo <= 0:  # single sample, whole-sample mirrors: constant
        return np.zeros_like(idx)
    while True:
        low, high = idx < 0, idx > n - 1
        if not (low.any() or high.any()):
            return idx
        idx = np.where(low, axis2_lo - idx, np.where(high, axis2_hi - idx, idx))


def _work_dtype(device: torch.device) -> torch.dtype:
    # float64 on CUDA: cuDNN would otherwise follow the process-wide TF32 switches (10-bit mantissa).
    return torch.float64 if device.type == "cuda" else torch.float32


@functools.lru_cache(maxsize=64)
def _index_tensor(
    n: int, pad_lo: int, pad_hi: int, a_lo: int, a_hi: int, device: torch.device
) -> torch.Tensor:
    return torch.from_numpy(_mirror_index(n, pad_lo, pad_hi, a_lo, a_hi)).to(device)


def _padded(
    x: torch.Tensor, dim: int, pad_lo: int, pad_hi: int, a_lo: int, a_hi: int, total: int
) -> torch.Tensor:
    """``x [N,h,w]`` extended along ``dim`` by mirroring about the doubled axes (see :func:`_mirror_index`),
    then zeros up to ``total`` samples, as a new contiguous ``[N, total, other]``: the extended axis comes
    second to last (``dim == -1`` is transposed on the way, in the same copy)."""
    rows = x if dim == -2 else x.transpose(-1, -2)
    n = rows.shape[-2]
    out = rows.new_empty(rows.shape[0], total, rows.shape[-1])
    idx = _mirror_index(n, pad_lo, pad_hi, a_lo, a_hi)
    lo, hi = idx[:pad_lo], idx[pad_lo + n :]
    # Usual case: each pad is one reversed run of samples, copied as a flipped slice; anything else (pads
    # longer than the plane) takes the general gather.
    if (pad_lo == 0 or np.array_equal(lo, np.arange(lo[0], lo[0] - pad_lo, -1))) and (
        pad_hi == 0 or np.array_equal(hi, np.arange(hi[0], hi[0] - pad_hi, -1))
    ):
        out[:, pad_lo : pad_lo + n].copy_(rows)
        if pad_lo:
            out[:, :pad_lo].copy_(rows.narrow(-2, int(lo[-1]), pad_lo).flip(-2))
        if pad_hi:
            out[:, pad_lo + n : pad_lo + n + pad_hi].copy_(rows.narrow(-2, int(hi[-1]), pad_hi).flip(-2))
    else:
        out[:, : pad_lo + n + pad_hi].copy_(
            rows.index_select(-2, _index_tensor(n, pad_lo, pad_hi, a_lo, a_hi, x.device))
        )
    out[:, pad_lo + n + pad_hi :].zero_()  # only reach outputs past the end, which are cut off
    return out


# Outputs per block of the resamplers' banded matrix products (see :func:`_band`).
_BLOCK = 32


@functools.lru_cache(maxsize=64)
def _band(
    kind: str, factor: int, phase: float, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, int]:
    """One block of a resampler as dense matrices ``[chunks, out, step]``, and the input ``step`` between
    blocks.

    Output block ``j`` (``out`` samples) is ``sum_c matrix[c] @ padded_input[(j+c)*step : (j+c+1)*step]``:
    a 1-D FIR with stride as a few small matrix products over consecutive, non-overlapping runs of the
    input, read in place. As a one-channel convolution it ran 5-10x slower (the inverse's 80-odd taps, 1
    channel in and out); as one product over overlapping windows, copying the windows cost more than the
    product.
    """
    if kind == "up":  # output factor*n + q = sum_k w[q, k] * x[n + k]
        w, _ = _upsample_taps(factor, phase)
        k = w.shape[1]
        step, out, span = _BLOCK, _BLOCK * factor, _BLOCK + k - 1
        chunks = -(-span // step)
        m = np.zeros((chunks * step, out))
        for n in range(_BLOCK):
            m[n : n + k, factor * n : factor * (n + 1)] = w.T
    else:  # output n = sum_k d[k] * x[factor*n + k]
        d, _ = _downsample_taps(factor, phase)
        k = len(d)
        step, out, span = factor * _BLOCK, _BLOCK, factor * (_BLOCK - 1) + k
        chunks = -(-span // step)
        m = np.zeros((chunks * step, out))
        for n in range(_BLOCK):
            m[factor * n : factor * n + k, n] = d
    per_chunk = m.reshape(chunks, step, out).transpose(0, 2, 1)  # [chunks, out, step]
    return torch.from_numpy(np.ascontiguousarray(per_chunk)).to(device=device, dtype=dtype), step


def _resample(
    x: torch.Tensor,
    dim: int,
    pads: tuple[int, int, int, int],
    n_out: int,
    kind: str,
    factor: int,
    phase: float,
) -> torch.Tensor:
    """Apply :func:`_band` along ``dim`` of ``x [N,h,w]``, mirror-extended by ``pads`` (samples before and
    after, doubled axes); ``n_out`` samples. The result may be a strided view."""
    m, step = _band(kind, factor, phase, x.device, x.dtype)
    chunks, out, _ = m.shape
    blocks = -(-n_out // out)
    extended = x.shape[dim] + pads[0] + pads[1]
    total = step * max(blocks + chunks - 1, -(-extended // step))
    xp = _padded(x, dim, *pads, total=total)
    runs = xp.view(xp.shape[0], total // step, step, xp.shape[-1])
    res = xp.new_empty(xp.shape[0], blocks, out, xp.shape[-1])
    for i in range(xp.shape[0]):  # per plane: each run of blocks is one contiguous [blocks, step, w]
        for c in range(chunks):
            mc = m[c].expand(blocks, out, step)
            if c == 0:
                torch.bmm(mc, runs[i, c : c + blocks], out=res[i])
            else:
                res[i].baddbmm_(mc, runs[i, c : c + blocks])
    flat = res.view(xp.shape[0], blocks * out, xp.shape[-1])[:, :n_out]
    return flat if dim == -2 else flat.transpose(-1, -2)


def _upsample(x: torch.Tensor, factor: int, phase: float, dim: int) -> torch.Tensor:
    """Upsample ``x [N,h,w]`` by ``factor`` along ``dim`` (-1 width, -2 height); may be a strided view."""
    n_low = x.shape[dim]
    taps, jmin = _upsample_taps(factor, phase)
    pad_lo, pad_hi = -jmin, jmin + taps.shape[1] - 1
    _, (a_lo, a_hi) = _edge_axes(factor, phase, n_low)
    return _resample(x, dim, (pad_lo, pad_hi, a_lo, a_hi), n_low * factor, "up", factor, phase)


def _downsample(x: torch.Tensor, factor: int, phase: float, dim: int) -> torch.Tensor:
    """Downsample ``x [N,H,W]`` by ``factor`` along ``dim`` with the inverse of :func:`_upsample`; may be a
    strided view."""
    n_full = x.shape[dim]
    n_low = n_full // factor
    taps, emin = _downsample_taps(factor, phase)
    pad_lo, pad_hi = -emin, max(0, emin + len(taps) - factor)
    (a_lo, a_hi), _ = _edge_axes(factor, phase, n_low)
    return _resample(x, dim, (pad_lo, pad_hi, a_lo, a_hi), n_low, "down", factor, phase)


def _chroma_up(c: torch.Tensor, spec: ColourSpec) -> torch.Tensor:
    """Chroma planes ``[N,h,w]`` -> full resolution, sited per ``spec``."""
    if not (spec.ss_w or spec.ss_h):
        return c
    h_site, v_site = _LOC_SITING[spec.chroma_location]
    dtype = c.dtype
    c = c.to(_work_dtype(c.device))
    # Horizontal pass first, on the low-resolution rows: it goes through a transpose, the vertical one reads
    # the planes in place (separable filters: either order is the same map)
    if spec.ss_w:
        c = _upsample(c, 1 << spec.ss_w, _phase(h_site, 1 << spec.ss_w), -1)
    if spec.ss_h:
        c = _upsample(c, 1 << spec.ss_h, _phase(v_site, 1 << spec.ss_h), -2)
    return c.to(dtype)


def _chroma_down(c: torch.Tensor, spec: ColourSpec) -> torch.Tensor:
    """Full-resolution chroma ``[N,H,W]`` -> subsampled planes, the exact inverse of :func:`_chroma_up`."""
    if not (spec.ss_w or spec.ss_h):
        return c
    h_site, v_site = _LOC_SITING[spec.chroma_location]
    dtype = c.dtype
    c = c.to(_work_dtype(c.device))
    # Vertical pass first, so the horizontal one (through a transpose) runs on the subsampled rows
    if spec.ss_h:
        c = _downsample(c, 1 << spec.ss_h, _phase(v_site, 1 << spec.ss_h), -2)
    if spec.ss_w:
        c = _downsample(c, 1 << spec.ss_w, _phase(h_site, 1 << spec.ss_w), -1)
    return c.to(dtype)


# ----------------------------------------------------------------------------------------------------------
# Public conversions


def _coeffs(matrix: int) -> tuple[float, float, float]:
    kr, kb = MATRIX_COEFFS[matrix]
    return kr, 1.0 - kr - kb, kb


def planes_to_rgb(planes: Sequence[torch.Tensor], spec: ColourSpec) -> torch.Tensor:
    """Planes (native dtype, ``[B,h,w]`` or ``[h,w]``) -> float32 RGB ``[B,3,H,W]``, 0..1 nominal, unclamped.

    GRAY is replicated into R, G and B; float YUV has Y in [0,1] and U/V in [-0.5,0.5].
    """
    if len(planes) != spec.num_planes:
        raise VsrifeError(f"{spec.family} needs {spec.num_planes} planes, got {len(planes)}")
    planes = [p if p.dim() == 3 else p.unsqueeze(0) for p in planes]
    b, height, width = planes[0].shape
    for p, (h, w) in zip(planes, spec.plane_shapes(width, height), strict=True):
        if tuple(p.shape) != (b, h, w):
            raise VsrifeError(f"plane shape {tuple(p.shape)} does not match {(b, h, w)} for {spec}")

    if spec.family == "gray":
        y = _to_float(planes[0], spec, False)
        return y.unsqueeze(1).expand(b, 3, height, width).contiguous()
    if spec.family == "rgb":
        return torch.stack([_to_float(p, spec, False) for p in planes], dim=1)

    y = _to_float(planes[0], spec, False)
    uv = torch.cat([_to_float(planes[1], spec, True), _to_float(planes[2], spec, True)])
    uv = _chroma_up(uv, spec)
    u, v = uv[:b], uv[b:]
    kr, kg, kb = _coeffs(spec.matrix)
    rgb = y.new_empty(b, 3, height, width)  # each channel written in place: no stacking copy
    r, g, bl = rgb.unbind(1)
    torch.add(y, v, alpha=2 - 2 * kr, out=r)
    torch.add(y, u, alpha=2 - 2 * kb, out=bl)
    torch.add(y, u, alpha=-(2 * kb * (1 - kb) / kg), out=g).add_(v, alpha=-(2 * kr * (1 - kr) / kg))
    return rgb


def rgb_to_planes(rgb: torch.Tensor, spec: ColourSpec) -> list[torch.Tensor]:
    """Float RGB ``[B,3,H,W]`` (or ``[3,H,W]``) -> planes ``[B,h,w]`` (``[h,w]``) in the native dtype.

    Integer formats are rounded and clamped to ``0 .. 2**bits-1``; float formats are not clamped.
    """
    squeeze = rgb.dim() == 3
    if squeeze:
        rgb = rgb.unsqueeze(0)
    if rgb.dim() != 4 or rgb.shape[1] != 3:
        raise VsrifeError(f"expected RGB of shape [B,3,H,W], got {tuple(rgb.shape)}")
    b, _, height, width = rgb.shape
    if width % (1 << spec.ss_w) or height % (1 << spec.ss_h):
        raise VsrifeError(f"{width}x{height} is not divisible by the chroma subsampling of {spec}")
    rgb = rgb.to(torch.float32)
    r, g, bl = rgb.unbind(1)

    if spec.family == "rgb":
        out = [_from_float(c, spec, False) for c in (r, g, bl)]
    else:
        kr, kg, kb = _coeffs(spec.matrix)
        y = torch.mul(r, kr).add_(g, alpha=kg).add_(bl, alpha=kb)
        uv = None
        if spec.family == "yuv":  # from y before y is converted in place
            uv = y.new_empty(2 * b, height, width)
            torch.sub(bl, y, out=uv[:b]).mul_(0.5 / (1 - kb))
            torch.sub(r, y, out=uv[b:]).mul_(0.5 / (1 - kr))
            uv = _chroma_down(uv, spec)  # a tensor of its own (or uv itself): converted in place
        out = [_from_float(y, spec, False, True)]
        if uv is not None:
            out += [_from_float(uv[:b], spec, True, True), _from_float(uv[b:], spec, True, True)]
    return [p[0] for p in out] if squeeze else out
