"""vsrife.encode and `vsrife interpolate` to files: whole outputs, every video frame, other streams kept."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest

from vsrife.encode import (
    ENCODERS,
    EncodeError,
    EncodeSettings,
    MuxPlan,
    SourceStream,
    choose_backend,
    ffmpeg_command,
    format_progress,
    temporary_path,
    y4m_colorspace,
    y4m_header,
)

VSRIFE = [sys.executable, "-m", "vsrife"]
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg missing")


# ------------------------------------------------------------------------------------------ pure parts


def test_progress_line_has_rate_and_eta():
    assert format_progress(40, 100, 4.0) == "frame 40/100  10.0 fps  ETA 0:06"
    assert format_progress(0, 100, 0.0) == "frame 0/100  0.0 fps"
    assert format_progress(1, 200_001, 1.0).endswith("ETA 55:33:20")


def test_temporary_name_is_hidden_beside_the_output():
    tmp = temporary_path(Path("/videos/film.mkv"), "7")
    assert tmp == Path("/videos/.film.partial-7.mkv") and tmp.parent == Path("/videos")


def test_y4m_tags():
    assert y4m_colorspace("yuv", 1, 1, 8) == "420"
    assert y4m_colorspace("yuv", 1, 1, 10) == "420p10"
    assert y4m_colorspace("yuv", 0, 0, 16) == "444p16"
    assert y4m_colorspace("gray", 0, 0, 8) == "mono"
    with pytest.raises(EncodeError, match="YUV or GRAY"):
        y4m_colorspace("rgb", 0, 0, 8)
    assert y4m_header(176, 144, Fraction(60000, 1001), "420", (1, 1)) == (
        b"YUV4MPEG2 W176 H144 F60000:1001 Ip A1:1 C420\n"
    )


def _plan(streams: tuple[SourceStream, ...], duration: float | None = None) -> MuxPlan:
    return MuxPlan(Path("in.mkv"), streams, 0.023, duration)


STREAMS = (
    SourceStream(0, "video", "h264"),
    SourceStream(1, "audio", "aac"),
    SourceStream(2, "subtitle", "subrip"),
    SourceStream(3, "subtitle", "hdmv_pgs_subtitle"),
    SourceStream(4, "attachment", "ttf"),
)


def test_mux_keeps_every_stream_whole_in_matroska():
    cmd, kinds, notes = ffmpeg_command("ffmpeg", EncodeSettings(), Path("out.mkv"), _plan(STREAMS))
    line = " ".join(cmd)
    assert "-shortest" not in cmd and "-t" not in cmd  # nothing is cut: each stream keeps its length
    assert "-map 0:v:0 -map 1:1 -map 1:2 -map 1:3 -map 1:4" in line
    assert "-map_chapters 1" in line and "-c:a copy" in line and "-c:s copy" in line
    assert "-itsoffset 0.023000" in line  # the new video starts where the source video started
    assert kinds == ("audio", "subtitle", "attachment") and notes == []


def test_mux_into_mp4_converts_text_subtitles_and_names_what_it_leaves_out():
    cmd, kinds, notes = ffmpeg_command("ffmpeg", EncodeSettings("x264"), Path("out.mp4"), _plan(STREAMS, 1.5))
    line = " ".join(cmd)
    assert "-map 1:2 -c:s:0 mov_text" in line and "1:3" not in line and "1:4" not in line
    assert line.index("-t 1.500000") < line.index("-i in.mkv")  # only the rendered part of the source
    assert "-c:v libx264" in line and kinds == ("audio", "subtitle")
    assert notes == ["subtitle stream 3 (hdmv_pgs_subtitle) is a bitmap format .mp4 cannot hold"]


def test_encoder_table():
    assert set(ENCODERS) == {"x265", "x264", "ffv1", "prores"}
    cmd, _, _ = ffmpeg_command("ffmpeg", EncodeSettings("prores"), Path("o.mov"))
    assert "prores_ks" in cmd and "yuv422p10le" in cmd and "-crf" not in cmd
    with pytest.raises(EncodeError, match="encoder must be one of x265, x264, ffv1, prores; got 'vp9'"):
        _ = EncodeSettings("vp9").spec


def test_missing_encoders_are_named_with_the_fix():
    with pytest.raises(
        EncodeError, match=r"--encoder x264 needs ffmpeg with libx264, but ffmpeg is not inst"
    ):
        choose_backend(ENCODERS["x264"], Path("o.mkv"), None, None)
    with pytest.raises(EncodeError, match=r"name the output \.hevc, or install ffmpeg"):
        choose_backend(ENCODERS["x265"], Path("o.mkv"), None, "/usr/bin/x265")
    assert choose_backend(ENCODERS["x265"], Path("o.hevc"), None, "/usr/bin/x265") == "x265"


# ------------------------------------------------------------------------------------- real material


def _probe(path: Path) -> dict:
    r = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_type,codec_name,r_frame_rate,nb_read_frames:format=duration",
            "-show_chapters",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def av_input(tmp_path_factory, carphone_path) -> Path:
    """12 frames of carphone (0.4 s) with 1.5 s of AAC audio (longer than the video), an SRT track and
    two chapters, made with ffmpeg."""
    d = tmp_path_factory.mktemp("av")
    (d / "s.srt").write_text(
        "1\n00:00:00,000 --> 00:00:00,300\nhello\n\n2\n00:00:00,300 --> 00:00:01,000\nworld\n"
    )
    (d / "ch.txt").write_text(
        ";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=200\ntitle=One\n"
        "[CHAPTER]\nTIMEBASE=1/1000\nSTART=200\nEND=400\ntitle=Two\n"
    )
    ff = ["ffmpeg", "-v", "error", "-y"]
    subprocess.run(
        [
            *ff,
            "-i",
            str(carphone_path),
            "-frames:v",
            "12",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            str(d / "v.mkv"),
        ],
        check=True,
    )
    subprocess.run(
        [*ff, "-f", "lavfi", "-i", "sine=f=440:d=1.5", "-c:a", "aac", str(d / "a.m4a")], check=True
    )
    out = d / "in.mkv"
    subprocess.run(
        [
            *ff,
            "-i",
            str(d / "v.mkv"),
            "-i",
            str(d / "a.m4a"),
            "-i",
            str(d / "s.srt"),
            "-i",
            str(d / "ch.txt"),
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-map",
            "2:s",
            "-map_chapters",
            "3",
            "-c",
            "copy",
            "-c:s",
            "srt",
            str(out),
        ],
        check=True,
    )
    return out


@needs_ffmpeg
@pytest.mark.slow
def test_interpolate_keeps_every_frame_and_the_other_streams(tmp_path, av_input):
    """The bug that lost video: audio longer than the video ended the mux early (-shortest)."""
    out = tmp_path / "out.mkv"
    r = subprocess.run(
        [
            *VSRIFE,
            "interpolate",
            str(av_input),
            "-o",
            str(out),
            "--fps",
            "60",
            "--model",
            "4.0",
            "--preset",
            "ultrafast",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0 and r.stdout == "", r.stderr
    assert "copied audio and subtitle" in r.stderr and "Traceback" not in r.stderr
    src, got = _probe(av_input), _probe(out)
    kinds = {s["codec_type"]: s for s in got["streams"]}
    assert set(kinds) == {"video", "audio", "subtitle"}
    assert kinds["subtitle"]["codec_name"] == "subrip" and int(kinds["subtitle"]["nb_read_frames"]) == 2
    src_audio = next(s for s in src["streams"] if s["codec_type"] == "audio")
    assert kinds["audio"]["nb_read_frames"] == src_audio["nb_read_frames"]  # audio kept whole, not trimmed
    assert [c["tags"]["title"] for c in got["chapters"]] == ["One", "Two"]
    video = kinds["video"]
    assert video["r_frame_rate"] == "60/1"
    frames = int(video["nb_read_frames"])
    assert frames == 25  # ceil(12 * 60 * 1001 / 30000): every frame reached the file
    src_video = 12 * 1001 / 30000
    assert abs(frames / 60 - src_video) < 1 / 60  # the video lasts as long as the source's, within a frame
    assert abs(float(got["format"]["duration"]) - float(src["format"]["duration"])) < 0.05  # audio-limited
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


@needs_ffmpeg
def test_encoder_failure_is_one_clear_line(tmp_path, av_input):
    out = tmp_path / "out.mkv"
    r = subprocess.run(
        [*VSRIFE, "interpolate", str(av_input), "-o", str(out), "--model", "4.0", "--preset", "nonsense"],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("vsrife interpolate: ffmpeg") and "exit code" in last
    assert list(tmp_path.iterdir()) == []


def test_missing_encoder_is_named(tmp_path, carphone_path):
    env = dict(os.environ, PATH=str(Path(sys.executable).parent))  # no ffmpeg, no x265
    r = subprocess.run(
        [
            *VSRIFE,
            "interpolate",
            str(carphone_path),
            "-o",
            str(tmp_path / "o.mkv"),
            "--model",
            "4.0",
            "--frames",
            "3",
            "--encoder",
            "x264",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert r.returncode == 2
    assert "--encoder x264 needs ffmpeg with libx264, but ffmpeg is not installed" in r.stderr
    assert "frames at" not in r.stderr  # refused before the source was opened or the model loaded
    assert list(tmp_path.iterdir()) == []


@needs_ffmpeg
@pytest.mark.slow
@pytest.mark.parametrize("encoder, codec", [("ffv1", "ffv1"), ("x264", "h264")])
def test_other_encoders(tmp_path, carphone_path, encoder, codec):
    out = tmp_path / "o.mkv"
    r = subprocess.run(
        [
            *VSRIFE,
            "interpolate",
            str(carphone_path),
            "-o",
            str(out),
            "--model",
            "4.0",
            "--frames",
            "3",
            "--encoder",
            encoder,
            "--preset",
            "ultrafast",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    video = _probe(out)["streams"][0]
    assert video["codec_name"] == codec and int(video["nb_read_frames"]) == 6


@needs_ffmpeg
@pytest.mark.slow
def test_sigint_leaves_nothing_under_the_output_name(tmp_path, carphone_path):
    out = tmp_path / "out.mkv"
    proc = subprocess.Popen(
        [
            *VSRIFE,
            "interpolate",
            str(carphone_path),
            "-o",
            str(out),
            "--fps",
            "60",
            "--model",
            "4.0",
            "--preset",
            "ultrafast",
            "--progress",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    assert proc.stderr is not None
    # Wait until frames are flowing into the encoder (the first progress line with a rate), then interrupt.
    seen = ""
    while "fps  ETA" not in seen and time.monotonic() < deadline and proc.poll() is None:
        seen += proc.stderr.read(1)
    partial = list(tmp_path.glob(".out.partial-*.mkv"))
    assert partial, "the encoder should be writing to a temporary name"
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, seen + rest
    assert "interrupted; nothing was written under the output name" in rest
    assert not out.exists() and list(tmp_path.iterdir()) == []
