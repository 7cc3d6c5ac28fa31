"""The command line as a newcomer uses it: stderr for people, stdout for video only."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys

import pytest

VSRIFE = [sys.executable, "-m", "vsrife"]


def test_list_reports_plugin_and_weights(v40_weights):
    r = subprocess.run([*VSRIFE, "list"], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0 and r.stdout == ""
    assert "core.rife.RIFE is vsrife's shim" in r.stderr
    assert str(v40_weights) in r.stderr and "4.26.heavy" in r.stderr


@pytest.mark.slow
def test_interpolate_to_y4m_on_stdout(carphone_path):
    r = subprocess.run(
        [
            *VSRIFE,
            "interpolate",
            str(carphone_path),
            "-o",
            "-",
            "--fps",
            "60",
            "--model",
            "4.0",
            "--frames",
            "5",
        ],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stderr.decode()
    header = r.stdout.split(b"\n", 1)[0].split()
    assert header[0] == b"YUV4MPEG2" and {b"W176", b"H144", b"F60:1", b"C420"} <= set(header)
    assert r.stdout.count(b"FRAME") == 11  # 5 frames at 29.97 fps last 0.1668 s -> ceil(10.01) at 60 fps
    assert b"-> 11 frames at 60 fps" in r.stderr


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg missing")
def test_interpolate_to_file(tmp_path, carphone_path):
    out = tmp_path / "out.mkv"
    r = subprocess.run(
        [
            *VSRIFE,
            "interpolate",
            str(carphone_path),
            "-o",
            str(out),
            "--factor",
            "5/2",
            "--model",
            "4.0",
            "--frames",
            "6",
            "--preset",
            "ultrafast",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0 and r.stdout == "", r.stderr
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,r_frame_rate,nb_read_frames",
            "-of",
            "json",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    stream = json.loads(probe.stdout)["streams"][0]
    num, den = map(int, stream["r_frame_rate"].split("/"))
    assert (
        stream["codec_name"] == "hevc" and abs(num / den - 75000 / 1001) < 0.01
    )  # Matroska keeps ms timestamps
    assert int(stream["nb_read_frames"]) == 15


@pytest.mark.slow
def test_interpolate_errors(tmp_path, carphone_path):
    r = subprocess.run(
        [*VSRIFE, "interpolate", str(carphone_path), "-o", "-", "--fps", "24", "--model", "4.0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 2 and r.stdout == ""
    assert "fps must be higher than the clip's 30000/1001" in r.stderr
    r = subprocess.run(
        [*VSRIFE, "interpolate", str(tmp_path / "none.mkv"), "-o", "-"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 2 and "cannot open" in r.stderr
    r = subprocess.run(
        [*VSRIFE, "interpolate", str(carphone_path), "-o", "-", "--factor", "x"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 2 and "--factor must look like 2 or 5/2" in r.stderr


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg missing")
def test_interpolate_resamples_a_vfr_file_by_its_timestamps(tmp_path, carphone_path):
    """A real VFR Matroska file (20 frames at 30 fps, then 20 at 15 fps): bestsource reports its mean rate,
    the
    CLI takes the timestamps bestsource wrote while indexing, and the filter never decodes the file to read
    durations."""
    from vsrife.cli import open_source

    vfr = tmp_path / "vfr.mkv"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(carphone_path),
            "-vf",
            "setpts='if(lt(N,20),N/30/TB,(20/30+(N-20)/15)/TB)'",
            "-fps_mode",
            "vfr",
            "-frames:v",
            "40",
            "-c:v",
            "libx264",
            "-crf",
            "18",
            str(vfr),
        ],
        check=True,
    )
    clip, tc = open_source(str(vfr), tmp_path)
    assert (
        clip.num_frames == 40 and clip.fps_num != 0 and tc is not None
    )  # bestsource: "CFR" at the mean rate
    assert open_source(str(carphone_path), tmp_path)[1] is None  # a constant-rate file needs no timecodes
    r = subprocess.run(
        [*VSRIFE, "interpolate", str(vfr), "-o", "-", "--fps", "60", "--model", "4.0", "--no-sc"],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stderr.decode()
    assert b"variable frame rate: resampling by the file's timestamps" in r.stderr
    assert b"frame durations" not in r.stderr  # nothing decoded twice
    # 2.0 s (the last frame lasts as long as the one before it; millisecond timestamps) at 60 fps
    assert r.stdout.count(b"FRAME") in (120, 121)


def test_an_interrupt_swallowed_on_its_way_still_stops_the_render():
    """A Ctrl-C whose KeyboardInterrupt is cleared by the code it lands in (an extension running Python's
    signal check) is remembered: the next frame's progress call raises it again."""
    from vsrife import cli

    seen: list[int] = []
    checked = cli._stop_when_interrupted(lambda done, total: seen.append(done))
    cli._interrupted.clear()
    checked(1, 10)
    assert seen == [1]
    with contextlib.suppress(KeyboardInterrupt):  # swallowed where it was raised
        cli._interrupt(2, None)
    with pytest.raises(KeyboardInterrupt):
        checked(2, 10)
    assert seen == [1]
    cli._interrupted.clear()
