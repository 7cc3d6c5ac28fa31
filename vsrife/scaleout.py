"""One film over many workers and machines: ``vsrife interpolate ... --workers N`` / ``--ray-address``.

The output timeline is split into segments (:mod:`vsrife.segments`). Every worker opens the source the way
the single-process command does, builds the same full-length filter (constant time) and renders only its
range of output frames, so the frames are bit-identical to a single-process run. Each segment is encoded on
its worker into ``OUTPUT.vsrife/seg-NNNNN.mkv`` (temporary name, renamed when whole); the driver joins them
with ffmpeg's concat demuxer without re-encoding and copies audio and subtitles from the input.

Why encode each segment with the final codec (x265, every segment starting with a closed picture group)
rather than a lossless intermediate encoded once at the end: measured here at 1280x720 (README, "Running on
many workers"), x265 (medium) encodes far faster than RIFE interpolates, so encoding on the worker adds a
small share to each segment, whereas one final encode runs serially after all workers are done and caps
the speed-up of any number of workers at (RIFE time + encode time) / encode time; FFV1 intermediates are also
about 40 times larger. ``--lossless`` writes FFV1 segments (intra-only, so every frame is a boundary) and
joins them into the final Matroska file.

Progress, resuming and failures: a manifest beside the output (:mod:`vsrife.manifest`) records each
segment's range, status and checksum; a second run of the same command renders only segments that are not
done (checksums are verified). Ray retries a segment whose worker died (``max_retries``); ``--devices``
retries it itself. Ctrl-C leaves finished segments and removes partial ones.

Ray processes of a local cluster bind to 127.0.0.1 only. On a cluster (``--ray-address``) the input and the
output directory must be visible under the same path on every node (a shared filesystem), and every node
needs vsrife installed in the same environment.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from . import manifest as mf
from .segments import DEFAULT_SEGMENT_SECONDS, cut_windows, first_frame_at, plan_segments, segment_frames

#: How often the driver redraws the progress line and workers report their frame count (s).
PROGRESS_INTERVAL = 1.0
#: Ray retries of a segment whose worker process died (a crash, a killed process, a lost node).
MAX_RETRIES = 3
#: Object store of a local Ray cluster (bytes): only small results travel through it, never frames.
LOCAL_OBJECT_STORE = 128 * 1024 * 1024
SEGMENT_SUFFIX = ".mkv"


class ScaleError(RuntimeError):
    """A problem with the arguments or the environment, for a person to read (one line)."""


@dataclass(frozen=True)
class FilterArgs:
    """Everything that decides the frames: every worker builds its filter from exactly these."""

    input: str
    frames: int | None = None
    model: str | None = None
    fps: str | None = None
    factor_num: int | None = None
    factor_den: int | None = None
    scale: str = "1.0"
    ensemble: bool = False
    sc: bool = True
    sc_confidence: float | None = None
    dedup: bool = False
    device: str | None = None
    precision: str | None = None


@dataclass(frozen=True)
class EncodeArgs:
    lossless: bool = False
    crf: int = 18
    preset: str = "medium"

    def codec_args(self) -> list[str]:
        if self.lossless:  # the same FFV1 settings as a single-process --lossless run
            return ["-c:v", "ffv1", "-level", "3", "-g", "1", "-slicecrc", "1"]
        return ["-c:v", "libx265", "-crf", str(self.crf), "-preset", self.preset]
        # x265 starts every segment with an IDR frame, and no picture refers across segments


@dataclass(frozen=True)
class Placement:
    workers: int | None = None
    ray_address: str | None = None
    devices: tuple[str, ...] = ()
    threads: int | None = None  # per worker
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS
    max_retries: int = MAX_RETRIES


@dataclass(frozen=True)
class SegmentResult:
    index: int
    file: str
    sha256: str
    bytes: int
    started: float
    finished: float
    host: str


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


# --------------------------------------------------------------------------------------- the filter


def filter_args(args: argparse.Namespace) -> FilterArgs:
    """The ``vsrife interpolate`` arguments that decide the frames: the one mapping from the command line
    that the single process and every worker build their filter from."""
    return FilterArgs(
        input=args.input,
        frames=args.frames,
        model=args.model,
        fps=args.fps,
        factor_num=args.factor_num,
        factor_den=args.factor_den,
        scale=args.scale,
        ensemble=args.ensemble,
        sc=not args.no_sc,
        sc_confidence=args.sc_confidence,
        dedup=args.dedup,
        device=args.device,
        precision=args.precision,
    )


def open_trimmed(fa: FilterArgs, workdir: Path) -> tuple[Any, Path | None, int]:
    """The source clip (its first ``fa.frames`` frames when given), its timecode file for VFR sources
    (written into ``workdir``) and the whole source's frame count."""
    from .cli import open_source, trim_timecodes

    clip, timecodes = open_source(fa.input, workdir)
    whole = clip.num_frames
    if fa.frames:
        clip = clip[: fa.frames]
        timecodes = None if timecodes is None else trim_timecodes(timecodes, fa.frames)
    return clip, timecodes, whole


