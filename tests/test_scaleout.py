"""Scale-out: segments rendered by Ray workers give the frames of a single-process run, bit for bit; a killed
worker is retried; an interrupted job renders only what is missing; audio and duration follow the input.

The slow tests run the real command line, which starts a real local Ray cluster (bound to 127.0.0.1) and
shuts it down; every process a test starts is gone when it ends.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vsrife import manifest as mf
from vsrife.segments import Segment, cut_windows, first_frame_at, nominal_boundaries, plan_segments

VSRIFE = [sys.executable, "-m", "vsrife", "interpolate"]
COMMON = ["--model", "4.0", "--fps", "60", "--lossless", "--segment-seconds", "0.5"]
pytestmark_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg missing")


# ------------------------------------------------------------------------------------ pure planning


def test_segments_cover_the_timeline_without_gaps():
    for n_out in (1, 2, 29, 30, 31, 44, 45, 46, 1000, 432_000):
        for target in (1, 7, 30, 3600):
            segs = plan_segments(n_out, target)
            assert segs[0].start == 0 and segs[-1].end == n_out
            assert all(a.end == b.start for a, b in itertools.pairwise(segs))
            assert all(s.frames > 0 for s in segs) and [s.index for s in segs] == list(range(len(segs)))
            if len(segs) > 1:  # no tiny tail: a last piece under half a target joins the one before
                assert segs[-1].frames >= target // 2


def test_boundaries_move_to_the_nearest_cut_within_the_slack():
    assert nominal_boundaries(400, 100) == [100, 200, 300]
    # cuts at 90 (10 from 100), 230 (30 from 200: too far for slack 25), 310 and 290 (tie: the earlier)
    segs = plan_segments(400, 100, [90, 230, 290, 310])
    assert [(s.start, s.end) for s in segs] == [(0, 90), (90, 200), (200, 290), (290, 400)]
    assert cut_windows(400, 100) == [(75, 125), (175, 225), (275, 325)]
    assert plan_segments(10, 100) == [Segment(0, 0, 10)]


def test_first_frame_at_a_source_index():
    # 24 -> 60 fps: output n shows source floor(n * 2 / 5)
    def locate(n: int) -> int:
        return n * 2 // 5

    for i in range(1, 20):
        n = first_frame_at(locate, 100, i)
        assert locate(n) >= i and locate(n - 1) < i


def test_a_boundary_moves_to_a_real_cut(carphone_path, bbb_path):
    import vapoursynth as vs

    from vsrife.filter import output_timeline
    from vsrife.scaleout import find_cuts

    core = vs.core
    a = core.bs.VideoSource(str(carphone_path))[:40]
    b = core.bs.VideoSource(str(bbb_path))[:40].resize.Bicubic(a.width, a.height, format=a.format.id)
    clip = a + b.std.AssumeFPS(a)  # a hard cut between source frames 39 and 40
    timeline = output_timeline(clip, fps=60)
    cut = first_frame_at(lambda n: timeline.locate(n).index, timeline.length, 40)
    assert (timeline.length, cut) == (161, 81)
    target = 70  # one nominal boundary, at output frame 70; the cut is 11 frames later
    assert find_cuts(clip, timeline, cut_windows(timeline.length, target)) == [cut]
    segs = plan_segments(timeline.length, target, [cut])
    assert [(s.start, s.end) for s in segs] == [(0, 81), (81, 161)]


def test_manifest_round_trip_and_verify(tmp_path: Path):
    m = mf.Manifest.new({"input": "x"}, plan_segments(100, 30))
    seg = tmp_path / "seg-00000.mkv"
    seg.write_bytes(b"frames")
    s = m.segments[0]
    s.status, s.file, s.bytes, s.sha256 = mf.DONE, seg.name, 6, mf.file_sha256(seg)
    path = tmp_path / "out.mkv.vsrife.json"
    mf.save(m, path)
    back = mf.load(path)
    assert back == m and [p.index for p in back.pending()] == [1, 2]
    assert mf.verify(back.segments[0], tmp_path)
    seg.write_bytes(b"framez")  # same size, other content
    assert not mf.verify(back.segments[0], tmp_path)
    path.write_text("{}")
    with pytest.raises(mf.ManifestError, match="format"):
        mf.load(path)


def test_bad_scale_arguments_are_refused(tmp_path: Path, carphone_path):
    r = subprocess.run(
        [*VSRIFE, str(carphone_path), "-o", str(tmp_path / "o.mp4"), "--lossless", "--workers", "2"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "--lossless writes FFV1 in Matroska" in r.stderr
    r = subprocess.run(
        [*VSRIFE, str(carphone_path), "-o", "-", "--workers", "2"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "-o - is not possible" in r.stderr and r.stdout == ""


# ----------------------------------------------------------------------------------- real runs


def frame_md5s(path: Path) -> list[str]:
    """Hashes of the decoded frames, in order, one per frame in the file (no frame dropped or repeated)."""
    r = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-map",
            "0:v",
            "-fps_mode",
            "passthrough",
            "-f",
            "framemd5",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return [ln.rsplit(",", 1)[1].strip() for ln in r.stdout.splitlines() if ln and not ln.startswith("#")]


def audio_md5(path: Path) -> str:
    r = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a", "-f", "md5", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return r.stdout.strip()


def duration(path: Path) -> float:
    r = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(r.stdout)


@pytest.fixture(scope="module")
def sample(tmp_path_factory, carphone_path) -> tuple[Path, list[str]]:
    """A 2-second input with audio (the real carphone sample plus a tone) and the frame hashes of a
    single-process ``--lossless`` run of it."""
    d = tmp_path_factory.mktemp("scaleout")
    src = d / "in.mkv"
    tone = "sine=frequency=440:duration=2"
    video = ["-c:v", "libx264", "-qp", "0", "-preset", "ultrafast"]  # lossless, so the source is exact
    inputs = ["-i", str(carphone_path), "-f", "lavfi", "-i", tone]
    streams = ["-frames:v", "60", "-map", "0:v", "-map", "1:a", *video, "-c:a", "flac"]
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", *inputs, *streams, str(src)],
        check=True,
    )
    ref = d / "ref.mkv"
    r = subprocess.run(
        # one thread, as each of two workers on this 2-core machine: oneDNN's sums depend on the thread count
        [
            *VSRIFE,
            str(src),
            "-o",
            str(ref),
            "--model",
            "4.0",
            "--fps",
            "60",
            "--lossless",
            "--no-audio",
            "--threads",
            "1",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    hashes = frame_md5s(ref)
    assert len(hashes) == 121  # 60 frames at 29.97 fps last 2.002 s: ceil(120.12) frames at 60 fps
    return src, hashes


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pids: set[int]) -> set[int]:
    out = set()
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.add(p)
    return out


def wait_for(cond, timeout: float, proc: subprocess.Popen) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"the job ended first ({proc.returncode}): {proc.stderr.read()}")
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.2)


def finish(proc: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode, err


def manifest_of(out: Path) -> dict:
    return json.loads(out.with_name(out.name + ".vsrife.json").read_text())


@pytestmark_ffmpeg
@pytest.mark.slow
def test_two_ray_workers_match_single_process_with_audio_and_duration(sample, tmp_path):
    src, ref = sample
    out = tmp_path / "out.mkv"
    r = subprocess.run(
        [*VSRIFE, str(src), "-o", str(out), *COMMON, "--workers", "2"],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert frame_md5s(out) == ref
    assert "segments 4 done, 0 running, 0 failed (of 4)" in r.stderr and r.stdout == ""
    m = manifest_of(out)
    assert m["complete"] and [(s["start"], s["end"]) for s in m["segments"]] == [
        (0, 30),
        (30, 60),
        (60, 90),
        (90, 121),
    ]
    assert all(s["status"] == "done" and len(s["sha256"]) == 64 for s in m["segments"])
    assert not out.with_name(out.name + ".vsrife").exists()  # segments are gone once the output holds them
    assert audio_md5(out) == audio_md5(src)
    assert abs(duration(out) - duration(src)) <= 1 / 60 + 1e-3


@pytestmark_ffmpeg
@pytest.mark.slow
def test_killed_worker_is_retried_and_frames_stay_identical(sample, tmp_path):
    src, ref = sample
    out = tmp_path / "out.mkv"
    segdir = out.with_name(out.name + ".vsrife")
    proc = subprocess.Popen(
        [*VSRIFE, str(src), "-o", str(out), *COMMON, "--workers", "2"], stderr=subprocess.PIPE, text=True
    )

    def writing() -> bool:  # a worker is in the middle of a segment: its partial file holds frames
        return (
            any(p.stat().st_size > 20_000 for p in segdir.glob(".seg-*.partial-*"))
            if segdir.is_dir()
            else False
        )

    wait_for(writing, 300, proc)
    workers = [p for p in descendants(proc.pid) if cmdline(p).startswith("ray::_ray_render")]
    assert workers, "no Ray worker found under the job"
    os.kill(workers[0], signal.SIGKILL)
    code, err = finish(proc)
    assert code == 0, err
    assert frame_md5s(out) == ref
    attempts = [s["attempts"] for s in manifest_of(out)["segments"]]
    assert max(attempts) >= 2, attempts


@pytestmark_ffmpeg
@pytest.mark.slow
def test_interrupted_job_renders_only_missing_segments(sample, tmp_path):
    src, ref = sample
    out = tmp_path / "out.mkv"
    cmd = [*VSRIFE, str(src), "-o", str(out), *COMMON, "--workers", "1", "--threads", "1"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    man = out.with_name(out.name + ".vsrife.json")

    def one_done() -> bool:
        try:
            return any(s["status"] == "done" for s in json.loads(man.read_text())["segments"])
        except (OSError, ValueError):
            return False

    wait_for(one_done, 300, proc)
    below = descendants(proc.pid)
    proc.send_signal(signal.SIGINT)
    code, err = finish(proc, 120)
    assert code == 130, err
    assert "run the same command to go on" in err
    assert not out.exists()  # nothing under the final name
    segdir = out.with_name(out.name + ".vsrife")
    assert not list(segdir.glob(".seg-*.partial-*"))  # and no half-written segment
    deadline = time.monotonic() + 30
    while alive(below) and time.monotonic() < deadline:  # Ray's processes go with the job
        time.sleep(0.5)
    assert not alive(below), [cmdline(p) for p in alive(below)]
    first = manifest_of(out)
    done_before = {s["index"]: s for s in first["segments"] if s["status"] == "done"}
    assert 0 < len(done_before) < 4
    interrupted_at = time.time()

    r = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert f"{4 - len(done_before)} to render ({len(done_before)} done before)" in r.stderr
    second = manifest_of(out)
    assert second["runs"] == 2 and second["complete"]
    for s in second["segments"]:
        if s["index"] in done_before:  # kept from the first run, untouched
            assert s == done_before[s["index"]] and s["run"] == 1
        else:
            assert s["run"] == 2 and s["started"] >= interrupted_at
    assert frame_md5s(out) == ref


@pytestmark_ffmpeg
@pytest.mark.slow
def test_devices_run_one_worker_per_device_without_ray(sample, tmp_path):
    src, ref = sample
    out = tmp_path / "out.mkv"
    r = subprocess.run(
        [*VSRIFE, str(src), "-o", str(out), *COMMON, "--devices", "cpu,cpu", "--threads", "1"],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert frame_md5s(out) == ref
    assert manifest_of(out)["complete"] and "segments 4 done" in r.stderr
