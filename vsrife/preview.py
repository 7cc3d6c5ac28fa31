"""`vsrife preview`: one picture to judge the interpolation at one point of a video, and a short looping clip.

The picture is a grid of equal panels under a header naming the file, the time, the model and the settings:

    row 0:  source frame n | interpolated t1 | ... | interpolated tk | source frame n+1
    row 1:  flow legend    | flow at t1      | ... | flow at tk      | (empty)
    row 2:  (empty)        | mask at t1      | ... | mask at tk      | (empty)

The flow panel shows the motion from frame n to frame n+1 that the network estimated for that output frame
(``F(t->1) - F(t->0)``, in source pixels) on the usual HSV wheel: hue is the direction, brightness the
length, scaled so the longest 1% of the vectors in the picture is full brightness. The mask panel is the
blend weight: white takes warped frame n, black warped frame n+1. :class:`Layout` gives every panel's box,
so tests and tools can find them.
"""

from __future__ import annotations

import math
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

# Panels narrower than this are enlarged by an integer factor (nearest neighbour) so detail stays visible.
MIN_PANEL_WIDTH = 320
# Panels wider than this are shrunk (area average) so the picture stays a reasonable size.
MAX_PANEL_WIDTH = 640
LABEL_HEIGHT = 22  # px of caption above every panel
HEADER_HEIGHT = 46  # px for the two header lines
GAP = 4  # px between panels
BACKGROUND = (24, 24, 24)
TEXT = (235, 235, 235)
# Flow brightness: this quantile of the vector lengths is drawn at full brightness (robust to outliers).
FLOW_SCALE_QUANTILE = 0.99
ROWS = 3


class PreviewError(ValueError):
    """Bad arguments or unusable input; the message is one line naming the argument."""


@dataclass(frozen=True)
class Layout:
    """Geometry of the preview picture: ``cols`` x ``ROWS`` panels of ``pw`` x ``ph`` pixels."""

    cols: int
    pw: int
    ph: int

    @property
    def width(self) -> int:
        return self.cols * self.pw + (self.cols + 1) * GAP

    @property
    def height(self) -> int:
        return HEADER_HEIGHT + ROWS * (LABEL_HEIGHT + self.ph + GAP)

    def box(self, row: int, col: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the picture area of panel (row, col), caption excluded."""
        if not (0 <= row < ROWS and 0 <= col < self.cols):
            raise IndexError(f"panel ({row}, {col}) is outside {ROWS} x {self.cols}")
        x0 = GAP + col * (self.pw + GAP)
        y0 = HEADER_HEIGHT + row * (LABEL_HEIGHT + self.ph + GAP) + LABEL_HEIGHT
        return x0, y0, x0 + self.pw, y0 + self.ph


def panel_size(width: int, height: int) -> tuple[int, int]:
    """Display size of a ``width`` x ``height`` frame in the preview."""
    if width < MIN_PANEL_WIDTH:
        z = math.ceil(MIN_PANEL_WIDTH / width)
        return width * z, height * z
    if width > MAX_PANEL_WIDTH:
        return MAX_PANEL_WIDTH, max(1, round(height * MAX_PANEL_WIDTH / width))
    return width, height


def parse_time(text: str) -> float:
    """``12``, ``12.5``, ``1:02.5``, ``00:00:12`` -> seconds."""
    m = re.fullmatch(r"\s*(?:(?:(\d+):)?(\d+):)?(\d+(?:\.\d*)?)\s*", text)
    if m is None:
        raise PreviewError(f"--at must be a time like 12, 12.5, 1:02.5 or 00:00:12; got {text!r}")
    h, mnt, s = m.groups()
    return int(h or 0) * 3600 + int(mnt or 0) * 60 + float(s)


def format_time(seconds: float) -> str:
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:06.3f}"


def hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Arrays of hue in [0, 1), saturation and value in [0, 1] -> RGB float [..., 3]."""
    i = np.floor(h * 6.0).astype(np.int64) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    r = np.choose(i, [v, q, p, p, t, v])
    g = np.choose(i, [t, v, v, q, p, p])
    b = np.choose(i, [p, p, t, v, v, q])
    return np.stack([r, g, b], axis=-1)


def flow_to_rgb(flow: np.ndarray, max_length: float | None = None) -> np.ndarray:
    """Flow ``[2, H, W]`` (x, y in pixels) -> uint8 RGB ``[H, W, 3]`` on the HSV wheel.

    Hue is the direction (0 = right, a third of the way round = down-left ...), brightness the length
    relative to ``max_length`` (default: the FLOW_SCALE_QUANTILE of the lengths); zero motion is black.
    """
    fx, fy = flow[0].astype(np.float64), flow[1].astype(np.float64)
    length = np.hypot(fx, fy)
    if max_length is None:
        max_length = float(np.quantile(length, FLOW_SCALE_QUANTILE)) if length.size else 0.0
    hue = (np.arctan2(fy, fx) / (2 * np.pi)) % 1.0
    value = np.clip(length / max(max_length, 1e-6), 0.0, 1.0)
    rgb = hsv_to_rgb(hue, np.ones_like(hue), value)
    return np.round(rgb * 255).astype(np.uint8)


def flow_legend(size: int) -> np.ndarray:
    """The colour wheel: the colour of a vector pointing from the centre to each pixel."""
    c = (size - 1) / 2
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) - c
    rgb = flow_to_rgb(np.stack([x, y]), max_length=c)
    rgb[np.hypot(x, y) > c] = BACKGROUND
    return rgb