def build_filter(fa: FilterArgs, clip: Any, timecodes: Path | None, device: str | None = None) -> Any:
    """``RIFE(clip, ...)`` with these arguments (``device`` overrides ``fa.device``)."""
    from .filter import RIFE

    return RIFE(
        clip,
        model=fa.model,
        fps=fa.fps,
        factor_num=fa.factor_num,
        factor_den=fa.factor_den,
        scale=fa.scale,
        ensemble=fa.ensemble,
        sc=fa.sc,
        sc_confidence=fa.sc_confidence,
        dedup=fa.dedup,
        device=device if device is not None else fa.device,
        precision=fa.precision,
        timecodes=None if timecodes is None else str(timecodes),
    )


def open_and_build(fa: FilterArgs, workdir: Path, device: str | None = None) -> tuple[Any, Any]:
    """(source clip, RIFE clip) exactly as ``vsrife interpolate`` builds them."""
    clip, timecodes, _ = open_trimmed(fa, workdir)
    return clip, build_filter(fa, clip, timecodes, device)


_BUILT: dict[tuple[FilterArgs, str | None], Any] = {}  # one filter per worker process, reused by its tasks


def limit_threads(threads: int) -> None:
    """Keep one worker to its share of the cores: torch's and VapourSynth's thread pools."""
    import torch
    import vapoursynth as vs

    torch.set_num_threads(threads)
    vs.core.num_threads = threads


def render_segment(
    fa: FilterArgs,
    enc: EncodeArgs,
    index: int,
    start: int,
    end: int,
    directory: str,
    threads: int,
    device: str | None = None,
    report: Callable[[int, int], None] | None = None,
) -> SegmentResult:
    """Render output frames ``[start, end)`` into ``directory/seg-<index>.mkv`` (whole or not at all)."""
    limit_threads(threads)
    key = (fa, device)
    if key not in _BUILT:
        with tempfile.TemporaryDirectory(prefix="vsrife-") as tmp:
            _BUILT[key] = open_and_build(fa, Path(tmp), device)[1]
    out = _BUILT[key]
    started = mf.now()
    final = Path(directory) / segment_name(index)
    tmp_path = final.with_name(f".{final.stem}.partial-{socket.gethostname()}-{os.getpid()}{final.suffix}")
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ScaleError("ffmpeg is needed on every worker to encode segments")
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "yuv4mpegpipe", "-i", "-"]
    cmd += [*enc.codec_args(), "-f", "matroska", str(tmp_path)]
    last = [time.monotonic()]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if report is not None and done > 0 and (done == total or now - last[0] >= PROGRESS_INTERVAL):
            last[0] = now
            report(index, done)

    if report is not None:
        report(index, 0)  # an attempt begins
    with tempfile.TemporaryFile() as errf:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errf)
        assert proc.stdin is not None
        try:
            out[start:end].output(proc.stdin, y4m=True, progress_update=progress)
            proc.stdin.close()
            code = proc.wait()
            if code != 0:
                errf.seek(0)
                raise ScaleError(f"ffmpeg failed on segment {index} ({code}): {errf.read().decode()[-500:]}")
        except BaseException:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            tmp_path.unlink(missing_ok=True)
            raise
    os.replace(tmp_path, final)
    size = final.stat().st_size
    return SegmentResult(
        index, final.name, mf.file_sha256(final), size, started, mf.now(), socket.gethostname()
    )


def segment_name(index: int) -> str:
    return f"seg-{index:05d}{SEGMENT_SUFFIX}"


# ---------------------------------------------------------------------------------------- planning


