"""Training and fine-tuning (issue #4), on the CPU with small crops of real frames from the sample videos.

* a two-process gloo DDP run launched by torchrun: the loss falls, both replicas end identical, the
  checkpoint is the trained network in the official layout and the VapourSynth filter runs it;
* resume: N steps straight == N/2 steps, stop, resume, N/2 steps (step, schedule, weights, optimiser);
* the losses, the schedule, the teacher's layout, augmentation and the data sources.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs

from vsrife import RIFE_HDv3
from vsrife.train import (
    LossWeights,
    Schedule,
    TrainConfig,
    Trainer,
    distillation,
    edge_aware_smoothness,
    laplacian_l1,
    laplacian_pyramid,
    learning_rate,
    save_weights,
    state_hash,
)
from vsrife.train.checkpoint import read_resume
from vsrife.train.cli import main as train_main
from vsrife.train.data import (
    Augment,
    ResumableSampler,
    VideoFrames,
    VideoTriplets,
    VimeoTriplets,
    augment,
    frame_to_rgb,
    read_image,
    write_png,
)
from vsrife.train.losses import _upsample, gauss_kernel
from vsrife.weights import read_state_dict

from .conftest import psnr

ROOT = Path(__file__).resolve().parent.parent


def read_log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def bbb_frames(bbb_path) -> np.ndarray:
    """Frames 40..44 and 60..64 of Big Buck Bunny (no duplicated frames among them) as
    uint8 [10, 720, 1280, 3]
    RGB."""
    clip = vs.core.bs.VideoSource(str(bbb_path))
    rgb = vs.core.resize.Bicubic(clip, format=vs.RGB24, matrix_in_s="709")
    out = []
    for n in (*range(40, 45), *range(60, 65)):
        f = rgb.get_frame(n)
        out.append(np.stack([np.asarray(f[p]) for p in range(3)], axis=2))
    return np.stack(out)


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 [..., H, W, 3] -> float [..., 3, H, W] in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).movedim(-1, -3).float() / 255


@pytest.fixture(scope="module")
def bbb_batch(bbb_frames) -> tuple[torch.Tensor, torch.Tensor]:
    """Two real 128x128 triplets (frames n-1, n+1 -> n) with motion: imgs [2, 6, H, W], gt [2, 3, H, W]."""
    crops = [bbb_frames[0:3, 250:378, 560:688], bbb_frames[6:9, 300:428, 200:328]]
    x = torch.stack([to_tensor(c) for c in crops])  # [2, 3 frames, 3, H, W]
    return torch.cat([x[:, 0], x[:, 2]], 1), x[:, 1]


# --- (1) two processes under torchrun ---------------------------------------------------------------


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory, carphone_path, v40_weights) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("ddp")
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [
        str(torchrun),
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "vsrife.train",
        "--model",
        "4.0",
        "--weights",
        str(v40_weights),
        "--video",
        str(carphone_path),
        "--frames",
        "0:13",
        "--crop",
        "64",
        "--no-augment",
        "--batch-size",
        "2",
        "--epochs",
        "8",
        "--lr",
        "2e-4",
        "--log-every",
        "1",
        "--threads",
        "1",
        "--out",
        str(out),
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out, proc


def test_ddp_two_processes_loss_falls_and_replicas_agree(ddp_run):
    out, proc = ddp_run
    assert proc.stdout == ""  # nothing on stdout, ever
    assert "validation at step 0" in proc.stderr and "samples/s" in proc.stderr
    log = read_log(out)
    start, end = log[0], log[-1]
    assert start["event"] == "start" and start["world_size"] == 2 and start["backend"] == "gloo"
    assert start["teacher"] == "loaded"
    steps = [r for r in log if r["event"] == "step"]
    assert [r["step"] for r in steps] == list(range(1, 17))  # 8 triplets / (2 ranks x 2) = 2 steps per epoch
    per_epoch = defaultdict(list)
    for r in steps:
        per_epoch[r["epoch"]].append(r["loss_total"])
    first, last = np.mean(per_epoch[0]), np.mean(per_epoch[7])  # the same 8 triplets in both epochs
    assert last < 0.95 * first, (first, last)
    vals = [r for r in log if r["event"] == "val"]
    assert [v["step"] for v in vals] == [0, 2, 4, 6, 8, 10, 12, 14, 16]  # before training, then every epoch
    assert all(25 < v["psnr"] < 60 for v in vals)
    assert end["event"] == "end" and end["finished"]
    hashes = end["rank_hashes"]
    assert len(hashes) == 2 and hashes[0] == hashes[1]
    # the checkpoint holds exactly the trained network (student and teacher)
    tr = Trainer("4.0", weights=out / "flownet.pkl", device="cpu")
    assert tr.teacher_loaded and state_hash(tr) == hashes[0]


def test_ddp_checkpoint_is_official_layout(ddp_run, v40_weights):
    out, _ = ddp_run
    raw = torch.load(out / "flownet.pkl", map_location="cpu", weights_only=True)
    official = torch.load(v40_weights, map_location="cpu", weights_only=True)
    assert all(k.startswith("module.") for k in raw)
    # every key of the released file except the ones for the unused refinement nets, with the same shapes
    want = {
        k: v.shape for k, v in official.items() if not k.startswith(("module.contextnet.", "module.unet."))
    }
    assert {k: v.shape for k, v in raw.items()} == want
    assert all(v.dtype == torch.float32 for v in raw.values())
    changed = [k for k in raw if not torch.equal(raw[k], official[k])]
    assert len(changed) > len(raw) // 2  # it did train
    RIFE_HDv3("4.0", device="cpu").load_weights(out / "flownet.pkl")


def test_ddp_checkpoint_runs_in_the_filter(ddp_run, carphone_path, v40_weights):
    from vsrife.filter import RIFE

    out, _ = ddp_run
    clip = vs.core.bs.VideoSource(str(carphone_path))[:4]
    tuned = RIFE(
        clip, model="4.0", weights=str(out / "flownet.pkl"), sc=False, device="cpu", precision="fp32"
    )
    orig = RIFE(clip, model="4.0", weights=str(v40_weights), sc=False, device="cpu", precision="fp32")
    assert tuned.num_frames == 8 and tuned.format.id == clip.format.id
    for n in (1, 3):  # interpolated frames: close to the original model's (a short fine-tune), not identical
        a, b = tuned.get_frame(n), orig.get_frame(n)
        ya, yb = np.asarray(a[0]).astype(np.float64), np.asarray(b[0]).astype(np.float64)
        assert not np.array_equal(ya, yb)
        assert psnr(ya, yb, peak=255) > 30


# --- (2) resume -------------------------------------------------------------------------------------


def _resume_args(carphone_path, v40_weights, out: Path) -> list[str]:
    # 10 triplets, batch 2: 5 steps per epoch; 8 steps cross an epoch boundary; augmentation on
    return [
        "--model",
        "4.0",
        "--weights",
        str(v40_weights),
        "--video",
        str(carphone_path),
        "--frames",
        "0:16",
        "--val-fraction",
        "0.2",
        "--crop",
        "64",
        "--batch-size",
        "2",
        "--steps",
        "8",
        "--lr",
        "1e-4",
        "--warmup",
        "2",
        "--min-lr",
        "1e-6",
        "--log-every",
        "1",
        "--threads",
        "1",
        "--quiet",
        "--no-val-at-start",
        "--out",
        str(out),
    ]


def test_resume_continues_exactly(tmp_path, carphone_path, v40_weights):
    """The straight run is driven from Python (a RunConfig), the split one from the command line: both are the
    same run, and a resumed run continues exactly."""
    from vsrife.train.config import DataConfig, RunConfig
    from vsrife.train.loop import run

    straight, split = tmp_path / "straight", tmp_path / "split"
    config = RunConfig(
        out=straight,
        data=DataConfig(videos=(str(carphone_path),), frames=(0, 16), val_fraction=0.2, crop=(64, 64)),
        model="4.0",
        weights=str(v40_weights),
        train=TrainConfig(lr=1e-4),
        steps=8,
        batch_size=2,
        warmup=2,
        min_lr=1e-6,
        log_every=1,
        threads=1,
        quiet=True,
        val_at_start=False,
    )
    assert run(config) == 0
    assert train_main([*_resume_args(carphone_path, v40_weights, split), "--stop-at", "3"]) == 0
    mid = read_resume(split / "resume.pt")
    assert mid["step"] == 3
    assert read_log(split)[-1]["finished"] is False
    # resume with a different --lr on the command line: the saved schedule wins
    args = _resume_args(carphone_path, v40_weights, split)
    args[args.index("--lr") + 1] = "5e-4"
    assert train_main([*args, "--resume"]) == 0

    a, b = read_resume(straight / "resume.pt"), read_resume(split / "resume.pt")
    assert a["step"] == b["step"] == 8
    assert (
        a["schedule"]
        == b["schedule"]
        == {"peak_lr": 1e-4, "total_steps": 8, "warmup_steps": 2, "min_lr": 1e-6}
    )
    lr_a = {r["step"]: r["lr"] for r in read_log(straight) if r["event"] == "step"}
    lr_b = {r["step"]: r["lr"] for r in read_log(split) if r["event"] == "step"}
    assert lr_a == lr_b and sorted(lr_b) == list(range(1, 9))
    loss_a = {r["step"]: r["loss_total"] for r in read_log(straight) if r["event"] == "step"}
    loss_b = {r["step"]: r["loss_total"] for r in read_log(split) if r["event"] == "step"}
    for s in range(1, 9):  # the same samples in the same order after the resume
        assert loss_a[s] == pytest.approx(loss_b[s], rel=1e-4, abs=1e-7), s
    for k, v in a["net"].items():
        torch.testing.assert_close(b["net"][k], v, rtol=1e-5, atol=1e-6, msg=k)
    for pa, pb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True):
        assert float(pa["step"]) == float(pb["step"]) == 8
        torch.testing.assert_close(pb["exp_avg_sq"], pa["exp_avg_sq"], rtol=1e-4, atol=1e-12)


# --- (3) units: losses, schedule ---------------------------------------------------------------------


def test_schedule_warmup_and_cosine():
    s = Schedule(peak_lr=1e-4, total_steps=110, warmup_steps=10, min_lr=1e-6)
    assert [s(i) for i in range(3)] == pytest.approx([1e-5, 2e-5, 3e-5])
    assert s(9) == pytest.approx(1e-4) and s(10) == pytest.approx(1e-4)
    assert s(60) == pytest.approx((1e-4 + 1e-6) / 2)  # half-way through the decay
    decay = [s(i) for i in range(10, 110)]
    assert all(x > y for x, y in itertools.pairwise(decay))
    assert decay[-1] > 1e-6 and s(110) == pytest.approx(1e-6) and s(500) == pytest.approx(1e-6)
    assert learning_rate(37, s) == s(37) == Schedule(1e-4, 110, 10, 1e-6)(37)  # a pure function of the step
    assert Schedule(1e-3, 5)(0) == 1e-3  # no warm-up
    with pytest.raises(ValueError):
        Schedule(peak_lr=0)
    with pytest.raises(ValueError):
        Schedule(peak_lr=1e-4, min_lr=1e-3)


def test_laplacian_pyramid_reconstructs_and_l1(bbb_frames):
    img = to_tensor(bbb_frames[1, 200:296, 400:528])[None].double()  # 96x128, real
    pyr = laplacian_pyramid(img, 5)
    assert len(pyr) == 6 and pyr[-1].shape[-2:] == (3, 4)
    k = gauss_kernel(3, dtype=img.dtype)
    rec = pyr[-1]
    for band in reversed(pyr[:-1]):
        rec = band + _upsample(rec, k, band.shape[-2:])
    torch.testing.assert_close(rec, img)
    other = to_tensor(bbb_frames[2, 200:296, 400:528])[None].double()
    assert laplacian_l1(img, img) == 0
    assert laplacian_l1(img, other) > 0
    assert laplacian_l1(img, other) == pytest.approx(float(laplacian_l1(other, img)))
    offset = laplacian_l1(img, img + 0.1)  # only the low-pass residual sees a global offset
    assert offset == pytest.approx(0.1, rel=1e-3)


def test_edge_aware_smoothness():
    image = torch.zeros(1, 3, 32, 64)
    image[..., 32:] = 1.0  # a vertical edge between columns 31 and 32
    flow_at_edge = torch.zeros(1, 4, 32, 64)
    flow_at_edge[..., 32:] = 3.0
    flow_in_flat = torch.zeros(1, 4, 32, 64)
    flow_in_flat[..., 16:] = 3.0
    assert edge_aware_smoothness(torch.full((1, 4, 32, 64), 5.0), image) == 0  # constant flow: smooth
    at_edge, in_flat = edge_aware_smoothness(flow_at_edge, image), edge_aware_smoothness(flow_in_flat, image)
    assert in_flat == pytest.approx(3.0 / 63)  # |step| over one column of 63 differences
    assert at_edge < in_flat * 1e-3  # a motion boundary on an image edge costs (almost) nothing
    assert edge_aware_smoothness(flow_in_flat, image, alpha=0.0) == pytest.approx(3.0 / 63)


def test_distillation_masks_and_gradients():
    gt = torch.rand(2, 3, 16, 16)
    teacher_flow = torch.randn(2, 4, 16, 16, requires_grad=True)
    good_frame = gt.clone()
    student_flow = torch.zeros(2, 4, 16, 16, requires_grad=True)
    # teacher frame is exact, student frame bad: pulled towards the teacher's flow
    bad = distillation([student_flow], [gt + 0.5], teacher_flow, good_frame, gt)
    expected = (((teacher_flow.detach() - 0) ** 2).mean(1, keepdim=True) + 1e-6).sqrt().mean()
    assert float(bad.detach()) == pytest.approx(float(expected))
    bad.backward()
    assert teacher_flow.grad is None and student_flow.grad is not None
    # student already better than the teacher: nothing to learn
    assert distillation([student_flow], [gt], teacher_flow, gt + 0.5, gt) == 0
    # one term per level
    two = distillation([student_flow, student_flow], [gt + 0.5, gt + 0.5], teacher_flow, good_frame, gt)
    assert float(two.detach()) == pytest.approx(2 * float(expected))


# --- the wrapper and the teacher --------------------------------------------------------------------


def test_teacher_layout_matches_the_40_file(v40_weights, bbb_batch):
    official = read_state_dict(v40_weights)
    tr = Trainer("4.0", weights=v40_weights, device="cpu")
    assert tr.teacher_loaded
    mine = {k: v.shape for k, v in tr.net.state_dict().items() if k.startswith("block_tea.")}
    assert mine == {k: v.shape for k, v in official.items() if k.startswith("block_tea.")}
    # with the released teacher and its input order, the teacher (which sees the ground truth) must be far
    # better than the student on real frames: a wrong channel order makes it worse than the student
    imgs, gt = bbb_batch
    out = tr.predict(imgs[:, :3], imgs[:, 3:], 0.5, gt)
    student, teacher = psnr(out.levels.output.clamp(0, 1), gt), psnr(out.merged_tea, gt)
    assert teacher > student + 5, (student, teacher)


def test_update_trains_and_eval_does_not(v40_weights, bbb_batch):
    torch.manual_seed(0)
    imgs, gt = bbb_batch
    tr = Trainer("4.0", weights=v40_weights, device="cpu")
    before = state_hash(tr)
    pred, info = tr.update(imgs, gt, learning_rate=1e-4, training=False)
    assert state_hash(tr) == before and "grad_norm" not in info
    assert pred.shape == gt.shape
    for k in ("loss_l1", "loss_tea", "loss_distill", "loss_smooth", "loss_census", "loss_total"):
        assert info[k].ndim == 0 and math.isfinite(float(info[k])), k
    w = tr.config.losses
    total = (
        w.l1 * info["loss_l1"]
        + w.teacher * info["loss_tea"]
        + w.distill * info["loss_distill"]
        + w.smooth * info["loss_smooth"]
        + w.census * info["loss_census"]
    )
    assert float(info["loss_total"]) == pytest.approx(float(total))
    first = float(info["loss_l1"])
    for _ in range(4):
        _, info = tr.update(imgs, gt, learning_rate=1e-4)
    assert state_hash(tr) != before and math.isfinite(float(info["grad_norm"]))
    _, after = tr.update(imgs, gt, training=False)
    assert float(after["loss_l1"]) < first  # the same batch fits better
    with pytest.raises(ValueError, match="multiples of 32"):
        tr.update(imgs[..., :48], gt[..., :48], 1e-4)


def test_other_release_trains_its_teacher_from_scratch(tmp_path, bbb_batch):
    """4.25 (encoder, block features, five levels): no teacher in any released file; it starts random,
    trains, and the checkpoint loads in the model API."""
    torch.manual_seed(0)
    imgs, gt = bbb_batch
    tr = Trainer("4.25", device="cpu", config=TrainConfig(lr=1e-4))
    assert tr.net.has_teacher and not tr.teacher_loaded
    tea0 = {k: v.clone() for k, v in tr.net.block_tea.state_dict().items()}
    _, info = tr.update(imgs[..., :64, :64], gt[..., :64, :64], learning_rate=1e-4)
    assert all(math.isfinite(float(info[k])) for k in ("loss_total", "loss_tea", "grad_norm"))
    assert any(not torch.equal(tea0[k], v) for k, v in tr.net.block_tea.state_dict().items())
    path = save_weights(tr, tmp_path / "flownet.pkl")
    RIFE_HDv3("4.25", device="cpu").load_weights(path)  # the filter's loader drops block_tea
    again = Trainer("4.25", weights=path, device="cpu")
    assert again.teacher_loaded and state_hash(again) == state_hash(tr)
    # without the teacher terms there is no teacher at all (and none in the checkpoint)
    plain = Trainer("4.25", device="cpu", config=TrainConfig(losses=LossWeights(teacher=0, distill=0)))
    assert not plain.net.has_teacher
    _, info = plain.update(imgs[..., :64, :64], gt[..., :64, :64], learning_rate=1e-4)
    assert float(info["loss_tea"]) == 0 and info["merged_tea"] is None


# --- data -------------------------------------------------------------------------------------------


def test_augment_is_deterministic_and_each_transform_is_right(bbb_frames):
    a, g, b = bbb_frames[0], bbb_frames[1], bbb_frames[2]
    off = {"hflip": 0, "vflip": 0, "channels": 0, "rotate": 0, "reverse": 0}

    def crop_at(seed: int, h: int, w: int) -> tuple[int, int]:  # augment() draws the crop first
        rng = np.random.default_rng(seed)
        return int(rng.integers(0, 720 - h + 1)), int(rng.integers(0, 1280 - w + 1))

    y, x = crop_at(5, 64, 96)
    ref = [f[y : y + 64, x : x + 96] for f in (a, g, b)]
    x0, xg, x1, t = augment(
        a, g, b, 0.25, Augment(crop=(64, 96), **{**off, "reverse": 1}), np.random.default_rng(5)
    )
    assert t == 0.75  # time reversal: img0 <-> img1, t -> 1 - t, the same crop in all three frames
    assert np.array_equal(x0, ref[2]) and np.array_equal(xg, ref[1]) and np.array_equal(x1, ref[0])
    x0, xg, x1, t = augment(
        a, g, b, 0.25, Augment(crop=(64, 96), **{**off, "hflip": 1}), np.random.default_rng(5)
    )
    assert t == 0.25 and all(np.array_equal(o, r[:, ::-1]) for o, r in zip((x0, xg, x1), ref, strict=True))
    out = augment(a, g, b, 0.5, Augment(crop=(64, 96), **{**off, "vflip": 1}), np.random.default_rng(5))
    assert all(np.array_equal(o, r[::-1]) for o, r in zip(out[:3], ref, strict=True))
    out = augment(a, g, b, 0.5, Augment(crop=(64, 96), **{**off, "channels": 1}), np.random.default_rng(5))
    assert all(np.array_equal(o, r[:, :, ::-1]) for o, r in zip(out[:3], ref, strict=True))
    y, x = crop_at(5, 64, 64)
    sq = [f[y : y + 64, x : x + 64] for f in (a, g, b)]
    out = augment(a, g, b, 0.5, Augment(crop=(64, 64), **{**off, "rotate": 1}), np.random.default_rng(5))
    k = [k for k in (1, 2, 3) if np.array_equal(out[1], np.rot90(sq[1], k))]
    assert len(k) == 1 and np.array_equal(out[0], np.rot90(sq[0], k[0]))
    full = Augment(crop=(64, 64))
    r1 = augment(a, g, b, 0.5, full, np.random.default_rng([0, 3, 7]))
    r2 = augment(a, g, b, 0.5, full, np.random.default_rng([0, 3, 7]))
    assert all(np.array_equal(p, q) for p, q in zip(r1[:3], r2[:3], strict=True)) and r1[3] == r2[3]
    with pytest.raises(ValueError, match="larger"):
        augment(a, g, b, 0.5, Augment(crop=(1024, 64)), np.random.default_rng(0))


def test_video_triplets_and_sampler(carphone_path):
    frames = VideoFrames(carphone_path, 0, 24)
    assert frames.frames.shape == (24, 144, 176, 3) and frames.frames.dtype == np.uint8
    assert not frames.cuts.any()  # one shot
    ds = VideoTriplets(frames, 0, 24, augment=Augment(crop=(64, 64)), seed=1)
    assert len(ds) == 22
    x, t = ds[3]
    assert x.shape == (9, 64, 64) and x.dtype == torch.uint8 and float(t) == 0.5
    assert torch.equal(ds[3][0], x)  # same seed, epoch and index: same sample
    ds.set_epoch(1)
    assert not torch.equal(ds[3][0], x)
    # a still: repeat a frame, the windows around it are skipped as static
    frames.frames[10] = frames.frames[9]
    still = VideoTriplets(frames, 0, 24)
    assert still.skipped["static"] == 2 and len(still) == 20
    # a span of 4 with the ground truth anywhere inside
    wide = VideoTriplets(
        frames,
        0,
        24,
        span=4,
        any_timestep=True,
        augment=Augment(crop=None, reverse=0, hflip=0, vflip=0, channels=0, rotate=0),
    )
    ts = {float(wide[i][1]) for i in range(len(wide))}
    assert ts <= {0.25, 0.5, 0.75} and len(ts) > 1
    s = ResumableSampler(ds, num_replicas=2, rank=1, seed=3)
    s.set_position(2, 0)
    order = list(s)
    s.set_position(2, 4)
    assert list(s) == order[4:] and len(s) == len(order) - 4


def test_video_scene_cuts_are_skipped(carphone_path, bbb_path, tmp_path):
    """Two real shots joined into one file: no triplet spans the join."""
    a = vs.core.bs.VideoSource(str(carphone_path))[:8]
    b = vs.core.bs.VideoSource(str(bbb_path))[40:48].resize.Bicubic(
        176, 144, format=a.format.id, matrix_in_s="709", matrix_s="170m"
    )
    joined = a + b.std.AssumeFPS(a)
    y4m = tmp_path / "joined.y4m"
    with open(y4m, "wb") as f:
        joined.output(f, y4m=True)
    frames = VideoFrames(y4m)
    assert frames.cuts.tolist() == [n == 7 for n in range(15)]
    ds = VideoTriplets(frames)
    assert ds.skipped["cut"] == 2 and all(not (i <= 7 < i + 2) for i in ds.windows)


def test_png_round_trip_and_vimeo_layout(tmp_path, carphone_path):
    frames = VideoFrames(carphone_path, 0, 6).frames
    root = tmp_path / "vimeo_triplet"
    for seq, start in (("00001/0001", 0), ("00001/0002", 3)):
        d = root / "sequences" / seq
        d.mkdir(parents=True)
        for i in range(3):
            write_png(d / f"im{i + 1}.png", frames[start + i])
    (root / "tri_trainlist.txt").write_text("00001/0001\n")
    (root / "tri_testlist.txt").write_text("00001/0002\n\n")
    p = root / "sequences" / "00001" / "0001" / "im2.png"
    assert p.read_bytes().startswith(b"\x89PNG") and np.array_equal(read_image(p), frames[1])
    assert not np.array_equal(read_image(p), frames[1][:, :, ::-1])  # RGB order, not OpenCV's BGR
    train = VimeoTriplets(root, "train", Augment(crop=(64, 64)))
    test = VimeoTriplets(root, "test", None, eval_crop=(96, 128))
    assert len(train) == 1 and len(test) == 1
    x, t = test[0]
    assert x.shape == (9, 96, 128) and float(t) == 0.5
    # img0, img1, gt order: im1, im3, im2
    y0, x0 = (144 - 96) // 2, (176 - 128) // 2

    def crop(f: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(f[y0 : y0 + 96, x0 : x0 + 128]).permute(2, 0, 1)

    assert torch.equal(x[0:3], crop(frames[3])) and torch.equal(x[3:6], crop(frames[5]))
    assert torch.equal(x[6:9], crop(frames[4]))
    with pytest.raises(FileNotFoundError, match="Vimeo-90K"):
        VimeoTriplets(tmp_path / "nowhere")
    # the training run on this layout: trains on the train list (1 triplet: 1 step per epoch), validates on
    # the
    # test list before training and after every epoch
    out = tmp_path / "run"
    assert (
        train_main(
            [
                "--vimeo",
                str(root),
                "--out",
                str(out),
                "--crop",
                "64",
                "--batch-size",
                "1",
                "--steps",
                "2",
                "--lr",
                "1e-5",
                "--threads",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    log = read_log(out)
    assert [r["count"] for r in log if r["event"] == "val"] == [1, 1, 1] and log[-1][
        "step"
    ] == 2  # start + 2 epochs


def test_cli_errors_go_to_stderr(tmp_path, capsys):
    from vsrife.cli import main as vsrife_main

    assert (
        train_main(["--video", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    )
    captured = capsys.readouterr()
    assert captured.out == "" and "does not exist" in captured.err
    assert (
        vsrife_main(["train", "--video", str(tmp_path / "x.mp4"), "--out", str(tmp_path / "o")]) == 2
    )  # `vsrife train`
    with pytest.raises(SystemExit):
        vsrife_main(["train", "--help"])
    captured = capsys.readouterr()
    assert captured.out == "" and "--resume" in captured.err and "does not exist" in captured.err


def test_bf16_autocast_on_cpu_and_fp16_needs_cuda(v40_weights, bbb_batch):
    imgs, gt = bbb_batch
    tr = Trainer("4.0", weights=v40_weights, device="cpu", config=TrainConfig(amp="bf16"))
    ref = Trainer("4.0", weights=v40_weights, device="cpu")
    _, info = tr.update(imgs, gt, learning_rate=1e-5)
    _, ref_info = ref.update(imgs, gt, learning_rate=1e-5)
    assert not tr.scaler.is_enabled()
    assert float(info["loss_l1"]) == pytest.approx(float(ref_info["loss_l1"]), rel=0.1)
    assert all(p.dtype == torch.float32 for p in tr.net.parameters())  # fp32 master weights
    with pytest.raises(ValueError, match="CUDA"):
        Trainer("4.0", device="cpu", config=TrainConfig(amp="fp16"))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("amp", ["fp16", "bf16"])
def test_cuda_amp_steps(v40_weights, bbb_batch, amp):
    imgs, gt = bbb_batch
    tr = Trainer("4.0", weights=v40_weights, device="cuda", config=TrainConfig(amp=amp))
    assert tr.scaler.is_enabled() == (amp == "fp16")
    first = None
    for _ in range(5):
        _, info = tr.update(imgs, gt, learning_rate=1e-4)
        first = first if first is not None else float(info["loss_total"])
    assert math.isfinite(float(info["loss_total"])) and tr.skipped_steps <= 2
    _, after = tr.update(imgs, gt, training=False)
    assert float(after["loss_total"]) < first


def test_training_converts_colour_as_the_filter(bbb_path):
    """Untagged 1280x540 YUV: BT.709 by vsrife.colour's one rule (the old zimg path picked BT.601 below 600
    rows). Training frames are the filter's RGB, rounded to 8 bits."""
    from vsrife.colour import planes_to_rgb, resolve_spec

    clip = vs.core.bs.VideoSource(str(bbb_path))[50:51].std.Crop(top=90, bottom=90)
    clip = clip.std.RemoveFrameProps(["_Matrix", "_Primaries", "_Transfer"])
    frame = clip.get_frame(0)
    got = frame_to_rgb(frame, clip.width, clip.height)
    planes = [torch.from_numpy(np.array(frame[p])) for p in range(3)]
    for matrix, same in ((1, True), (6, False)):
        spec = resolve_spec("yuv", 8, False, 1, 1, 1280, 540, matrix=matrix)
        ref = planes_to_rgb(planes, spec)[0].clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0)
        assert np.array_equal(got, ref.numpy()) == same
