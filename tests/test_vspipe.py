"""The product as users run it: a .vpy with nothing but a source and `core.rife.RIFE(clip, fps=60)`, through
real vspipe into real x265, checked by ffprobe."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

VSPIPE = Path(sys.executable).with_name("vspipe")


@pytest.mark.skipif(
    shutil.which("x265") is None or shutil.which("ffprobe") is None, reason="x265/ffprobe missing"
)
def test_vpy_through_vspipe_into_x265(tmp_path, bbb_path, v40_weights):
    vpy = tmp_path / "script.vpy"
    vpy.write_text(
        "from vapoursynth import core\n"
        f"clip = core.bs.VideoSource({str(bbb_path)!r})          # YUV420P8, 25 fps\n"
        "clip = core.rife.RIFE(clip, fps=60)\n"
        "clip.set_output()\n"
    )
    env = dict(
        os.environ, VSRIFE_MODEL_DIR=str(tmp_path / "models")
    )  # only the repo's weights/ (v4.0) remain
    info = subprocess.run(
        [str(VSPIPE), "--info", str(vpy), "-"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert info.returncode == 0, info.stderr
    assert "Frames: 317" in info.stdout and "FPS: 60/1" in info.stdout  # ceil(132 * 60 / 25)
    assert "using 4.0" in info.stderr  # 4.25 is not installed: the newest installed release is named

    out = tmp_path / "out.hevc"
    pipe = subprocess.Popen(
        [str(VSPIPE), "-c", "y4m", "-e", "23", str(vpy), "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    enc = subprocess.run(
        ["x265", "--log-level", "error", "--y4m", "-", "--preset", "ultrafast", "-o", str(out)],
        stdin=pipe.stdout,
        capture_output=True,
        timeout=600,
        check=False,
    )
    assert pipe.stdout is not None
    pipe.stdout.close()
    assert pipe.wait(timeout=60) == 0, pipe.stderr.read() if pipe.stderr else ""
    assert enc.returncode == 0, enc.stderr
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height,r_frame_rate,nb_read_frames,pix_fmt",
            "-of",
            "json",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    stream = json.loads(probe.stdout)["streams"][0]
    assert stream["codec_name"] == "hevc" and stream["pix_fmt"] == "yuv420p"
    assert (stream["width"], stream["height"]) == (1280, 720)
    assert stream["r_frame_rate"] == "60/1"
    assert int(stream["nb_read_frames"]) == 24