def find_cuts(clip: Any, timeline: Any, windows: Iterable[tuple[int, int]]) -> list[int]:
    """Output frames that start a new shot, searched only inside ``windows`` (ranges of output frames around
    the nominal boundaries), with the filter's own scene-cut detector."""
    import numpy as np
    import torch

    from .colour import planes_to_rgb, spec_from_format
    from .scenecut import SceneCutDetector, thumbnail

    detector = SceneCutDetector()
    n_out = timeline.length
    last = clip.num_frames - 1
    thumbs: dict[int, Any] = {}

    def thumb(i: int) -> Any:
        i = min(max(i, 0), last)
        if i not in thumbs:
            f = clip.get_frame(i)
            planes = [torch.from_numpy(np.array(f[p], copy=True)) for p in range(f.format.num_planes)]
            rgb = planes_to_rgb(planes, spec_from_format(f.format, clip.width, clip.height, f.props))
            thumbs[i] = thumbnail(rgb)[0]
        return thumbs[i]

    cuts = set()
    with torch.inference_mode():
        for lo, hi in windows:
            thumbs.clear()
            for i in range(timeline.locate(lo).index, timeline.locate(hi).index):
                if detector.is_cut([thumb(j) for j in (i - 1, i, i + 1, i + 2)]):
                    cuts.add(first_frame_at(lambda n: timeline.locate(n).index, n_out, i + 1))
    return sorted(cuts)


def describe_job(
    fa: FilterArgs, enc: EncodeArgs, output: Path, n_out: int, fps_out: Fraction
) -> dict[str, Any]:
    src = Path(fa.input)
    st = src.stat()
    return {
        "input": str(src.resolve()),
        "input_bytes": st.st_size,
        "input_mtime": st.st_mtime,
        "filter": {k: v for k, v in asdict(fa).items() if k not in ("input", "device")},
        "encode": asdict(enc),
        "output": str(output.resolve()),
        "frames": n_out,
        "fps": f"{fps_out.numerator}/{fps_out.denominator}",
    }


# ---------------------------------------------------------------------------------------- progress


class ProgressLine:
    """``frame 1200/4800  31.2 fps  ETA 1:55  segments 3 done, 2 running, 0 failed (of 8)`` on stderr."""

    def __init__(self, total: int, already: int) -> None:
        self.total = total
        self.already = already
        self.start = time.monotonic()
        self.width = 0

    def draw(self, done: int, running: int, finished: int, failed: int, segments: int) -> None:
        elapsed = time.monotonic() - self.start
        fresh = done - self.already
        rate = fresh / elapsed if elapsed > 0 and fresh > 0 else 0.0
        line = f"frame {done}/{self.total}  {rate:.1f} fps"
        if rate > 0:
            m, s = divmod(round((self.total - done) / rate), 60)
            h, m = divmod(m, 60)
            line += f"  ETA {h}:{m:02d}:{s:02d}" if h else f"  ETA {m}:{s:02d}"
        line += f"  segments {finished} done, {running} running, {failed} failed (of {segments})"
        sys.stderr.write("\r" + line.ljust(self.width))
        sys.stderr.flush()
        self.width = len(line)

    def close(self) -> None:
        if self.width:
            sys.stderr.write("\n")
            sys.stderr.flush()


# ----------------------------------------------------------------------------------------- backends

Submit = Callable[[mf.SegmentState], None]


class _Job:
    """The driver's view of a run: the manifest, live frame counts, and bookkeeping on every event."""

    def __init__(self, manifest: mf.Manifest, path: Path, directory: Path) -> None:
        self.manifest = manifest
        self.path = path
        self.directory = directory
        self.live: dict[int, int] = {}  # segment -> frames written by its current attempt
        self.failed = 0
        self.interrupted = (
            False  # set by Ctrl-C; the loops stop at their next turn (Ray may swallow the signal)
        )
        self.progress = ProgressLine(manifest.segments[-1].end, manifest.frames_done())
        self._drawn = 0.0

    def finished(self, r: SegmentResult, attempts: int) -> None:
        s = self.manifest.segments[r.index]
        s.status, s.file, s.sha256, s.bytes = mf.DONE, r.file, r.sha256, r.bytes
        s.started, s.finished, s.host, s.run, s.attempts = (
            r.started,
            r.finished,
            r.host,
            self.manifest.runs,
            attempts,
        )
        s.error = None
        self.live.pop(r.index, None)
        mf.save(self.manifest, self.path)
        self.draw(force=True)

    def failed_segment(self, index: int, error: str, attempts: int) -> None:
        s = self.manifest.segments[index]
        s.status, s.error, s.attempts = mf.FAILED, error, attempts
        self.live.pop(index, None)
        self.failed += 1
        mf.save(self.manifest, self.path)

    def check(self) -> None:
        if self.interrupted:
            raise KeyboardInterrupt

    def draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn < PROGRESS_INTERVAL:
            return
        self._drawn = now
        segs = self.manifest.segments
        done = self.manifest.frames_done() + sum(self.live.values())
        finished = sum(s.status == mf.DONE for s in segs)
        self.progress.draw(done, len(self.live), finished, self.failed, len(segs))


