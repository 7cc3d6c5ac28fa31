"""Training at real scale: the census (feature-consistency) loss, streamed video data, and a two-node run as
torchrun does it (two processes with their own --node_rank over the gloo rendezvous), including a node that
dies and a job that restarts from its last checkpoint."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs

from vsrife.train import Trainer, state_hash
from vsrife.train.checkpoint import read_resume
from vsrife.train.losses import census_loss, census_transform, ssim

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bbb_pair(bbb_path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frames 40, 41, 42 of Big Buck Bunny, a 96x128 crop with motion, float [1, 3, H, W] in [0, 1]."""
    clip = vs.core.resize.Bicubic(vs.core.bs.VideoSource(str(bbb_path)), format=vs.RGB24, matrix_in_s="709")
    out = []
    for n in (40, 41, 42):
        f = clip.get_frame(n)
        rgb = np.stack([np.asarray(f[p]) for p in range(3)])[:, 250:346, 560:688]
        out.append(torch.from_numpy(rgb.copy()).float().div(255)[None])
    return out[0], out[1], out[2]


# --- census loss -----------------------------------------------------------------------------------------


def test_census_zero_for_equal_and_offset_images(bbb_pair):
    a, _, _ = bbb_pair
    assert float(census_loss(a, a)) == 0.0
    brighter = a + 0.05  # a constant offset changes no local pattern (unclamped on purpose)
    assert float(census_loss(brighter, a)) < 1e-6
    assert float(census_loss(a * 0 + 0.5, a)) > 0.1  # a flat grey frame has lost every pattern


def test_census_ranks_misplaced_structure_worse_than_a_gain(bbb_pair):
    a, b, c = bbb_pair
    blend = (a + c) / 2  # ghosting: two pictures on top of each other
    gain = (b * 0.8).clamp(0, 1)  # the right picture, darker
    assert float(census_loss(gain, b)) < float(census_loss(blend, b))
    shifted = torch.roll(b, shifts=(3, 2), dims=(2, 3))
    assert float(census_loss(shifted, b)) > 5 * float(census_loss(gain, b))
    # L1 says the opposite for the gain: that is why the term exists
    assert float((gain - b).abs().mean()) > float((shifted - b).abs().mean()) * 0.5


def test_census_gradient_is_finite_and_points_downhill(bbb_pair):
    a, b, c = bbb_pair
    pred = ((a + c) / 2).clone().requires_grad_(True)
    loss = census_loss(pred, b)
    loss.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    with torch.no_grad():
        stepped = pred - 0.5 * pred.grad / pred.grad.abs().max() * 0.02
    assert float(census_loss(stepped, b)) < float(loss.detach())
    # the descriptor of a patch does not depend on pixels outside it
    x = a.clone()
    d1 = census_transform(x)[..., 40, 60]
    x[..., 40 + 5 :, :] = 0
    assert torch.equal(census_transform(x)[..., 40, 60], d1)


def test_census_gradcheck_double():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 12, 12, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.rand(1, 3, 12, 12, generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda p: census_loss(p, y, patch=3), (x,), eps=1e-6, atol=1e-5)


def test_ssim_properties(bbb_pair):
    a, b, c = bbb_pair
    assert abs(float(ssim(b, b)[0]) - 1) < 1e-6
    assert float(ssim((a + c) / 2, b)[0]) < float(ssim(b * 0.98, b)[0]) < 1


def test_census_term_in_the_trainer(bbb_pair, v40_weights):
    from vsrife.train import LossWeights, TrainConfig

    a, b, c = bbb_pair
    imgs, gt = torch.cat([a, c], 1), b
    off = Trainer("4.0", weights=v40_weights, device="cpu", config=TrainConfig(losses=LossWeights(census=0)))
    _, info = off.update(imgs, gt, 0.0, training=False)
    assert float(info["loss_census"]) == 0.0  # switched off: not even computed
    on = Trainer("4.0", weights=v40_weights, device="cpu", config=TrainConfig(losses=LossWeights(census=1.0)))
    _, info_on = on.update(imgs, gt, 0.0, training=False)
    assert float(info_on["loss_census"]) > 0
    want = float(info["loss_total"]) + float(info_on["loss_census"])
    assert float(info_on["loss_total"]) == pytest.approx(want)
    assert Trainer("4.0", weights=v40_weights, device="cpu").config.losses.census == 0.1  # the default


# --- two nodes ----------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _node(
    rank: int, port: int, out: Path, carphone: Path, weights: Path, extra: list[str]
) -> subprocess.Popen:
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [
        str(torchrun),
        "--nnodes=2",
        f"--node_rank={rank}",
        "--nproc_per_node=1",
        "--master_addr=127.0.0.1",
        f"--master_port={port}",
        "-m",
        "vsrife.train",
        "--model", "4.0", "--weights", str(weights), "--video", str(carphone), "--frames", "0:13",
        "--crop", "64", "--no-augment", "--batch-size", "2", "--lr", "2e-4", "--log-every", "1",
        "--threads", "1", "--val-limit", "0", "--out", str(out), *extra,
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and all its descendants (torchrun starts its workers in sessions of their own)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    todo, tree = [pid], []
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    for p in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)


def _events(out: Path) -> list[dict]:
    path = out / "train_log.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []


@pytest.mark.slow
def test_two_nodes_agree_and_a_dead_node_resumes_from_the_last_checkpoint(
    tmp_path, carphone_path, v40_weights
):
    out = tmp_path / "run"
    # 1. two nodes of one process each: a node dies (SIGKILL) after the first checkpoint
    extra = ["--epochs", "40", "--save-every", "2"]
    port = _free_port()
    nodes = [_node(r, port, out, carphone_path, v40_weights, extra) for r in (0, 1)]
    try:
        deadline = time.monotonic() + 240
        while not any(e["event"] == "save" and e["step"] >= 4 for e in _events(out)):
            assert time.monotonic() < deadline, "no checkpoint in time"
            assert all(n.poll() is None for n in nodes), nodes[0].communicate()[1][-3000:]
            time.sleep(0.2)
        _kill_tree(nodes[1].pid)  # node 1 dies: its agent and its worker
        nodes[0].wait(timeout=120)  # its peer is gone: node 0 stops with an error instead of hanging
        assert nodes[0].returncode != 0
    finally:
        for n in nodes:
            if n.poll() is None:
                _kill_tree(n.pid)
            n.communicate()
    saved = [e["step"] for e in _events(out) if e["event"] == "save"]
    resume = read_resume(out / "resume.pt")  # whole and readable: written atomically
    assert resume["step"] == saved[-1] and saved[-1] >= 4

    # 2. the job restarts on both nodes from the last checkpoint and finishes; both replicas agree
    port = _free_port()
    extra = ["--epochs", "40", "--stop-at", str(saved[-1] + 4), "--resume", str(out / "resume.pt")]
    nodes = [_node(r, port, out, carphone_path, v40_weights, extra) for r in (0, 1)]
    results = [n.communicate(timeout=300) for n in nodes]
    for n, (_, err) in zip(nodes, results, strict=True):
        assert n.returncode == 0, err[-3000:]
    events = _events(out)
    starts = [e for e in events if e["event"] == "start"]
    assert starts[-1]["world_size"] == 2 and starts[-1]["step"] == saved[-1]
    steps = [e["step"] for e in events[events.index(starts[-1]) :] if e["event"] == "step"]
    assert steps == list(range(saved[-1] + 1, saved[-1] + 5))
    end = events[-1]
    assert end["event"] == "end" and end["step"] == saved[-1] + 4
    assert len(end["rank_hashes"]) == 2 and end["rank_hashes"][0] == end["rank_hashes"][1]
    tr = Trainer("4.0", weights=out / "flownet.pkl", device="cpu")
    assert state_hash(tr) == end["rank_hashes"][0]


# --- streamed video data ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spliced(tmp_path_factory, carphone_path, bbb_path) -> Path:
    """A real video with two hard cuts: carphone, then Big Buck Bunny (scaled), then carphone again."""
    path = tmp_path_factory.mktemp("video") / "spliced.mkv"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(carphone_path), "-i", str(bbb_path),
         "-filter_complex",
         "[0:v]split[x][y];[x]trim=end_frame=12,setpts=N/(30000/1001)/TB,setsar=1[a];"
         "[1:v]trim=start_frame=40:end_frame=52,scale=176:144,setsar=1,setpts=N/(30000/1001)/TB[b];"
         "[y]trim=start_frame=30:end_frame=42,setpts=N/(30000/1001)/TB,setsar=1[c];"
         "[a][b][c]concat=n=3:v=1[v]", "-map", "[v]", "-c:v", "libx264", "-crf", "16", "-r", "30000/1001",
         str(path)],
        check=True,
    )  # fmt: skip
    return path


def test_streamed_frames_make_the_same_decisions_as_in_ram(spliced):
    from vsrife.train.data import StreamedFrames, VideoFrames, VideoTriplets

    ram, streamed = VideoFrames(spliced), StreamedFrames(spliced)
    assert len(ram) == len(streamed) == 36 and ram.size == streamed.size == (144, 176)
    assert np.array_equal(ram.cuts, streamed.cuts) and int(ram.cuts.sum()) == 2
    assert np.flatnonzero(ram.cuts).tolist() == [11, 23]
    for n in range(len(ram) - 1):
        assert streamed.motion(n, n + 1) == pytest.approx(ram.motion(n, n + 1), abs=1e-4)
    for n in (0, 17, 35):
        assert np.array_equal(streamed.frame(n), ram.frame(n))
    a, b = VideoTriplets(ram), VideoTriplets(streamed)
    assert a.windows == b.windows and a.skipped == b.skipped and a.skipped["cut"] == 4
    for k in (0, len(a) // 2, len(a) - 1):
        xa, ta = a[k]
        xb, tb = b[k]
        assert torch.equal(xa, xb) and torch.equal(ta, tb)


@pytest.mark.slow
def test_streamed_dataset_in_dataloader_workers_and_folders(tmp_path, spliced, carphone_path):
    """Worker processes open their own sources; a folder of videos is one dataset."""
    import shutil

    from torch.utils.data import ConcatDataset, DataLoader

    from vsrife.train.data import StreamedFrames, VideoTriplets, expand_videos

    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(spliced, folder / "a.mkv")
    shutil.copy(carphone_path, folder / "b.mp4")
    (folder / "notes.txt").write_text("not a video")
    paths = expand_videos([folder])
    assert [Path(p).name for p in paths] == ["a.mkv", "b.mp4"]
    ds = ConcatDataset([VideoTriplets(StreamedFrames(p, 0, 20)) for p in paths])
    loader = DataLoader(ds, batch_size=4, num_workers=2, shuffle=False, multiprocessing_context="spawn")
    batches = list(loader)
    assert sum(len(x) for x, _ in batches) == len(ds) > 20
    first, _ = ds[0]
    assert torch.equal(batches[0][0][0], first)
    with pytest.raises(FileNotFoundError, match="has no video files"):
        expand_videos([tmp_path / "videos" / ".." / "videos" / "a.mkv", tmp_path])
