"""Command line: `vsrife download|list|interpolate|preview|doctor|native|train|bench`: parses and dispatches.

Everything meant for a person goes to stderr; stdout carries video only (`vsrife interpolate ... -o -`).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .encode import ENCODERS
from .errors import VsrifeError
from .registry import MODELS, VERSIONS, get_spec


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


class _StderrHandler(logging.Handler):
    """The CLI's handler of the ``vsrife`` logger: one line per record on the current ``sys.stderr``."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def setup_logging(verbose: bool = False) -> None:
    """Send the ``vsrife`` logger's records to stderr as plain lines (stdout carries video only)."""
    logger = logging.getLogger("vsrife")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("vsrife: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)


def cmd_download(args: argparse.Namespace) -> int:
    from .download import DownloadError, download

    versions = list(VERSIONS) if args.all else args.versions
    if not versions:
        _err("vsrife download: name at least one version (e.g. 4.25) or --all")
        return 2
    try:
        specs = [get_spec(v) for v in versions]
    except VsrifeError as e:
        _err(f"vsrife download: {e}")
        return 2
    failed = 0
    for spec in specs:
        try:
            url = args.url.format(filename=spec.filename) if args.url else None
            path = download(spec, args.dir, url=url, force=args.force, progress=not args.quiet)
            _err(f"{spec.version}: {path}")
        except DownloadError as e:
            _err(f"vsrife download: {e}")
            failed += 1
    return 1 if failed else 0


def plugin_report() -> list[str]:
    """Who owns ``core.rife`` (from the core's own plugin list), and other ``rife`` plugins in its folder."""
    try:
        from .native.build import default_plugin_dir, rivals
        from .vsplugin import check
    except ImportError:
        return ["plugin: VapourSynth is not installed (the model API works without it)"]
    ok, msg = check()
    lines = [f"plugin: {msg}"]
    try:
        folder = default_plugin_dir()
        for f in rivals(folder):
            state = "not loaded, `rife` is taken by vsrife's shim" if ok else "owns `rife`, see above"
            lines.append(f"plugin: another `rife` plugin in {folder}: {f.describe()} ({state})")
    except (RuntimeError, OSError) as e:
        lines.append(f"plugin: could not inspect the plugin folder: {e}")
    return lines


def cmd_list(args: argparse.Namespace) -> int:
    from .weights import find_weights, model_dirs

    for line in plugin_report():
        _err(line)
    _err(f"model directories: {', '.join(str(d) for d in model_dirs())}")
    _err(f"{'version':<11} {'pad':>4} {'ensemble':>8}  weights")
    for v, spec in MODELS.items():
        found = find_weights(spec)
        _err(f"{v:<11} {spec.modulo:>4} {'yes' if spec.supports_ensemble else 'no':>8}  {found or '-'}")
    return 0


def cmd_native(args: argparse.Namespace) -> int:
    from .native import build

    argv = [f"--{args.action}"]
    if args.plugin_dir:
        argv += ["--plugin-dir", args.plugin_dir]
    if args.action == "install":
        argv += ["--replace"] * args.replace + ["--force"] * args.force
        if args.build_dir:
            argv += ["--build-dir", args.build_dir]
    return build.main(argv, prog="vsrife native")


def open_source(path: str, workdir: Path) -> tuple[Any, Path | None]:
    """Open a video with bestsource, which writes its timestamps while it indexes the file (no extra decode).
    Returns the clip and, when the file has a variable frame rate, the timecode file for ``RIFE(timecodes=)``
    (bestsource reports a VFR file as its mean rate, so its own fps cannot tell)."""
    import vapoursynth as vs

    from .timecodes import is_constant_rate, read_timecodes

    tc = workdir / "timecodes.txt"
    try:
        clip = vs.core.bs.VideoSource(path, timecodes=str(tc))
    except vs.Error:  # bestsource refuses timecodes when a frame has no timestamp (raw streams): CFR then
        return vs.core.bs.VideoSource(path), None
    if clip.num_frames < 2 or not tc.is_file():
        return clip, None
    stamps = read_timecodes(tc, clip.num_frames)
    if is_constant_rate(stamps) and clip.fps_num:
        return clip, None
    _err(f"{path}: variable frame rate: resampling by the file's timestamps")
    return clip, tc


def trim_timecodes(tc: Path, frames: int) -> Path:
    """The first ``frames`` timestamps of a v2 file (plus the next one as the end), beside it."""
    lines = tc.read_text().splitlines()
    out = tc.with_name("timecodes-trimmed.txt")
    out.write_text("\n".join(lines[: frames + 2]) + "\n")
    return out


_interrupted = threading.Event()


def _interrupt(signum: int, frame: object) -> None:
    """SIGINT and SIGTERM during a render: remembered, then raised as KeyboardInterrupt. The flag is checked
    again after every frame (:func:`_stop_when_interrupted`): an extension that runs Python's signal check
    and then clears the error it raised would otherwise lose the Ctrl-C, and the render would finish."""
    _interrupted.set()
    raise KeyboardInterrupt


def _stop_when_interrupted(progress: Callable[[int, int], None]) -> Callable[[int, int], None]:
    def call(done: int, total: int) -> None:
        if _interrupted.is_set():
            raise KeyboardInterrupt
        progress(done, total)

    return call


def cmd_interpolate(args: argparse.Namespace) -> int:
    """Source (bestsource) -> RIFE -> y4m on stdout, or a file written by vsrife.encode.render."""
    import time

    if args.workers is not None or args.ray_address or args.devices:
        from .scaleout import from_args

        return from_args(args)

    import vapoursynth as vs

    from .encode import EncodeError, EncodeSettings, Progress, describe, preflight, render, write_y4m
    from .scaleout import build_filter, filter_args, open_trimmed

    if args.lossless and args.output != "-" and not args.output.lower().endswith(".mkv"):
        _err(
            f"vsrife interpolate: --lossless writes FFV1 in Matroska: name the output .mkv; got {args.output}"
        )
        return 2
    settings = EncodeSettings("ffv1" if args.lossless else args.encoder, args.crf, args.preset)
    if args.output != "-":
        try:
            preflight(settings, args.output)
        except EncodeError as e:
            _err(f"vsrife interpolate: {e}")
            return 2
    core = vs.core
    if args.threads:
        # VapourSynth's and torch's, as in each scale-out worker: the same threads give the same bits
        core.num_threads = args.threads
        import torch

        torch.set_num_threads(args.threads)
    fa = filter_args(args)
    tc_dir = tempfile.TemporaryDirectory(prefix="vsrife-")
    try:
        clip, timecodes, whole = open_trimmed(fa, Path(tc_dir.name))
    except (vs.Error, AttributeError, ValueError) as e:
        tc_dir.cleanup()
        _err(f"vsrife interpolate: cannot open {args.input}: {e}")
        return 2
    try:
        out = build_filter(fa, clip, timecodes)
    except vs.Error as e:
        _err(f"vsrife interpolate: {e}")
        return 2
    finally:
        tc_dir.cleanup()  # the filter has read the timestamps while it was built
    _err(
        f"{args.input}: {clip.width}x{clip.height} {clip.format.name}, {clip.num_frames} frames at "
        f"{clip.fps} fps "
        f"-> {out.num_frames} frames at {out.fps} fps"
    )
    progress = Progress(args.progress or sys.stderr.isatty())
    signal.signal(signal.SIGTERM, _interrupt)  # a `kill` cleans up like Ctrl-C: nothing half-written stays
    _interrupted.clear()
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not where the parent ignores Ctrl-C
        signal.signal(signal.SIGINT, _interrupt)
    checked = _stop_when_interrupted(progress)
    try:
        if args.output == "-":
            start = time.monotonic()
            write_y4m(out, sys.stdout.buffer, progress=checked)
            progress.close()
            _err(f"wrote {out.num_frames} frames to stdout in {time.monotonic() - start:.1f} s")
            return 0
        # Other streams are kept whole, unless only the first part of the video is rendered.
        part = out.num_frames * out.fps_den / out.fps_num if clip.num_frames < whole else None
        result = render(
            out,
            args.output,
            settings,
            mux_from=None if args.no_audio else args.input,
            mux_duration=part,
            progress=checked,
            notes=lambda note: _err(f"vsrife interpolate: note: {note}"),
        )
    except EncodeError as e:
        progress.close()
        _err(f"vsrife interpolate: {e}")
        return 1
    except vs.Error as e:
        progress.close()
        _err(f"vsrife interpolate: {str(e).splitlines()[0]}")
        return 1
    except BrokenPipeError:  # only from -o -: whoever read stdout stopped reading
        progress.close()
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        _err("vsrife interpolate: the program reading stdout stopped reading (broken pipe)")
        return 1
    except KeyboardInterrupt:
        progress.close()
        _err("vsrife interpolate: interrupted; nothing was written under the output name")
        return 130
    progress.close()
    _err(describe(result, out.fps))
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    from .preview import PreviewError, run_preview

    try:
        for line in run_preview(args):
            _err(line)
    except PreviewError as e:
        _err(f"vsrife preview: {e}")
        return 2
    except KeyboardInterrupt:
        _err("vsrife preview: interrupted")
        return 130
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import report, run_checks

    checks = run_checks()
    for line in report(checks):
        _err(line)
    return 1 if any(c.required and not c.ok for c in checks) else 0


class _Parser(argparse.ArgumentParser):
    """argparse that prints help to stderr too: stdout is for video."""

    def print_help(self, file=None):  # type: ignore[no-untyped-def]
        super().print_help(file if file is not None else sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="vsrife", description="RIFE frame interpolation for VapourSynth")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("download", help="download and verify model weights")
    d.add_argument("versions", nargs="*", metavar="VERSION", help=f"one of {', '.join(VERSIONS)}")
    d.add_argument("--all", action="store_true", help="every release")
    d.add_argument("--dir", help="target directory (default: $VSRIFE_MODEL_DIR or the user cache)")
    d.add_argument("--url", help="URL template with {filename} (a mirror)")
    d.add_argument("--force", action="store_true", help="download even when a verified copy exists")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=cmd_download)

    ls = sub.add_parser("list", help="list releases and the weights found locally")
    ls.set_defaults(func=cmd_list)

    it = sub.add_parser("interpolate", help="interpolate a video file to a higher frame rate")
    it.add_argument("input", help="video file (opened with bestsource)")
    it.add_argument(
        "-o", "--output", required=True, help="output file (encoded with ffmpeg/x265) or - for y4m"
    )
    rate = it.add_mutually_exclusive_group()
    rate.add_argument("--fps", help="output rate: 60, 59.94, 60000/1001 ...")
    rate.add_argument("--factor", help="rate multiplier: 2, 5/2 ...")
    it.add_argument("--model", help="RIFE release (default: 4.25, or the newest installed)")
    it.add_argument("--scale", default="1.0", help="0.25, 0.5, 1, 2, 4 or auto")
    it.add_argument("--ensemble", action="store_true")
    it.add_argument("--no-sc", action="store_true", help="interpolate across scene cuts too")
    it.add_argument(
        "--sc-confidence",
        type=float,
        help="nearest source frame where the model's confidence is lower (0..1; 0.88 catches jump cuts)",
    )
    it.add_argument(
        "--dedup", action="store_true", help="held drawings (anime on twos): interpolate between drawings"
    )
    it.add_argument("--device", help="cpu, cuda, cuda:N (default: CUDA when available)")
    it.add_argument("--precision", help="fp32, fp16, bf16")
    it.add_argument("--frames", type=int, help="only the first N source frames")
    it.add_argument("--threads", type=int, help="VapourSynth and torch threads (per worker with --workers)")
    it.add_argument("--encoder", choices=tuple(ENCODERS), default="x265", help="video codec (through ffmpeg)")
    it.add_argument("--crf", type=int, default=18, help="quality for x265/x264 (lower is better)")
    it.add_argument("--preset", default="medium", help="x265/x264 speed preset")
    it.add_argument("--no-audio", action="store_true", help="do not copy audio, subtitles and chapters")
    it.add_argument(
        "--progress", action="store_true", help="show progress even when stderr is not a terminal"
    )
    it.add_argument("--lossless", action="store_true", help="FFV1 in Matroska (.mkv), bit-exact frames")
    scale = it.add_argument_group("scale-out (see README: Running on many workers)")
    scale.add_argument("--workers", type=int, help="render segments in parallel on a local Ray cluster")
    scale.add_argument("--ray-address", help="run the segments on this Ray cluster (e.g. 10.0.0.5:6379)")
    scale.add_argument("--devices", help="one worker per device without Ray, e.g. cuda:0,cuda:1")
    scale.add_argument(
        "--segment-seconds", type=float, default=60.0, help="target segment length (cut at scene cuts)"
    )
    it.set_defaults(func=cmd_interpolate)

    nat = sub.add_parser("native", help="install, uninstall or inspect the native `rife` namespace plugin")
    nsub = nat.add_subparsers(dest="action", required=True)
    ni = nsub.add_parser("install", help="build and install the shim that makes core.rife.RIFE exist")
    ni.add_argument("--plugin-dir", help="install here (default: VapourSynth's autoloaded plugin folder)")
    ni.add_argument(
        "--replace",
        action="store_true",
        help="another plugin owns `rife` in that folder (e.g. RIFE ncnn-Vulkan): move it aside",
    )
    ni.add_argument("--build-dir", help="compile here")
    ni.add_argument("--force", action="store_true", help="recompile")
    nu = nsub.add_parser("uninstall", help="remove the shim and restore what --replace moved aside")
    nu.add_argument("--plugin-dir", help="the folder it was installed to")
    ns = nsub.add_parser("status", help="which plugin owns core.rife, and other `rife` plugins")
    ns.add_argument("--plugin-dir", help="the folder to inspect")
    nat.set_defaults(func=cmd_native)

    pv = sub.add_parser(
        "preview", help="a picture (and a short clip) to judge the interpolation at one point"
    )
    pv.add_argument("input", help="video file (opened with bestsource)")
    pv.add_argument("--at", default="0", help="time of the first source frame: 12, 12.5, 00:00:12, 1:02.5")
    pv.add_argument("-o", "--output", default="preview.png", help="PNG to write (default preview.png)")
    pv.add_argument("--clip", help="also write a short clip around that point that loops (e.g. preview.mkv)")
    prate = pv.add_mutually_exclusive_group()
    prate.add_argument("--fps", help="output rate (default: twice the source rate)")
    prate.add_argument("--factor", help="rate multiplier: 2, 5/2 ...")
    pv.add_argument("--model", help="RIFE release (default: 4.25, or the newest installed)")
    pv.add_argument("--scale", default="1.0", help="0.25, 0.5, 1, 2, 4 or auto")
    pv.add_argument("--ensemble", action="store_true")
    pv.add_argument("--device", help="cpu, cuda, cuda:N (default: CUDA when available)")
    pv.add_argument("--precision", help="fp32, fp16, bf16")
    pv.add_argument(
        "--seconds", type=float, default=2.0, help="length of --clip around the point (default 2)"
    )
    pv.set_defaults(func=cmd_preview)

    dr = sub.add_parser("doctor", help="check the installation, one line per check, with fixes")
    dr.set_defaults(func=cmd_doctor)

    # listed here for `vsrife --help`; main() hands everything after `train` to vsrife.train's own parser
    sub.add_parser("train", help="train or fine-tune a release (see `vsrife train --help`)", add_help=False)
    sub.add_parser(
        "bench", help="speed and quality against the peer (see `vsrife bench --help`)", add_help=False
    )

    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    setup_logging()
    if argv[:1] == ["train"]:
        from .train.cli import main as train_main

        return train_main(argv[1:])
    if argv[:1] == ["bench"]:
        from .bench import main as bench_main

        return bench_main(argv[1:])
    args = build_parser().parse_args(argv)
    if getattr(args, "command", None) in ("interpolate", "preview"):
        args.factor_num = args.factor_den = None
        if args.factor:
            num, _, den = args.factor.partition("/")
            try:
                args.factor_num, args.factor_den = int(num), int(den or 1)
            except ValueError:
                _err(f"vsrife {args.command}: --factor must look like 2 or 5/2; got {args.factor!r}")
                return 2
    return int(args.func(args))
