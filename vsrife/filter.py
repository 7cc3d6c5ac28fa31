"""The VapourSynth filter: ``core.rife.RIFE(clip, fps=60)`` (also ``vsrife.RIFE``).

Everything is validated before the device is touched. Output frame n shows source time n / fps (exact
rationals); frames that fall on a source time are the source frames, bit for bit; interpolated frames are
converted to RGB on the compute device, run through IFNet and converted back to the clip's own format.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import vapoursynth as vs

from .colour import ColourSpec, spec_from_format
from .device import precision_name, resolve_device
from .engine import Engine, EngineSettings, Prepared
from .model import RIFE_HDv3, check_ensemble
from .registry import DEFAULT_VERSION, MODELS, SCALES, ModelSpec, get_spec
from .scenecut import SceneCutDetector
from .timecodes import read_timecodes
from .timing import CFRTimeline, Position, Timeline, VFRTimeline, checked, make_timeline, target_rate
from .weights import WeightsError, find_weights, missing_weights_message

NAME = "RIFE"
_MODELS: dict[tuple[str, str, str, str], RIFE_HDv3] = {}
_MODELS_LOCK = threading.Lock()


def _err(msg: str) -> vs.Error:
    return vs.Error(f"{NAME}: {msg}")


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
        try:
            scale = float(scale)
        except ValueError:
            pass
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or float(scale) not in SCALES:
        raise _err(f"scale must be one of {', '.join(map(str, SCALES))} or 'auto'; got {scale!r}")
    return float(scale)


def default_spec() -> ModelSpec:
    """4.25 when its weights are installed, else the newest installed release (4.25 if none is)."""
    preferred = MODELS[DEFAULT_VERSION]
    if find_weights(preferred) is not None:
        return preferred
    for spec in reversed(MODELS.values()):
        if find_weights(spec) is not None:
            print(
                f"{NAME}: weights of {DEFAULT_VERSION} are not installed; using {spec.version}",
                file=sys.stderr,
            )
            return spec
    return preferred


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


def _load_model(spec: ModelSpec, device: Any, precision: Any, weights: Any, auto_download: bool) -> RIFE_HDv3:
    try:
        dev = resolve_device(_text(device), NAME)
        prec = precision_name(_text(precision), dev, NAME)
    except ValueError as e:
        raise vs.Error(str(e)) from None
    path: Path | None = Path(_text(weights)) if weights is not None else find_weights(spec)
    if path is None and auto_download:
        from .download import DownloadError, download

        print(f"{NAME}: downloading the weights of {spec.version}", file=sys.stderr)
        try:
            path = download(spec)
        except DownloadError as e:
            raise _err(str(e)) from None
    if path is None:
        raise vs.Error(missing_weights_message(spec, NAME))
    key = (spec.version, str(dev), prec, str(path.resolve()))
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            try:
                model = RIFE_HDv3(spec.version, device=dev, precision=prec).load_weights(path)
            except WeightsError as e:
                raise _err(str(e)) from None
            _MODELS[key] = model
    return model


def _durations(clip: vs.VideoNode) -> list[Fraction]:
    """Per-frame durations of a variable-rate clip (reads every frame's props once)."""
    print(
        f"{NAME}: variable frame rate: reading {clip.num_frames} frame durations (decodes the whole clip once; "
        f"pass timecodes= with the source's timecode file to skip this, e.g. bs.VideoSource(..., "
        f"timecodes='tc.txt'))",
        file=sys.stderr,
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
    :param fps: output rate: int, float (59.94 and 23.976 snap to the NTSC rationals), Fraction or "60000/1001".
    :param fps_num, fps_den: output rate as a fraction (alternative to fps).
    :param factor_num, factor_den: output rate as a multiple of the input rate (default 2/1).
    :param scale: flow resolution: 0.25, 0.5, 1, 2, 4 or "auto" (0.5 for 4K).
    :param ensemble: average forward and backward estimates (releases before 4.21).
    :param sc: never interpolate across scene cuts (built-in detection; _SceneChangeNext/Prev props win).
    :param sc_threshold: scene-cut threshold in (0, 1]; default of vsrife.scenecut.
    :param device: "cpu", "cuda", "cuda:N"; default CUDA when available.
    :param precision: "fp32", "fp16", "bf16"; default fp16 on CUDA; bf16 on CPUs with native bf16, else fp32.
    :param weights: path of a weights file (default: looked up in the model directories).
    :param auto_download: fetch missing weights (verified) into the user model directory.
    :param timecodes: Matroska timecode file (v1 or v2) with the source's timestamps, e.g. written by
        ``bs.VideoSource(..., timecodes=...)``, mkvextract or ffmpeg's mkvtimestamp_v2 muxer. The clip is then
        resampled by these times without reading any frame (needed for variable-rate sources, else every
        frame's duration is read once before the filter returns).
    """
    clip = _check_clip(clip)
    try:
        spec = default_spec() if model is None else get_spec(_text(model), NAME)
        check_ensemble(spec, _flag(ensemble, "ensemble"), NAME)
    except ValueError as e:
        raise vs.Error(str(e)) from None
    use_sc = _flag(sc, "sc")
    scale_f = pick_scale(scale, clip.width, clip.height)
    vfr = clip.fps_num == 0 or clip.fps_den == 0
    fps_in = None if vfr else Fraction(clip.fps_num, clip.fps_den)
    try:
        fps_out = target_rate(fps_in, _text(fps), fps_num, fps_den, factor_num, factor_den)
        detector = SceneCutDetector(sc_threshold) if sc_threshold is not None else SceneCutDetector()
        spec_from_format(clip.format, clip.width, clip.height, {})
        timeline = _timeline(clip, fps_in, fps_out, timecodes)
    except ValueError as e:
        raise _err(str(e)) from None
    net = _load_model(spec, device, precision, weights, _flag(auto_download, "auto_download"))
    engine = Engine(
        net,
        EngineSettings(
            scale_f, bool(ensemble), detector if use_sc else None, cache_size=16 + 2 * vs.core.num_threads
        ),
    )
    return _build(clip, timeline, engine, use_sc)


# Rate ratios whose pattern repeats within this many output frames are selected by VapourSynth itself
# (SelectEvery over one cycle: 23.976 -> 59.94 repeats every 5, 25 -> 59.94 every 2,400). Longer cycles,
# and variable-rate sources, pick their source frames per output frame when it is requested.
CYCLE_LIMIT = 10_000


def _build(clip: vs.VideoNode, timeline: Timeline, engine: Engine, use_sc: bool) -> vs.VideoNode:
    """The output clip. Building costs the same for any length: nothing is listed per output frame."""
    fps_out = timeline.fps_out
    n_out = timeline.length
    offsets = (-1, 0, 1, 2) if use_sc else (0, 1)
    cur = offsets.index(0)
    src = clip.std.SetFrameProps(_DurationNum=fps_out.denominator, _DurationDen=fps_out.numerator)
    shifted = [_shifted(src, off) for off in offsets]
    base = vs.core.std.BlankClip(
        clip, length=n_out, fpsnum=fps_out.numerator, fpsden=fps_out.denominator, keep=True
    )
    render = _renderer(clip, timeline, engine, offsets, use_sc)
    if isinstance(timeline, CFRTimeline) and timeline.cycle[1] <= CYCLE_LIMIT:
        p, _ = timeline.cycle
        repeats = 2 if p == 1 else 1  # SelectEvery needs a cycle of 2 or more source frames
        cycle = timeline.cycle_offsets(repeats)
        clips = [s.std.SelectEvery(cycle=p * repeats, offsets=cycle, modify_duration=False) for s in shifted]
        return base.std.ModifyFrame(clips=clips, selector=render)

    def select(n: int) -> vs.VideoNode:
        # A clip whose frame n is the window around output frame n's source frame (a few cheap nodes).
        index = timeline.locate(n).index
        clips = [s[index].std.Loop(n + 1) for s in shifted]
        return clips[cur].std.ModifyFrame(clips=clips, selector=render)

    return base.std.FrameEval(select)


def _renderer(
    clip: vs.VideoNode, timeline: Timeline, engine: Engine, offsets: tuple[int, ...], use_sc: bool
) -> Callable[[int, list[vs.VideoFrame] | vs.VideoFrame], vs.VideoFrame]:
    """``render(n, frames)``: output frame n from the source frames at ``offsets`` around its position."""
    cur = offsets.index(0)
    height, width = clip.height, clip.width
    last = clip.num_frames - 1

    def spec_of(frame: vs.VideoFrame) -> ColourSpec:
        return spec_from_format(frame.format, width, height, frame.props)

    def planes(frame: vs.VideoFrame) -> list[np.ndarray]:
        return [np.asarray(frame[p]) for p in range(frame.format.num_planes)]

    def prepare(frame: vs.VideoFrame, index: int) -> Prepared:
        return engine.prepare(min(max(index, 0), last), planes(frame), spec_of(frame))

    def is_cut(frames: list[vs.VideoFrame], index: int) -> bool:
        a, b = frames[cur], frames[cur + 1]
        marked = [
            v for v in (a.props.get("_SceneChangeNext"), b.props.get("_SceneChangePrev")) if v is not None
        ]
        if marked:
            return any(bool(v) for v in marked)
        window = [prepare(f, index + off) for f, off in zip(frames, offsets, strict=True)]
        return engine.is_cut(window)

    def render(n: int, f: list[vs.VideoFrame] | vs.VideoFrame) -> vs.VideoFrame:
        frames = f if isinstance(f, list) else [f]
        pos: Position = timeline.locate(n)
        a = frames[cur]
        if pos.exact:
            return a
        b = frames[cur + 1]
        if use_sc and is_cut(frames, pos.index):
            return a if pos.t <= Fraction(1, 2) else b
        pa, pb = planes(a), planes(b)
        if all(np.array_equal(x, y) for x, y in zip(pa, pb, strict=True)):
            return a  # identical neighbours (a still or a duplicate): nothing to interpolate
        spec = spec_of(a)
        pre_a = engine.prepare(pos.index, pa, spec)
        pre_b = engine.prepare(pos.index + 1, pb, spec)
        out_planes = engine.interpolate(pre_a, pre_b, float(pos.t), spec, height, width)
        fout = a.copy()
        for p, data in enumerate(out_planes):
            np.copyto(np.asarray(fout[p]), data)
        return fout

    return render