def write_png(path: Path, rgb: np.ndarray) -> None:
    """A plain 8-bit RGB PNG (no dependency); written to a temporary name and renamed."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(png)
    tmp.replace(path)


def read_png(path: Path) -> np.ndarray:
    """Read back what :func:`write_png` writes (8-bit RGB, filter type 0 or any, for tests and tools)."""
    data = Path(path).read_bytes()
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            w, h = struct.unpack(">II", body[:8])
            if body[8:10] != b"\x08\x02":
                raise ValueError(f"{path}: only 8-bit RGB PNGs are read here")
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + 3 * w)
    if (rows[:, 0] != 0).any():
        raise ValueError(f"{path}: filtered PNG rows are not supported here")
    return rows[:, 1:].reshape(h, w, 3).copy()


def _resize(img: np.ndarray, pw: int, ph: int) -> np.ndarray:
    h, w = img.shape[:2]
    if (w, h) == (pw, ph):
        return img
    if pw % w == 0 and ph % h == 0:  # integer enlargement: nearest neighbour keeps the pixels honest
        return np.repeat(np.repeat(img, ph // h, axis=0), pw // w, axis=1)
    ys = np.minimum((np.arange(ph) + 0.5) * h / ph, h - 1).astype(np.int64)
    xs = np.minimum((np.arange(pw) + 0.5) * w / pw, w - 1).astype(np.int64)
    out: np.ndarray = img[ys][:, xs]
    return out


def _centred(img: np.ndarray, pw: int, ph: int) -> np.ndarray:
    """``img`` in the middle of a ``pw`` x ``ph`` background (so a square stays square)."""
    out = np.empty((ph, pw, 3), np.uint8)
    out[:] = BACKGROUND
    h, w = img.shape[:2]
    y, x = (ph - h) // 2, (pw - w) // 2
    out[y : y + h, x : x + w] = img
    return out


def _text(canvas: np.ndarray, text: str, x: int, y: int, scale: float = 0.42) -> None:
    """Draw ``text`` with its baseline at ``y`` (OpenCV when installed; otherwise the picture has no text)."""
    try:
        import cv2
    except ImportError:
        return
    cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT, 1, cv2.LINE_AA)


@dataclass(frozen=True)
class Panel:
    row: int
    col: int
    caption: str
    image: np.ndarray  # uint8 RGB [H, W, 3], any size: fitted to the panel


def compose(layout: Layout, panels: list[Panel], header: tuple[str, ...]) -> np.ndarray:
    canvas = np.empty((layout.height, layout.width, 3), np.uint8)
    canvas[:] = BACKGROUND
    for i, line in enumerate(header[:2]):
        _text(canvas, line, GAP + 2, 18 + 20 * i, 0.5)
    for p in panels:
        x0, y0, x1, y1 = layout.box(p.row, p.col)
        canvas[y0:y1, x0:x1] = _resize(p.image, x1 - x0, y1 - y0)
        _text(canvas, p.caption, x0 + 2, y0 - 6)
    return canvas


def _to_uint8(rgb: Any) -> np.ndarray:
    """torch [3, H, W] float in [0, 1] -> uint8 [H, W, 3]."""
    arr: np.ndarray = rgb.detach().float().clamp(0, 1).cpu().numpy()
    return np.round(arr.transpose(1, 2, 0) * 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------- the command


@dataclass(frozen=True)
class PreviewSettings:
    input: Path
    at: float
    output: Path
    clip: Path | None = None
    fps: str | None = None
    factor_num: int | None = None
    factor_den: int | None = None
    model: str | None = None
    scale: str = "1.0"
    ensemble: bool = False
    device: str | None = None
    precision: str | None = None
    seconds: float = 2.0


def settings_from_args(args: Any) -> PreviewSettings:
    if args.seconds <= 0:
        raise PreviewError(f"--seconds must be positive; got {args.seconds}")
    if Path(args.output).suffix.lower() != ".png":
        raise PreviewError(f"-o must name a .png file; got {args.output!r}")
    return PreviewSettings(
        input=Path(args.input),
        at=parse_time(args.at),
        output=Path(args.output),
        clip=Path(args.clip) if args.clip else None,
        fps=args.fps,
        factor_num=args.factor_num,
        factor_den=args.factor_den,
        model=args.model,
        scale=args.scale,
        ensemble=bool(args.ensemble),
        device=args.device,
        precision=args.precision,
        seconds=float(args.seconds),
    )


def run_preview(args: Any) -> Iterator[str]:
    """`vsrife preview`: yields the lines to show the user."""
    yield from make_preview(settings_from_args(args))


def _rgb(frame: Any, clip: Any) -> Any:
    import torch

    from .colour import planes_to_rgb, spec_from_format

    spec = spec_from_format(clip.format, clip.width, clip.height, dict(frame.props))
    planes = [torch.from_numpy(np.asarray(frame[p]).copy()) for p in range(clip.format.num_planes)]
    return planes_to_rgb(planes, spec).clamp(0.0, 1.0)  # [1, 3, H, W]


def make_preview(s: PreviewSettings) -> Iterator[str]:
    import torch
    import vapoursynth as vs

    from .backend import resolve_backend
    from .filter import RIFE, pick_scale
    from .loading import default_version, load_model
    from .registry import get_spec
    from .timing import CFRTimeline, target_rate

    core = vs.core
    try:
        src = core.bs.VideoSource(str(s.input))
    except (vs.Error, AttributeError) as e:
        raise PreviewError(f"cannot open {s.input}: {str(e).splitlines()[0]}") from None
    fps_in = Fraction(src.fps.numerator, src.fps.denominator)
    if fps_in <= 0:
        raise PreviewError(f"{s.input} has a variable frame rate; preview needs a constant one")
    last = (src.num_frames - 2) / fps_in
    n = math.floor(s.at * fps_in + Fraction(1, 1000))
    if src.num_frames < 2 or not 0 <= n <= src.num_frames - 2:
        raise PreviewError(f"--at must be between 0 and {format_time(float(last))} for {s.input}; got {s.at}")
    try:
        rate = target_rate(fps_in, s.fps, None, None, s.factor_num, s.factor_den)
        spec = get_spec(s.model or default_version())
        scale = pick_scale(s.scale, src.width, src.height)
    except (ValueError, vs.Error) as e:
        raise PreviewError(str(e)) from None
    timeline = CFRTimeline(src.num_frames, fps_in, rate)
    k = math.ceil(n * rate / fps_in)
    positions = []
    while k < timeline.length and (pos := timeline.locate(k)).index == n:
        if pos.t > 0:
            positions.append(pos)
        k += 1
    if not positions:
        raise PreviewError(f"no output frame at {rate} fps falls between source frames {n} and {n + 1}")

    try:
        # The filter's backend defaults, so the picture shows what `vsrife interpolate` would produce.
        model = load_model(spec.version, resolve_backend(s.device, s.precision, purpose="filter"))
    except (ValueError, RuntimeError) as e:  # a WeightsError (missing weights) is a ValueError
        raise PreviewError(str(e)) from None
    f0, f1 = src.get_frame(n), src.get_frame(n + 1)
    img0, img1 = _rgb(f0, src), _rgb(f1, src)
    pair = torch.cat([img0, img1], 1)
    results = [model.inference_with_aux(pair, float(p.t), scale, s.ensemble) for p in positions]
    motions = [(r.flow[0, 2:4] - r.flow[0, 0:2]).numpy() for r in results]
    lengths = np.concatenate([np.hypot(m[0], m[1]).ravel() for m in motions])
    max_len = float(np.quantile(lengths, FLOW_SCALE_QUANTILE))

    cols = len(results) + 2
    pw, ph = panel_size(src.width, src.height)
    layout = Layout(cols, pw, ph)
    t0 = n / fps_in
    panels = [
        Panel(0, 0, f"source {n}  {format_time(float(t0))}", _to_uint8(img0[0])),
        Panel(0, cols - 1, f"source {n + 1}  {format_time(float((n + 1) / fps_in))}", _to_uint8(img1[0])),
        Panel(1, 0, "flow colours (direction)", _centred(flow_legend(min(pw, ph)), pw, ph)),
    ]
    for i, (p, r, m) in enumerate(zip(positions, results, motions, strict=False), start=1):
        when = format_time(float((n + p.t) / fps_in))
        panels.append(Panel(0, i, f"RIFE t={float(p.t):.3f}  {when}", _to_uint8(r.frame[0])))
        panels.append(Panel(1, i, f"flow n->n+1 (full = {max_len:.1f} px)", flow_to_rgb(m, max_len)))
        mask = np.round(r.mask[0, 0].numpy() * 255).astype(np.uint8)
        panels.append(Panel(2, i, "mask (white = frame n)", np.repeat(mask[:, :, None], 3, axis=2)))
    header = (
        (
            f"{s.input.name}  at {format_time(float(t0))} (frames {n}-{n + 1})  {src.width}x{src.height}  "
            f"{float(fps_in):.3f} -> {float(rate):.3f} fps"
        ),
        (
            f"model RIFE {spec.version}  scale {scale:g}  ensemble {'on' if s.ensemble else 'off'}  "
            f"{model.device.type} {str(model.dtype).removeprefix('torch.')}"
        ),
    )
    write_png(s.output, compose(layout, panels, header))
    yield (
        f"wrote {s.output}: {layout.width}x{layout.height}, {len(results)} interpolated frame(s) at "
        + ", ".join(f"t={float(p.t):.3f}" for p in positions)
    )

    if s.clip is not None:
        from .encode import EncodeError, EncodeSettings, available_encoders, describe, render

        half = round(s.seconds * float(fps_in) / 2)
        a = max(0, n - half)
        b = min(src.num_frames, n + 2 + half)
        try:
            out = RIFE(
                src[a:b],
                model=spec.version,
                fps=rate,
                scale=s.scale,
                ensemble=s.ensemble,
                device=s.device,
                precision=s.precision,
            )
        except vs.Error as e:
            raise PreviewError(str(e)) from None
        # Forward then backward: the last frame leads straight back into the first, so it loops seamlessly.
        loop = out + out.std.Reverse()[1:-1] if out.num_frames > 2 else out
        encoder = "x264" if available_encoders().get("x264") else "x265"
        try:
            result = render(loop, s.clip, EncodeSettings(encoder, 18, "fast"))
        except EncodeError as e:
            raise PreviewError(str(e)) from None
        yield (
            describe(result, rate) + f" (source frames {a}-{b - 1}, forward then backward, loops seamlessly)"
        )
