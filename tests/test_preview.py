"""`vsrife preview`: the picture's geometry, its panels on a real moving clip, and the looping clip."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from vsrife.preview import (
    GAP,
    HEADER_HEIGHT,
    LABEL_HEIGHT,
    Layout,
    PreviewError,
    flow_to_rgb,
    panel_size,
    parse_time,
    read_png,
    write_png,
)

VSRIFE = [sys.executable, "-m", "vsrife"]


@pytest.mark.parametrize(
    "text, seconds", [("12", 12.0), ("12.5", 12.5), ("1:02.5", 62.5), ("00:00:12", 12.0), ("1:00:00", 3600.0)]
)
def test_parse_time(text, seconds):
    assert parse_time(text) == seconds


def test_parse_time_names_the_argument():
    with pytest.raises(
        PreviewError, match=r"--at must be a time like 12, 12\.5, 1:02\.5 or 00:00:12; got '1h'"
    ):
        parse_time("1h")


def test_layout():
    assert panel_size(176, 144) == (352, 288)  # small frames are enlarged by an integer factor
    assert panel_size(1920, 1080) == (640, 360)
    lay = Layout(4, 352, 288)
    assert (lay.width, lay.height) == (4 * 352 + 5 * GAP, HEADER_HEIGHT + 3 * (LABEL_HEIGHT + 288 + GAP))
    assert lay.box(0, 0) == (GAP, HEADER_HEIGHT + LABEL_HEIGHT, GAP + 352, HEADER_HEIGHT + LABEL_HEIGHT + 288)
    boxes = [lay.box(r, c) for r in range(3) for c in range(4)]
    for i, a in enumerate(boxes):  # panels never overlap
        for b in boxes[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
    with pytest.raises(IndexError):
        lay.box(3, 0)


def test_flow_colours():
    flow = np.zeros((2, 2, 3))
    flow[0, 0, 0] = 4  # right
    flow[1, 0, 1] = 4  # down
    flow[0, 0, 2] = -2  # left, half length
    rgb = flow_to_rgb(flow, max_length=4)
    assert rgb[0, 0].tolist() == [255, 0, 0]
    assert rgb[0, 1].tolist() == [128, 255, 0]
    assert rgb[0, 2].tolist() == [0, 128, 128]
    assert rgb[1].tolist() == [[0, 0, 0]] * 3  # no motion is black


def test_png_round_trip(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    write_png(tmp_path / "a.png", img)
    assert np.array_equal(read_png(tmp_path / "a.png"), img)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_inference_with_aux_matches_inference(v40_weights):
    from vsrife.model import RIFE_HDv3

    model = RIFE_HDv3("4.0", device="cpu", precision="fp32").load_weights(v40_weights)
    pair = torch.rand(1, 6, 40, 56, generator=torch.Generator().manual_seed(1))
    aux = model.inference_with_aux(pair, 0.3)
    assert torch.equal(aux.frame, model.inference(pair, 0.3))
    assert aux.flow.shape == (1, 4, 40, 56) and aux.mask.shape == (1, 1, 40, 56)
    assert float(aux.mask.min()) >= 0 and float(aux.mask.max()) <= 1
    with pytest.raises(ValueError, match=r"timestep must be a float"):
        model.inference_with_aux(pair, 1.5)


def _preview(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*VSRIFE, "preview", *args], check=False, capture_output=True, text=True, timeout=300
    )


def test_preview_picture_on_a_moving_clip(tmp_path, carphone_path):
    out = tmp_path / "p.png"
    r = _preview(str(carphone_path), "--at", "00:00:02", "--fps", "60", "--model", "4.0", "-o", str(out))
    assert r.returncode == 0 and r.stdout == "", r.stderr
    k = int(re.search(r"(\d+) interpolated frame", r.stderr).group(1))
    assert k == 2  # 29.97 -> 60 fps puts two output frames between source frames 59 and 60
    lay = Layout(k + 2, *panel_size(176, 144))
    img = read_png(out)
    assert img.shape == (lay.height, lay.width, 3)

    def panel(row: int, col: int) -> np.ndarray:
        x0, y0, x1, y1 = lay.box(row, col)
        return img[y0:y1, x0:x1].astype(np.int16)

    first, last = panel(0, 0), panel(0, k + 1)
    assert np.array_equal(first[::2, ::2], first[1::2, 1::2])  # enlarged x2, nearest neighbour
    assert np.abs(first - last).mean() > 1  # the clip moves between the two source frames
    for col in range(1, k + 1):
        mid, flow, mask = panel(0, col), panel(1, col), panel(2, col)
        # neither source copied; the frame near t = 1/2 is well away from both (the other one is at t = 0.97,
        # so close to the last source frame by design)
        assert np.abs(mid - first).mean() > 0 and np.abs(mid - last).mean() > 0
        if col == 1:
            assert np.abs(mid - first).mean() > 0.5 and np.abs(mid - last).mean() > 0.5
        assert (
            flow.std() > 10 and len(np.unique(flow.reshape(-1, 3), axis=0)) > 100
        )  # the flow is not uniform
        assert np.array_equal(mask[..., 0], mask[..., 1]) and np.array_equal(mask[..., 1], mask[..., 2])
    assert panel(2, 0).std() == 0  # an empty panel: background only


def test_preview_errors(tmp_path, carphone_path):
    r = _preview(str(carphone_path), "--at", "10", "--model", "4.0", "-o", str(tmp_path / "p.png"))
    assert r.returncode == 2 and "--at must be between 0 and 00:00:03.937" in r.stderr, r.stderr
    r = _preview(str(carphone_path), "-o", str(tmp_path / "p.jpg"))
    assert r.returncode == 2 and "-o must name a .png file" in r.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg missing")
def test_preview_clip_loops(tmp_path, carphone_path):
    png, clip = tmp_path / "p.png", tmp_path / "p.mkv"
    r = _preview(
        str(carphone_path),
        "--at",
        "1",
        "--model",
        "4.0",
        "-o",
        str(png),
        "--clip",
        str(clip),
        "--seconds",
        "0.2",
    )
    assert r.returncode == 0, r.stderr
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,nb_read_frames",
            "-of",
            "json",
            str(clip),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    stream = json.loads(probe.stdout)["streams"][0]
    # --at 1 is source frame 29; 0.2 s = 3 frames either side of the pair 29-30: source frames 26..33 (8)
    # -> 16 frames at 2x, then 14 back (the two ends are not repeated): 30
    assert int(stream["nb_read_frames"]) == 30 and "source frames 26-33, forward then backward" in r.stderr