def _ray_init(placement: Placement, threads: int) -> Any:
    if placement.ray_address is None:
        # A local cluster listens on 127.0.0.1 only: Ray then takes the loopback address as the node's
        # (read when ray is imported, so it is set first; the cluster's processes inherit it).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise ScaleError(
            "--workers and --ray-address need Ray: pip install 'vsrife[scale]' (or pip install ray)"
        ) from None
    common: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "WARNING"}
    if placement.ray_address is not None:
        ray.init(address=placement.ray_address, **common)
    else:
        workers = placement.workers or 1
        # GPUs are found by Ray itself: a task asking for one waits until one is free
        ray.init(num_cpus=workers * threads, object_store_memory=LOCAL_OBJECT_STORE, **common)
    return ray


def _run_ray(job: _Job, fa: FilterArgs, enc: EncodeArgs, placement: Placement, threads: int) -> None:
    gpus = (fa.device or "").startswith("cuda")
    ray = _ray_init(placement, threads)
    try:

        @ray.remote(num_cpus=0)
        class Tally:
            """Frames written by each segment's current attempt, and how many attempts each has had."""

            def __init__(self) -> None:
                self.frames: dict[int, int] = {}
                self.attempts: dict[int, int] = {}

            def begin(self, index: int) -> None:
                self.attempts[index] = self.attempts.get(index, 0) + 1
                self.frames[index] = 0

            def report(self, index: int, done: int) -> None:
                self.frames[index] = done

            def forget(self, index: int) -> None:
                self.frames.pop(index, None)

            def snapshot(self) -> tuple[dict[int, int], dict[int, int]]:
                return dict(self.frames), dict(self.attempts)

        tally = Tally.remote()  # type: ignore[attr-defined]

        task = ray.remote(_ray_render).options(
            num_cpus=threads,
            num_gpus=1 if gpus else 0,
            max_retries=placement.max_retries,
            retry_exceptions=False,
        )
        device = "cuda" if gpus else fa.device  # Ray shows each task only the GPU it was given
        refs = {
            task.remote(fa, enc, s.index, s.start, s.end, str(job.directory), threads, device, tally): s.index
            for s in job.manifest.pending()
        }
        try:
            while refs:
                job.check()
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=PROGRESS_INTERVAL)
                frames, attempts = ray.get(tally.snapshot.remote())
                for ref in ready:
                    index = refs.pop(ref)
                    tally.forget.remote(index)
                    frames.pop(index, None)
                    try:
                        job.finished(ray.get(ref), attempts.get(index, 1))
                    except ray.exceptions.RayError as e:
                        job.failed_segment(index, _first_line(e), attempts.get(index, 1))
                job.live = frames
                job.draw()
        except BaseException:
            for ref in refs:
                ray.cancel(ref, force=True)
            raise
    finally:
        if ray.is_initialized():
            ray.shutdown()


def _ray_render(
    fa: FilterArgs,
    enc: EncodeArgs,
    index: int,
    start: int,
    end: int,
    directory: str,
    threads: int,
    device: str | None,
    tally: Any,
) -> SegmentResult:
    import ray

    # Counted before anything else, and waited for: a worker killed while it loads the model or before an
    # asynchronous report left the process would otherwise leave its attempt uncounted.
    ray.get(tally.begin.remote(index))
    return render_segment(fa, enc, index, start, end, directory, threads, device, tally.report.remote)


