"""The VapourSynth filter: ``core.rife.RIFE(clip, fps=60)`` (also ``vsrife.RIFE``).

Everything is validated before the device is touched. Output frame n shows source time n / fps (exact
rationals); frames that fall on a source time are the source frames, bit for bit; interpolated frames are
converted to RGB on the compute device, run through IFNet and converted back to the clip's own format.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import torch
import vapoursynth as vs

from .backend import resolve_backend
from .colour import ColourSpec, spec_from_format
from .engine import Engine, EngineSettings, Prepared, network_layout
from .errors import VsrifeError
from .evidence import DEFAULT_SC_CONFIDENCE
from .holds import HOLD_THRESHOLD, MAX_SCAN, drawing_span, hold_difference, retime
from .loading import default_version, load_model
from .model import check_ensemble
from .registry import SCALES, get_spec
from .scenecut import SceneCutDetector
from .timecodes import read_timecodes
from .timing import CFRTimeline, Position, Timeline, VFRTimeline, checked, make_timeline, target_rate

NAME = "RIFE"
log = logging.getLogger("vsrife")


def _err(msg: str) -> VsrifeError:
    """A validation error of the filter; :func:`RIFE` adds the ``RIFE:`` prefix once, at the boundary."""
    return VsrifeError(msg)


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    raise _err(f"{name} must be True or False; got {value!r}")


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def pick_scale(scale: Any, width: int, height: int) -> float:
    """``"auto"``: 1.0 up to 1440p, 0.5 up to 4K (2160p), 0.25 above; else one of SCALES."""
    scale = _text(scale)
    if isinstance(scale, str) and scale.strip().lower() == "auto":
        pixels = width * height
        return 1.0 if pixels <= 2560 * 1440 else 0.5 if pixels <= 4096 * 2160 else 0.25
    if isinstance(scale, str):
        with contextlib.suppress(ValueError):
            scale = float(scale)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or float(scale) not in SCALES:
        raise _err(f"scale must be one of {', '.join(map(str, SCALES))} or 'auto'; got {scale!r}")
    return float(scale)


def _check_clip(clip: Any) -> vs.VideoNode:
    if not isinstance(clip, vs.VideoNode):
        raise _err(f"clip must be a video clip (vs.VideoNode); got {type(clip).__name__}")
    fmt = clip.format
    if fmt is None or fmt.id == vs.NONE or clip.width == 0 or clip.height == 0:
        raise _err("clip must have a constant format and size (variable format or size is not supported)")
    if fmt.color_family not in (vs.GRAY, vs.YUV, vs.RGB):
        raise _err(f"clip format {fmt.name} is not supported; use GRAY, YUV or RGB")
    if fmt.sample_type == vs.INTEGER and not 8 <= fmt.bits_per_sample <= 16:
        raise _err(f"clip format {fmt.name} is not supported; integer formats must have 8 to 16 bits")
    if clip.num_frames < 2:
        raise _err(f"clip must have at least 2 frames; got {clip.num_frames}")
    return clip


def _durations(clip: vs.VideoNode) -> list[Fraction]:
    """Per-frame durations of a variable-rate clip (reads every frame's props once)."""
    log.warning(
        "variable frame rate: reading %d frame durations (decodes the whole clip once; pass timecodes= with "
        "the source's timecode file to skip this, e.g. bs.VideoSource(..., timecodes='tc.txt'))",
        clip.num_frames,
    )
    out = []
    for n, frame in enumerate(clip.frames(close=True)):
        num, den = frame.props.get("_DurationNum"), frame.props.get("_DurationDen")
        if not num or not den:
            raise _err(f"clip has a variable frame rate but frame {n} has no _DurationNum/_DurationDen")
        out.append(Fraction(int(num), int(den)))
    return out


def _timeline(clip: vs.VideoNode, fps_in: Fraction | None, fps_out: Fraction, timecodes: Any) -> Timeline:
    """The output timeline. CFR: constant-size arithmetic. VFR: the timestamps from ``timecodes`` (no frame
    is read), else from every frame's _DurationNum/_DurationDen."""
    if timecodes is not None:
        stamps = read_timecodes(_text(timecodes), clip.num_frames)
        return checked(VFRTimeline.from_starts(stamps.starts, stamps.end, fps_out))
    if fps_in is not None:
        return checked(CFRTimeline(clip.num_frames, fps_in, fps_out))
    return make_timeline(clip.num_frames, None, fps_out, _durations(clip))


def _shifted(clip: vs.VideoNode, offset: int) -> vs.VideoNode:
    """Frame k of the result is source frame clamp(k + offset); same length as the source."""
    last = clip.num_frames - 1
    if offset == 0:
        return clip
    if abs(offset) > last:  # further than the clip is long: every frame clamps to the same end
        return clip[last if offset > 0 else 0] * clip.num_frames
    if offset > 0:
        return clip[offset:] + clip[last] * offset
    return clip[0] * (-offset) + clip[: last + 1 + offset]


def RIFE(
    clip: vs.VideoNode,
    model: str | None = None,
    fps: Any = None,
    fps_num: int | None = None,
    fps_den: int | None = None,
    factor_num: int | None = None,
    factor_den: int | None = None,
    scale: float | str = 1.0,
    ensemble: bool = False,
    sc: bool = True,
    sc_threshold: float | None = None,
    sc_confidence: float | None = None,
    dedup: bool = False,
    device: str | None = None,
    precision: str | None = None,
    weights: str | None = None,
    auto_download: bool = False,
    timecodes: str | None = None,
) -> vs.VideoNode:
    """Interpolate ``clip`` to a higher frame rate with RIFE.

    :param clip: GRAY, YUV (any subsampling) or RGB; 8-16 bit integer or 16/32 bit float; constant format.
    :param model: RIFE release, "4.0" ... "4.26.heavy" (see ``vsrife list``). Default: 4.25 when its weights
        are installed, else the newest release whose weights are (named on stderr).
    :param fps: output rate: int, float (59.94 and 23.976 snap to the NTSC rationals), Fraction or
        "60000/1001".
    :param fps_num, fps_den: output rate as a fraction (alternative to fps).
    :param factor_num, factor_den: output rate as a multiple of the input rate (default 2/1).
    :param scale: flow resolution: 0.25, 0.5, 1, 2, 4 or "auto" (0.5 for 4K).
    :param ensemble: average forward and backward estimates (releases before 4.21).
    :param sc: never interpolate across scene cuts, jump cuts included: built-in detection on thumbnails
        (vsrife.scenecut), weighed with the model's evidence on small frames (a pair the model matches much
        worse than its neighbours; vsrife.evidence.cut_by_evidence). _SceneChangeNext/Prev props win.
    :param sc_threshold: threshold in (0, 1] of the thumbnail detector; default of vsrife.scenecut.
    :param sc_confidence: in [0, 1]: an interpolated frame whose confidence (the share of what changed that
        the model explains without blending two disagreeing pictures, see vsrife.evidence) is lower shows the
        nearest source frame instead, as at a cut (an absolute floor; it also flags complex motion, so
        0.88, vsrife.evidence.JUMP_CUT_CONFIDENCE, is only a starting point). Default 0: off. Every
        interpolated frame carries its confidence as the frame property _RIFEConfidence.
    :param dedup: treat runs of near-identical source frames (held drawings, "on twos") as one drawing shown
        at the time of its first frame and interpolate between consecutive drawings at their true times
        (see vsrife.holds). The output rate may then equal the input rate. Cuts win over holds.
    :param device: "cpu", "cuda", "cuda:N"; default CUDA when available.
    :param precision: "fp32", "fp16", "bf16"; default fp16 on CUDA; on the CPU bf16 where it has native bf16,
        else fp32 (the model API's CPU default is fp32; see vsrife.backend).
    :param weights: path of a weights file (default: looked up in the model directories).
    :param auto_download: fetch missing weights into the user model directory (verified by their exact tensor
        layout; no checksums are recorded).
    :param timecodes: Matroska timecode file (v1 or v2) with the source's timestamps, e.g. written by
        ``bs.VideoSource(..., timecodes=...)``, mkvextract or ffmpeg's mkvtimestamp_v2 muxer. The clip is then
        resampled by these times without reading any frame (needed for variable-rate sources, else every
        frame's duration is read once before the filter returns).
    """
    try:
        return _rife(
            clip,
            model,
            fps,
            fps_num,
            fps_den,
            factor_num,
            factor_den,
            scale,
            ensemble,
            sc,
            sc_threshold,
            sc_confidence,
            dedup,
            device,
            precision,
            weights,
            auto_download,
            timecodes,
        )
    except VsrifeError as e:
        raise vs.Error(f"{NAME}: {e}") from None


def _rife(
    clip: Any,
    model: Any,
    fps: Any,
    fps_num: Any,
    fps_den: Any,
    factor_num: Any,
    factor_den: Any,
    scale: Any,
    ensemble: Any,
    sc: Any,
    sc_threshold: Any,
    sc_confidence: Any,
    dedup: Any,
    device: Any,
    precision: Any,
    weights: Any,
    auto_download: Any,
    timecodes: Any,
) -> vs.VideoNode:
    """Validate everything (raising VsrifeError), load the model, then build the graph."""
    clip = _check_clip(clip)
    spec = get_spec(default_version() if model is None else _text(model))
    use_ensemble = check_ensemble(spec, _flag(ensemble, "ensemble"))
    use_sc = _flag(sc, "sc")
    use_dedup = _flag(dedup, "dedup")
    floor = _confidence_floor(sc_confidence)
    scale_f = pick_scale(scale, clip.width, clip.height)
    vfr = clip.fps_num == 0 or clip.fps_den == 0
    fps_in = None if vfr else Fraction(clip.fps_num, clip.fps_den)
    fps_out = target_rate(fps_in, _text(fps), fps_num, fps_den, factor_num, factor_den, allow_equal=use_dedup)
    detector = SceneCutDetector(sc_threshold) if sc_threshold is not None else SceneCutDetector()
    spec_from_format(clip.format, clip.width, clip.height, {})
    timeline = _timeline(clip, fps_in, fps_out, timecodes)
    backend = resolve_backend(_text(device), _text(precision), purpose="filter")
    net = load_model(
        spec.version,
        backend,
        weights=_text(weights),
        auto_download=_flag(auto_download, "auto_download"),
    )
    parallel, threads = network_layout(net.device.type, torch.get_num_threads(), vs.core.num_threads)
    engine = Engine(
        net,
        EngineSettings(
            scale_f,
            use_ensemble,
            detector if use_sc else None,
            cache_size=16 + 2 * vs.core.num_threads,
            parallel=parallel,
            threads=threads,
        ),
    )
    return _build(clip, timeline, engine, Selection(use_sc, floor, use_dedup))


def _confidence_floor(value: Any) -> float:
    if value is None:
        return DEFAULT_SC_CONFIDENCE
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise VsrifeError(f"sc_confidence must be a number in [0, 1] (0 turns it off); got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Selection:
    """What the renderer may show instead of interpolating."""

    sc: bool  # detect scene cuts (and honour _SceneChangeNext/Prev)
    floor: float  # sc_confidence: below it, the nearest source frame
    dedup: bool  # interpolate between held drawings

    @property
    def offsets(self) -> tuple[int, ...]:
        """Source frames (relative to an output frame's own) the renderer sees: with sc the cut window
        n-2 .. n+3 (the thumbnails' n-1 .. n+2, and two frames on either side for the flash check of
        :func:`vsrife.evidence.cut_by_evidence`), and with dedup the scans of
        :func:`vsrife.holds.drawing_span` plus as much on either side."""
        if self.dedup:
            return tuple(range(-MAX_SCAN - 2, MAX_SCAN + 4))
        return (-2, -1, 0, 1, 2, 3) if self.sc else (0, 1)


# Rate ratios whose pattern repeats within this many output frames are selected by VapourSynth itself
# (SelectEvery over one cycle: 23.976 -> 59.94 repeats every 5, 25 -> 59.94 every 2,400). Longer cycles,
# and variable-rate sources, pick their source frames per output frame when it is requested.
CYCLE_LIMIT = 10_000

# VapourSynth keeps every frame a filter makes until core.max_cache_size (by default half the RAM), so a long
# render would grow by about one output frame per frame. The filter's own nodes keep a fixed window instead:
# enough for scripts that read neighbouring frames (temporal filters, previews), flat over a film.
CACHE_FRAMES = 32


def _bounded(node: vs.VideoNode) -> vs.VideoNode:
    node.std.SetVideoCache(mode=1, fixedsize=1, maxsize=CACHE_FRAMES)  # sets the node's cache in place
    return node


def _build(clip: vs.VideoNode, timeline: Timeline, engine: Engine, sel: Selection) -> vs.VideoNode:
    """The output clip. Building costs the same for any length: nothing is listed per output frame."""
    fps_out = timeline.fps_out
    n_out = timeline.length
    offsets = sel.offsets
    cur = offsets.index(0)
    src = _bounded(clip.std.SetFrameProps(_DurationNum=fps_out.denominator, _DurationDen=fps_out.numerator))
    shifted = [_shifted(src, off) for off in offsets]
    base = vs.core.std.BlankClip(
        clip, length=n_out, fpsnum=fps_out.numerator, fpsden=fps_out.denominator, keep=True
    )
    render = _renderer(clip, timeline, engine, sel)
    if isinstance(timeline, CFRTimeline) and timeline.cycle[1] <= CYCLE_LIMIT:
        p, _ = timeline.cycle
        repeats = 2 if p == 1 else 1  # SelectEvery needs a cycle of 2 or more source frames
        cycle = timeline.cycle_offsets(repeats)
        clips = [s.std.SelectEvery(cycle=p * repeats, offsets=cycle, modify_duration=False) for s in shifted]
        return _lanes(lambda: _bounded(base.std.ModifyFrame(clips=clips, selector=render)), engine, n_out)

    def select(n: int) -> vs.VideoNode:
        # A clip whose frame n is the window around output frame n's source frame (a few cheap nodes).
        index = timeline.locate(n).index
        clips = [s[index].std.Loop(n + 1) for s in shifted]
        return clips[cur].std.ModifyFrame(clips=clips, selector=render)

    return _lanes(lambda: _bounded(base.std.FrameEval(select)), engine, n_out)


def _lanes(make: Callable[[], vs.VideoNode], engine: Engine, n_out: int) -> vs.VideoNode:
    """The output node, as ``2 * parallel - 1`` copies that take turns frame by frame when the engine runs
    network calls in parallel. VapourSynth runs a filter's frame function for one frame at a time, so one
    copy would never hand the engine two frames at once; an odd count also spreads x2's interpolated (odd)
    frames over every copy."""
    count = min(2 * engine.settings.parallel - 1, n_out)
    if count <= 1:
        return make()
    lanes = [make().std.SelectEvery(cycle=count, offsets=k, modify_duration=False) for k in range(count)]
    # (Each lane is bounded; SelectEvery, Interleave and Trim keep no frames. A cache set on this Trim made
    # daemon threads that build filters at interpreter exit abort: tests/test_shim.py.)
    return vs.core.std.Interleave(lanes, extend=True, modify_duration=False)[:n_out]


def _renderer(
    clip: vs.VideoNode, timeline: Timeline, engine: Engine, sel: Selection
) -> Callable[[int, list[vs.VideoFrame] | vs.VideoFrame], vs.VideoFrame]:
    """``render(n, frames)``: output frame n from the source frames at ``sel.offsets`` around its position."""
    offsets = sel.offsets
    cur = offsets.index(0)
    height, width = clip.height, clip.width
    last = clip.num_frames - 1
    fmt = clip.format
    assert fmt is not None
    is_rgb = fmt.color_family == vs.RGB
    peak = 1.0 if fmt.sample_type == vs.FLOAT else float((1 << fmt.bits_per_sample) - 1)

    def spec_of(frame: vs.VideoFrame) -> ColourSpec:
        return spec_from_format(frame.format, width, height, frame.props)

    def planes(frame: vs.VideoFrame) -> list[np.ndarray]:
        return [np.asarray(frame[p]) for p in range(frame.format.num_planes)]

    def prepare(frame: vs.VideoFrame, index: int) -> Prepared:
        return engine.prepare(min(max(index, 0), last), planes(frame), spec_of(frame))

    def is_cut(frames: list[vs.VideoFrame], index: int, a: int, b: int) -> bool:
        """A cut between the window's frames ``a`` and ``b`` (source frames index + offsets[a], ...)."""
        fa, fb = frames[a], frames[b]
        marked = [
            v for v in (fa.props.get("_SceneChangeNext"), fb.props.get("_SceneChangePrev")) if v is not None
        ]
        if marked:
            return any(bool(v) for v in marked)

        def frame(k: int) -> Prepared:  # source frame k, inside the window (see Selection.offsets)
            return prepare(frames[k - index + cur], k)

        return engine.is_cut(frame, index + offsets[a], index + offsets[b], last)

    def holds(frames: list[vs.VideoFrame], index: int) -> Callable[[int], bool]:
        def thumb(k: int) -> np.ndarray:
            return engine.hold_thumbnail(k, planes(frames[k - index + cur]), is_rgb, peak)

        return lambda k: hold_difference(thumb(k - 1), thumb(k)) < HOLD_THRESHOLD

    def choose(frames: list[vs.VideoFrame], pos: Position) -> tuple[int, int, Fraction] | None:
        """Window indices of the two frames to interpolate between and the timestep; None: pass through."""
        if not sel.dedup:
            return None if pos.exact else (cur, cur + 1, pos.t)
        span = drawing_span(pos.index, last, holds(frames, pos.index))
        start, nxt = span if span is not None else (pos.index, None)
        if nxt is None:  # a still, or the last drawing: nothing to move towards
            return None if pos.exact else (cur, cur + 1, pos.t)
        if pos.exact and start == pos.index:
            return None
        return start - pos.index + cur, nxt - pos.index + cur, retime(pos.index, pos.t, start, nxt)

    def shown(frame: vs.VideoFrame, confidence: float | None) -> vs.VideoFrame:
        if confidence is None:
            return frame
        out = frame.copy()
        out.props["_RIFEConfidence"] = confidence
        return out

    def render(n: int, f: list[vs.VideoFrame] | vs.VideoFrame) -> vs.VideoFrame:
        frames = f if isinstance(f, list) else [f]
        pos: Position = timeline.locate(n)
        choice = choose(frames, pos)
        if choice is None:
            return frames[cur]
        ia, ib, t = choice
        a, b = frames[ia], frames[ib]
        nearest = a if t <= Fraction(1, 2) else b
        if sel.sc and is_cut(frames, pos.index, ia, ib):
            return nearest
        pa, pb = planes(a), planes(b)
        if all(np.array_equal(x, y) for x, y in zip(pa, pb, strict=True)):
            return a  # identical neighbours (a still or a duplicate): nothing to interpolate
        spec = spec_of(a)
        pre_a = engine.prepare(pos.index + offsets[ia], pa, spec)
        pre_b = engine.prepare(pos.index + offsets[ib], pb, spec_of(b))  # each frame with its own tags
        out_planes, conf = engine.interpolate_checked(pre_a, pre_b, float(t), spec, height, width, sel.floor)
        if out_planes is None:
            return shown(nearest, conf)
        fout = a.copy()
        for p, data in enumerate(out_planes):
            np.copyto(np.asarray(fout[p]), data)
        fout.props["_RIFEConfidence"] = conf
        return fout

    return render


def output_timeline(
    clip: vs.VideoNode,
    fps: Any = None,
    fps_num: int | None = None,
    fps_den: int | None = None,
    factor_num: int | None = None,
    factor_den: int | None = None,
    timecodes: str | None = None,
    dedup: bool = False,
) -> Timeline:
    """The timeline ``RIFE(clip, ...)`` would follow with these arguments, without loading a model: its
    ``length`` is the output's frame count and ``locate(n)`` the source position of output frame n."""
    clip = _check_clip(clip)
    vfr = clip.fps_num == 0 or clip.fps_den == 0
    fps_in = None if vfr else Fraction(clip.fps_num, clip.fps_den)
    try:
        fps_out = target_rate(fps_in, _text(fps), fps_num, fps_den, factor_num, factor_den, allow_equal=dedup)
        return _timeline(clip, fps_in, fps_out, timecodes)
    except ValueError as e:
        raise _err(str(e)) from None
