"""Encoding and muxing: frames of a clip -> an encoder process -> a file that only ever appears whole.

:func:`render` is the one entry point: it pipes frames ``[start, end)`` of a VapourSynth clip as y4m into
ffmpeg (or the x265 command-line encoder), writes to a hidden temporary name beside the output and renames
it to the final name only after the encoder has finished successfully. An interrupt, a crash of the filter
or a failing encoder leaves nothing under the final name.

Audio, subtitles, chapters (and Matroska attachments) are copied from a source file with ``mux_from``.
They are copied **unchanged and untrimmed**: interpolation does not move the picture in time, so every
stream keeps its own duration and the output lasts as long as the input (ffmpeg's ``-shortest`` is never
used: it cut the video short when the audio outlasted it). Only when the clip covers just the first part of
the source (``mux_duration``, e.g. ``vsrife interpolate --frames N``) are the other streams cut at the end
of that part.

The pieces are separately usable: :func:`temporary_path` and :func:`ffmpeg_command` are pure; segment
encoders can call :func:`render` per range without ``mux_from`` and join the pieces afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import vapoursynth as vs

Backend = Literal["ffmpeg", "x265"]
# Containers that hold any stream ffmpeg can copy (text and bitmap subtitles, attachments).
MATROSKA_SUFFIXES = (".mkv", ".mka", ".webm")
# Containers of the MP4 family: text subtitles must become mov_text, bitmap subtitles cannot go in.
MP4_SUFFIXES = (".mp4", ".m4v", ".mov")
# Raw HEVC bitstreams: what the x265 command-line encoder writes when ffmpeg is not there.
RAW_HEVC_SUFFIXES = (".hevc", ".h265", ".265")
TEXT_SUBTITLES = ("subrip", "srt", "ass", "ssa", "webvtt", "mov_text", "text")
# How long the encoder may take to finish its file after the last frame before we give up on it (s).
ENCODER_FINISH_TIMEOUT_S = 600.0


class EncodeError(RuntimeError):
    """The encoder is missing, refused the settings or failed; the message is one line for a person."""


@dataclass(frozen=True)
class EncoderSpec:
    """One ``--encoder`` choice: the ffmpeg codec behind it and the arguments it needs."""

    name: str
    ffmpeg_codec: str
    description: str
    uses_crf: bool = True
    uses_preset: bool = True
    extra_args: tuple[str, ...] = ()
    pix_fmt: str | None = None  # forced output pixel format (ProRes needs 4:2:2 10-bit)


ENCODERS: dict[str, EncoderSpec] = {
    spec.name: spec
    for spec in (
        EncoderSpec("x265", "libx265", "HEVC, small files", extra_args=("-x265-params", "log-level=error")),
        EncoderSpec("x264", "libx264", "H.264, plays everywhere"),
        EncoderSpec(
            "ffv1",
            "ffv1",
            "lossless FFV1 (Matroska), for further editing",
            uses_crf=False,
            uses_preset=False,
            extra_args=("-level", "3", "-g", "1", "-slicecrc", "1"),
        ),
        EncoderSpec(
            "prores",
            "prores_ks",
            "ProRes 422 HQ, for editors",
            uses_crf=False,
            uses_preset=False,
            extra_args=("-profile:v", "3", "-vendor", "apl0"),
            pix_fmt="yuv422p10le",
        ),
    )
}


@dataclass(frozen=True)
class EncodeSettings:
    encoder: str = "x265"
    crf: int = 18
    preset: str = "medium"

    @property
    def spec(self) -> EncoderSpec:
        spec = ENCODERS.get(self.encoder)
        if spec is None:
            raise EncodeError(f"encoder must be one of {', '.join(ENCODERS)}; got {self.encoder!r}")
        return spec


@dataclass(frozen=True)
class SourceStream:
    index: int
    kind: str  # "video", "audio", "subtitle", "attachment", "data"
    codec: str


@dataclass(frozen=True)
class MuxPlan:
    """What to copy from ``source`` next to the new video, and how."""

    source: Path
    streams: tuple[SourceStream, ...] | None  # None: ffprobe missing, map every audio/subtitle stream blindly
    video_start: float = 0.0  # the source video's first timestamp (s): the new video starts there too
    duration: float | None = None  # cut the copied streams here (s); None keeps them whole


@dataclass(frozen=True)
class RenderResult:
    path: Path
    frames: int
    seconds: float
    backend: Backend
    copied: tuple[str, ...]  # kinds of streams copied from the source, e.g. ("audio", "subtitle")


# ---------------------------------------------------------------------------------------------- tools


def find_tool(name: str) -> str | None:
    return shutil.which(name)


@functools.cache
def ffmpeg_encoders(ffmpeg: str) -> frozenset[str]:
    """Names of the video encoders this ffmpeg build has (``ffmpeg -encoders``)."""
    try:
        out = subprocess.run(
            [ffmpeg, "-hide_banner", "-encoders"], check=False, capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] == "V":
            names.add(parts[1])
    return frozenset(names)


def choose_backend(spec: EncoderSpec, output: Path, ffmpeg: str | None, x265: str | None) -> Backend:
    """ffmpeg when it has the codec; the x265 program for raw ``.hevc`` output; otherwise a clear error."""
    if ffmpeg is not None and spec.ffmpeg_codec in ffmpeg_encoders(ffmpeg):
        return "ffmpeg"
    if spec.name == "x265" and x265 is not None:
        if output.suffix.lower() in RAW_HEVC_SUFFIXES:
            return "x265"
        raise EncodeError(
            f"writing {output.suffix or 'this'} files needs ffmpeg (with libx265); only the x265 program is "
            f"installed, which writes raw HEVC: name the output .hevc, or install ffmpeg "
            f"(Debian/Ubuntu: apt install ffmpeg)"
        )
    if ffmpeg is None:
        return _missing(spec, "ffmpeg is not installed")
    return _missing(spec, f"this ffmpeg ({ffmpeg}) has no {spec.ffmpeg_codec} encoder")


def _missing(spec: EncoderSpec, why: str) -> Backend:
    raise EncodeError(
        f"--encoder {spec.name} needs ffmpeg with {spec.ffmpeg_codec}, but {why}; install a full ffmpeg "
        f"(Debian/Ubuntu: apt install ffmpeg; others: https://ffmpeg.org/download.html) or pick another "
        f"--encoder ({', '.join(ENCODERS)})"
    )


def available_encoders() -> dict[str, str | None]:
    """``--encoder`` name -> the program that would run it here (None when none can)."""
    ffmpeg, x265 = find_tool("ffmpeg"), find_tool("x265")
    have = ffmpeg_encoders(ffmpeg) if ffmpeg else frozenset()
    out: dict[str, str | None] = {}
    for name, spec in ENCODERS.items():
        if spec.ffmpeg_codec in have:
            out[name] = f"ffmpeg ({spec.ffmpeg_codec})"
        elif name == "x265" and x265:
            out[name] = "x265 (raw .hevc only)"
        else:
            out[name] = None
    return out


# --------------------------------------------------------------------------------------------- probe


def probe_source(path: Path, ffprobe: str | None = None) -> tuple[tuple[SourceStream, ...], float] | None:
    """The source's streams and its video start time, or None without ffprobe (or if it cannot read it)."""
    ffprobe = ffprobe or find_tool("ffprobe")
    if ffprobe is None:
        return None
    try:
        r = subprocess.run(
            [
                ffprobe,
                "-v",
                "error",
                "-show_entries",
                "stream=index,codec_type,codec_name,start_time",
                "-of",
                "json",
                str(path),
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        data = json.loads(r.stdout or "{}")
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if r.returncode != 0:
        return None
    streams: list[SourceStream] = []
    video_start = 0.0
    for s in data.get("streams", []):
        kind = s.get("codec_type", "data")
        if kind == "video" and not any(x.kind == "video" for x in streams):
            try:
                video_start = max(0.0, float(s.get("start_time", 0.0)))
            except (TypeError, ValueError):
                video_start = 0.0
        streams.append(SourceStream(int(s["index"]), kind, s.get("codec_name", "")))
    return tuple(streams), video_start


def plan_mux(source: Path, duration: float | None = None) -> MuxPlan:
    probed = probe_source(source)
    if probed is None:
        return MuxPlan(source, None, 0.0, duration)
    streams, video_start = probed
    return MuxPlan(source, streams, video_start, duration)


# ------------------------------------------------------------------------------------------- commands


def temporary_path(output: Path, tag: str | None = None) -> Path:
    """A hidden name beside ``output`` with the same suffix (so ffmpeg picks the same container)."""
    tag = tag or str(os.getpid())
    return output.with_name(f".{output.stem}.partial-{tag}{output.suffix}")


def _stream_args(plan: MuxPlan, suffix: str) -> tuple[list[str], tuple[str, ...], list[str]]:
    """(-map/-c arguments, kinds copied, notes about what was left out) for the streams of ``plan``."""
    mkv, mp4 = suffix in MATROSKA_SUFFIXES, suffix in MP4_SUFFIXES
    if plan.streams is None:
        return ["-map", "1:a?", "-map", "1:s?", "-c:a", "copy", "-c:s", "copy"], ("audio", "subtitle"), []
    args: list[str] = []
    kinds: list[str] = []
    notes: list[str] = []
    n_sub = 0
    for s in plan.streams:
        if s.kind == "audio":
            args += ["-map", f"1:{s.index}"]
        elif s.kind == "subtitle":
            if mp4 and s.codec not in TEXT_SUBTITLES:
                notes.append(f"subtitle stream {s.index} ({s.codec}) is a bitmap format {suffix} cannot hold")
                continue
            args += ["-map", f"1:{s.index}"]
            if mp4:
                args += [f"-c:s:{n_sub}", "mov_text"]
            n_sub += 1
        elif s.kind == "attachment" and mkv:
            args += ["-map", f"1:{s.index}"]
        else:
            continue
        if s.kind not in kinds:
            kinds.append(s.kind)
    args += ["-c:a", "copy"]
    if not mp4:
        args += ["-c:s", "copy"]
    if mkv:
        args += ["-c:t", "copy"]
    return args, tuple(kinds), notes


def ffmpeg_command(
    ffmpeg: str,
    settings: EncodeSettings,
    output: Path,
    mux: MuxPlan | None = None,
    fmt: str | None = None,
) -> tuple[list[str], tuple[str, ...], list[str]]:
    """The ffmpeg command reading y4m on stdin and writing ``output``; also the kinds of streams it copies
    and notes on anything it must leave out."""
    spec = settings.spec
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y"]
    if mux is not None and mux.video_start > 0:
        cmd += ["-itsoffset", f"{mux.video_start:.6f}"]
    cmd += ["-f", "yuv4mpegpipe", "-i", "-"]
    kinds: tuple[str, ...] = ()
    notes: list[str] = []
    if mux is not None:
        if mux.duration is not None:
            cmd += ["-t", f"{mux.duration:.6f}"]
        cmd += ["-i", str(mux.source), "-map", "0:v:0"]
        args, kinds, notes = _stream_args(mux, output.suffix.lower())
        cmd += [*args, "-map_chapters", "1", "-map_metadata", "1"]
    cmd += ["-c:v", spec.ffmpeg_codec]
    if spec.uses_crf:
        cmd += ["-crf", str(settings.crf)]
    if spec.uses_preset:
        cmd += ["-preset", settings.preset]
    cmd += list(spec.extra_args)
    if spec.pix_fmt:
        cmd += ["-pix_fmt", spec.pix_fmt]
    if fmt:
        cmd += ["-f", fmt]
    cmd.append(str(output))
    return cmd, kinds, notes


def x265_command(x265: str, settings: EncodeSettings, output: Path) -> list[str]:
    return [
        x265,
        "--log-level",
        "error",
        "--no-progress",
        "--y4m",
        "-",
        "--crf",
        str(settings.crf),
        "--preset",
        settings.preset,
        "-o",
        str(output),
    ]


# ------------------------------------------------------------------------------------------------ y4m


def y4m_colorspace(family: str, ss_w: int, ss_h: int, bits: int) -> str:
    """The y4m ``C`` tag for an integer YUV or GRAY format (``420jpeg``, ``422p10``, ``mono`` ...)."""
    if family == "gray":
        return "mono" if bits == 8 else f"mono{bits}"
    if family != "yuv":
        raise EncodeError(f"y4m carries YUV or GRAY frames; got {family.upper()} (convert it first)")
    sub = {(1, 1): "420", (1, 0): "422", (0, 0): "444", (2, 0): "411"}.get((ss_w, ss_h))
    if sub is None:
        raise EncodeError(f"y4m has no chroma subsampling {ss_w}/{ss_h}")
    if bits == 8:
        return sub
    return f"{sub}p{bits}"


def y4m_header(width: int, height: int, rate: Fraction, colorspace: str, sar: tuple[int, int]) -> bytes:
    return (
        f"YUV4MPEG2 W{width} H{height} F{rate.numerator}:{rate.denominator} Ip "
        f"A{sar[0]}:{sar[1]} C{colorspace}\n"
    ).encode()


def write_y4m(
    clip: vs.VideoNode,
    stream: IO[bytes],
    start: int = 0,
    end: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write frames ``[start, end)`` of ``clip`` to ``stream`` as y4m; returns the number written.

    Our own loop (not ``VideoNode.output``) so that an interrupt or a broken pipe stops it at once.
    """
    import numpy as np

    end = clip.num_frames if end is None else end
    fmt = clip.format
    if fmt is None or fmt.sample_type != 0:
        raise EncodeError("y4m carries integer YUV or GRAY frames of one constant format")
    colorspace = y4m_colorspace(
        fmt.color_family.name.lower(), fmt.subsampling_w, fmt.subsampling_h, fmt.bits_per_sample
    )
    rate = Fraction(clip.fps.numerator, clip.fps.denominator)
    if rate <= 0:
        raise EncodeError("y4m needs a constant frame rate")
    total = end - start
    if progress:
        progress(0, total)
    done = 0
    for frame in clip[start:end].frames(close=True):
        if done == 0:
            props = frame.props
            sar = (int(props.get("_SARNum", 0)), int(props.get("_SARDen", 0)))
            stream.write(y4m_header(clip.width, clip.height, rate, colorspace, sar))
        stream.write(b"FRAME\n")
        for p in range(fmt.num_planes):
            stream.write(np.ascontiguousarray(np.asarray(frame[p])).data)
        done += 1
        if progress:
            progress(done, total)
    stream.flush()
    return done


# --------------------------------------------------------------------------------------------- render


def _last_line(err: IO[bytes]) -> str:
    err.seek(0)
    lines = [ln.strip() for ln in err.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    if proc.stdin is not None:
        with contextlib.suppress(
            OSError
        ):  # the frames still buffered cannot go anywhere: the encoder is gone
            proc.stdin.close()


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def preflight(settings: EncodeSettings, output: str | os.PathLike[str]) -> Backend:
    """Check the settings, the output location and the encoder before any frame is computed."""
    output = Path(output)
    if output.is_dir():
        raise EncodeError(f"output {output} is a directory")
    if not output.parent.is_dir():
        raise EncodeError(f"output directory {output.parent} does not exist")
    return choose_backend(settings.spec, output, find_tool("ffmpeg"), find_tool("x265"))


def render(
    clip: vs.VideoNode,
    output: str | os.PathLike[str],
    settings: EncodeSettings = EncodeSettings(),
    *,
    start: int = 0,
    end: int | None = None,
    mux_from: str | os.PathLike[str] | None = None,
    mux_duration: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    notes: Callable[[str], None] | None = None,
) -> RenderResult:
    """Encode frames ``[start, end)`` of ``clip`` into ``output``, which appears only once it is complete.

    With ``mux_from``, audio, subtitles, chapters and metadata are copied from that file (see the module
    docstring). ``progress(done, total)`` is called as frames are written. Raises :class:`EncodeError` when
    the encoder is missing or fails; any other exception (KeyboardInterrupt, a filter error) is re-raised
    after the encoder is stopped and the partial file removed.
    """
    output = Path(output)
    end = clip.num_frames if end is None else end
    if not 0 <= start < end <= clip.num_frames:
        raise EncodeError(f"frame range [{start}, {end}) is outside the clip's {clip.num_frames} frames")
    backend = preflight(settings, output)
    ffmpeg, x265 = find_tool("ffmpeg"), find_tool("x265")
    tmp = temporary_path(output)
    kinds: tuple[str, ...] = ()
    if backend == "ffmpeg":
        assert ffmpeg is not None
        mux = plan_mux(Path(mux_from), mux_duration) if mux_from is not None else None
        cmd, kinds, left_out = ffmpeg_command(ffmpeg, settings, tmp, mux)
        for note in left_out:
            if notes:
                notes(note)
    else:
        assert x265 is not None
        cmd = x265_command(x265, settings, tmp)
        if mux_from is not None and notes:
            notes("audio and subtitles are not copied into a raw .hevc stream")
    began = time.monotonic()
    with tempfile.TemporaryFile() as err:
        # A session of its own: a Ctrl-C in the terminal reaches us, and we decide what the encoder does.
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        )
        assert proc.stdin is not None
        try:
            try:
                write_y4m(clip, proc.stdin, start, end, progress)
                proc.stdin.close()
            except (BrokenPipeError, ConnectionResetError):
                code = proc.wait(timeout=ENCODER_FINISH_TIMEOUT_S)
                raise EncodeError(
                    f"{backend} stopped reading frames (exit code {code}): {_last_line(err)}"
                ) from None
            code = proc.wait(timeout=ENCODER_FINISH_TIMEOUT_S)
            if code != 0:
                raise EncodeError(f"{backend} failed (exit code {code}): {_last_line(err)}")
        except BaseException:
            _stop(proc)
            _unlink(tmp)
            raise
    if not tmp.is_file() or tmp.stat().st_size == 0:
        _unlink(tmp)
        raise EncodeError(f"{backend} exited without writing {output}")
    os.replace(tmp, output)
    return RenderResult(output, end - start, time.monotonic() - began, backend, kinds)


# ------------------------------------------------------------------------------------------- progress


def format_progress(done: int, total: int, elapsed: float) -> str:
    """``frame 40/103  12.3 fps  ETA 0:05`` (the ETA once a rate is known)."""
    rate = done / elapsed if elapsed > 0 and done > 0 else 0.0
    text = f"frame {done}/{total}  {rate:.1f} fps"
    if rate > 0 and total >= done:
        eta = math.ceil((total - done) / rate)
        h, rem = divmod(eta, 3600)
        m, s = divmod(rem, 60)
        text += f"  ETA {h}:{m:02d}:{s:02d}" if h else f"  ETA {m}:{s:02d}"
    return text


class Progress:
    """A one-line progress display on stderr, redrawn at most every ``interval`` seconds."""

    def __init__(self, enabled: bool, stream: IO[str] | None = None, interval: float = 0.25) -> None:
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.start = time.monotonic()
        self._last = -math.inf
        self._drawn = False
        self._width = 0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < self.interval:
            return
        self._last = now
        line = format_progress(done, total, now - self.start)
        self.stream.write("\r" + line.ljust(self._width))
        self._width = len(line)
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def describe(result: RenderResult, rate: Fraction | None = None) -> str:
    extra = f", copied {' and '.join(result.copied)}" if result.copied else ""
    fps = f" at {rate} fps" if rate is not None else ""
    return f"wrote {result.path}: {result.frames} frames{fps}{extra} in {result.seconds:.1f} s"