def _run_devices(job: _Job, fa: FilterArgs, enc: EncodeArgs, placement: Placement, threads: int) -> None:
    """One worker process per device, without Ray; a worker that dies is replaced and its segment retried."""
    ctx = multiprocessing.get_context("spawn")
    queue = list(job.manifest.pending())
    attempts: dict[int, int] = {}
    pools = {d: cf.ProcessPoolExecutor(1, mp_context=ctx) for d in placement.devices}
    running: dict[cf.Future[SegmentResult], tuple[str, mf.SegmentState]] = {}

    def submit(device: str) -> None:
        if queue:
            s = queue.pop(0)
            attempts[s.index] = attempts.get(s.index, 0) + 1
            fut = pools[device].submit(
                render_segment, fa, enc, s.index, s.start, s.end, str(job.directory), threads, device
            )
            running[fut] = (device, s)
            job.live[s.index] = 0

    try:
        for d in placement.devices:
            submit(d)
        while running:
            job.check()
            ready, _ = cf.wait(list(running), timeout=PROGRESS_INTERVAL, return_when=cf.FIRST_COMPLETED)
            for fut in ready:
                device, s = running.pop(fut)
                try:
                    job.finished(fut.result(), attempts[s.index])
                except cf.process.BrokenProcessPool:
                    pools[device] = cf.ProcessPoolExecutor(1, mp_context=ctx)  # the worker died: a new one
                    job.live.pop(s.index, None)
                    if attempts[s.index] <= placement.max_retries:
                        queue.insert(0, s)
                    else:
                        job.failed_segment(s.index, "the worker process died", attempts[s.index])
                except Exception as e:  # reported per segment, the others go on
                    job.failed_segment(s.index, _first_line(e), attempts[s.index])
                submit(device)
            job.draw()
    except BaseException:
        for pool in pools.values():  # stop the segments in flight now (their partial files are removed)
            for p in list(getattr(pool, "_processes", {}).values()):
                p.terminate()
        raise
    finally:
        for pool in pools.values():
            pool.shutdown(wait=True, cancel_futures=True)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return (lines[-1] if lines else type(e).__name__)[:500]


# ---------------------------------------------------------------------------------------------- join


def join(ffmpeg: str, segments: list[Path], output: Path, source: str | None, duration: float | None) -> None:
    """Concatenate ``segments`` without re-encoding and copy audio/subtitles/chapters of ``source``;
    ``output`` appears only once complete."""
    tmp = output.with_name(f".{output.stem}.partial-{os.getpid()}{output.suffix}")
    listing = output.with_name(f".{output.name}.concat-{os.getpid()}.txt")
    listing.write_text("".join(f"file '{p.resolve()}'\n" for p in segments))
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    cmd += ["-f", "concat", "-safe", "0", "-i", str(listing)]
    if source is not None:
        if duration is not None:
            cmd += ["-t", f"{duration:.6f}"]
        cmd += ["-i", source, "-map", "0:v", "-map", "1:a?", "-map", "1:s?", "-map_chapters", "1"]
    cmd += ["-c", "copy", str(tmp)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise ScaleError(f"joining the segments failed: {_first_line(RuntimeError(r.stderr))}")
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
        listing.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------- entry


def paths_for(output: Path) -> tuple[Path, Path]:
    """(manifest, segment directory) beside ``output``."""
    return output.with_name(output.name + ".vsrife.json"), output.with_name(output.name + ".vsrife")


def interpolate(
    fa: FilterArgs,
    enc: EncodeArgs,
    placement: Placement,
    output: Path,
    audio: bool = True,
) -> int:
    """Render ``fa`` into ``output`` over several workers; returns the exit status (0, 1 failed, 2 bad
    arguments, 130 interrupted)."""
    import vapoursynth as vs

    from .filter import output_timeline

    if enc.lossless and output.suffix.lower() != ".mkv":
        _err(f"vsrife interpolate: --lossless writes FFV1 in Matroska: name the output .mkv; got {output}")
        return 2
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        _err("vsrife interpolate: ffmpeg is needed to encode and join the segments")
        return 2
    threads = placement.threads or max(1, (os.cpu_count() or 1) // max(1, placement.workers or 1))
    if placement.devices:
        threads = placement.threads or max(1, (os.cpu_count() or 1) // len(placement.devices))
    with tempfile.TemporaryDirectory(prefix="vsrife-") as tmp:
        try:
            clip, timecodes, _ = open_trimmed(fa, Path(tmp))
            timeline = output_timeline(
                clip,
                fps=fa.fps,
                factor_num=fa.factor_num,
                factor_den=fa.factor_den,
                timecodes=None if timecodes is None else str(timecodes),
                dedup=fa.dedup,
            )
        except (vs.Error, AttributeError, ValueError) as e:
            _err(f"vsrife interpolate: {e}")
            return 2
        n_out, fps_out = timeline.length, timeline.fps_out
        try:
            target = segment_frames(placement.segment_seconds, fps_out)
        except ValueError as e:
            _err(f"vsrife interpolate: {e}")
            return 2
        man_path, directory = paths_for(output)
        job = describe_job(fa, enc, output, n_out, fps_out)
        try:
            manifest = mf.load(man_path)
        except mf.ManifestError as e:
            _err(f"vsrife interpolate: {e}; delete it to start over")
            return 2
        if manifest is not None and manifest.job != job:
            _err(f"{man_path}: written for other arguments or another input: starting over")
            manifest = None
        if manifest is None:
            cuts = find_cuts(clip, timeline, cut_windows(n_out, target))
            manifest = mf.Manifest.new(job, plan_segments(n_out, target, cuts))
            shutil.rmtree(directory, ignore_errors=True)
        elif manifest.complete and output.is_file():
            _err(f"{output} is complete ({man_path}); delete the manifest to render it again")
            return 0
    directory.mkdir(parents=True, exist_ok=True)
    for s in manifest.segments:
        if s.status == mf.DONE and not mf.verify(s, directory):
            _err(f"segment {s.index} is missing or changed: rendering it again")
            s.status = mf.PENDING
        elif s.status == mf.FAILED:
            s.status = mf.PENDING
    _clean_partials(directory)
    manifest.runs += 1
    manifest.complete = False
    manifest.history.append({"run": manifest.runs, "started": mf.now(), "pending": len(manifest.pending())})
    mf.save(manifest, man_path)
    todo = manifest.pending()
    _err(
        f"{fa.input}: {n_out} output frames at {fps_out} fps in {len(manifest.segments)} segments; "
        f"{len(todo)} to render ({len(manifest.segments) - len(todo)} done before), {threads} thread(s) each"
    )
    state = _Job(manifest, man_path, directory)

    def on_interrupt(signum: int, frame: Any) -> None:
        if state.interrupted:  # a second Ctrl-C: at once
            raise KeyboardInterrupt
        state.interrupted = True

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        if todo:
            if placement.devices:
                _run_devices(state, fa, enc, placement, threads)
            else:
                _run_ray(state, fa, enc, placement, threads)
    except KeyboardInterrupt:
        state.progress.close()
        mf.save(manifest, man_path)
        _clean_partials(directory)
        done = sum(s.status == mf.DONE for s in manifest.segments)
        _err(f"interrupted: {done} of {len(manifest.segments)} segments done; run the same command to go on")
        return 130
    except ScaleError as e:
        state.progress.close()
        _err(f"vsrife interpolate: {e}")
        return 2
    finally:
        signal.signal(signal.SIGINT, previous)
    state.progress.close()
    failed = [s for s in manifest.segments if s.status != mf.DONE]
    if failed:
        for s in failed:
            _err(f"segment {s.index} (frames {s.start}-{s.end - 1}) failed: {s.error}")
        _err(f"{len(failed)} segment(s) failed; the others are kept: run the same command to retry")
        return 1
    duration = float(Fraction(n_out) / fps_out) if fa.frames else None
    try:
        join(
            ffmpeg,
            [directory / str(s.file) for s in manifest.segments],
            output,
            fa.input if audio else None,
            duration,
        )
    except ScaleError as e:
        _err(f"vsrife interpolate: {e}")
        return 1
    manifest.complete = True
    manifest.history[-1]["finished"] = mf.now()
    mf.save(manifest, man_path)
    shutil.rmtree(directory, ignore_errors=True)  # the output holds every frame now
    _err(f"wrote {output}: {n_out} frames at {fps_out} fps")
    return 0


def _clean_partials(directory: Path) -> None:
    for p in directory.glob(".seg-*.partial-*"):
        p.unlink(missing_ok=True)


def from_args(args: argparse.Namespace) -> int:
    """``vsrife interpolate`` with ``--workers``, ``--ray-address`` or ``--devices``."""
    if args.output == "-":
        _err("vsrife interpolate: --workers, --ray-address and --devices write a file; -o - is not possible")
        return 2
    if args.workers is not None and args.workers < 1:
        _err(f"vsrife interpolate: --workers must be 1 or more; got {args.workers}")
        return 2
    devices = tuple(d.strip() for d in (args.devices or "").split(",") if d.strip())
    fa = filter_args(args)
    enc = EncodeArgs(lossless=args.lossless, crf=args.crf, preset=args.preset)
    placement = Placement(
        workers=args.workers,
        ray_address=args.ray_address,
        devices=devices,
        threads=args.threads,
        segment_seconds=args.segment_seconds,
    )
    return interpolate(fa, enc, placement, Path(args.output), audio=not args.no_audio)
