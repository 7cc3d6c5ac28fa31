#!/usr/bin/env python3
"""Fine-tune real RIFE weights on the first part of a real clip; held-out PSNR before and after.

The clip is decoded once (VapourSynth, RGB24, optionally scaled to --height). Frames [0, split) are the
training part; triplets (n-1, n, n+1) lying wholly in [split + gap, end) are held out. Triplets across scene
cuts or with a still/duplicated frame are left out of both (the same rules as the trainer's video source).

"Before" and "after" are measured the way a user gets frames: ``load_model(model, backend, weights=file)`` and
``inference(pair, 0.5)`` on whole frames (padding, 4.0's large-motion rule and all), once with the released
file and once with the fine-tuned ``flownet.pkl``; PSNR in RGB against the real middle frame. The blend of
the two neighbours is printed as a baseline.

    .venv/bin/python scripts/bench_finetune.py --video assets/bigbuckbunny.mp4 --height 360 --steps 100

Everything goes to stderr and to OUT/bench.json.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vsrife.backend import resolve_backend
from vsrife.loading import load_model
from vsrife.train.cli import main as train_main
from vsrife.train.data import VideoFrames, VideoTriplets
from vsrife.train.losses import ssim


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


def held_out_scores(
    weights: Path, model: str, frames: np.ndarray, windows: list[int]
) -> tuple[list[float], list[float]]:
    """PSNR and SSIM of each held-out middle frame."""
    net = load_model(model, resolve_backend("cpu", "fp32", purpose="model"), weights=weights)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2)
    scores, ssims = [], []
    for i in windows:
        pair = torch.cat([x[i], x[i + 2]]).float().div(255)[None]
        out = net.inference(pair, timestep=0.5)[0].clamp(0, 1)
        out = (out * 255).round() / 255  # what an 8-bit output would carry
        scores.append(psnr(out, x[i + 1].float() / 255))
        ssims.append(float(ssim(out[None], x[i + 1][None].float() / 255)[0]))
    return scores, ssims


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", default=str(ROOT / "assets" / "bigbuckbunny.mp4"))
    p.add_argument("--model", default="4.0")
    p.add_argument("--weights", default=str(ROOT / "weights" / "flownet_v4.0.pkl"))
    p.add_argument("--height", type=int, default=360, help="work at this height (default 360)")
    p.add_argument(
        "--train-fraction", type=float, default=0.6, help="first part of the clip used for training"
    )
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--crop", default="128")
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(ROOT / "out" / "bench_finetune"))
    p.add_argument("extra", nargs=argparse.REMAINDER, help="further vsrife.train options after --")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    video = VideoFrames(args.video, height=args.height)
    n = len(video)
    split = round(n * args.train_fraction)
    held = VideoTriplets(video, split, n, span=2)  # frames wholly after the training part
    windows = held.windows
    h, w = video.frames.shape[1:3]
    log(
        f"{args.video}: {n} frames at {w}x{h}; training on frames 0-{split - 1}, "
        f"{len(windows)} held-out triplets in frames {split}-{n - 1} "
        f"(left out: {held.skipped['cut']} at cuts, {held.skipped['static']} still/duplicate)"
    )
    x = torch.from_numpy(video.frames).permute(0, 3, 1, 2).float() / 255
    blend = float(np.mean([psnr((x[i] + x[i + 2]) / 2, x[i + 1]) for i in windows]))

    t0 = time.monotonic()
    before, ssim_before = held_out_scores(Path(args.weights), args.model, video.frames, windows)
    log(f"before: {np.mean(before):.3f} dB, SSIM {np.mean(ssim_before):.4f} ({time.monotonic() - t0:.0f} s)")

    cmd = [
        "--model",
        args.model,
        "--weights",
        args.weights,
        "--video",
        args.video,
        "--height",
        str(args.height),
        "--frames",
        f"0:{split}",
        "--val-limit",
        "0",
        "--crop",
        args.crop,
        "--batch-size",
        str(args.batch_size),
        "--steps",
        str(args.steps),
        "--lr",
        str(args.lr),
        "--warmup",
        str(args.warmup),
        "--min-lr",
        str(args.lr / 20),
        "--threads",
        str(args.threads),
        "--log-every",
        "10",
        "--out",
        str(out / "run"),
        *[a for a in args.extra if a != "--"],
    ]
    log("training: python -m vsrife.train " + " ".join(cmd))
    t1 = time.monotonic()
    rc = train_main(cmd)
    train_s = time.monotonic() - t1
    if rc != 0:
        return rc
    after, ssim_after = held_out_scores(out / "run" / "flownet.pkl", args.model, video.frames, windows)
    delta = np.array(after) - np.array(before)
    res = {
        "video": args.video,
        "model": args.model,
        "size": [w, h],
        "frames": n,
        "train_frames": [0, split],
        "held_out_triplets": len(windows),
        "steps": args.steps,
        "batch_size": args.batch_size,
        "crop": args.crop,
        "lr": args.lr,
        "train_seconds": round(train_s, 1),
        "psnr_blend": blend,
        "psnr_before": float(np.mean(before)),
        "psnr_after": float(np.mean(after)),
        "delta_mean": float(delta.mean()),
        "ssim_before": float(np.mean(ssim_before)),
        "ssim_after": float(np.mean(ssim_after)),
        "improved_triplets": int((delta > 0).sum()),
        "per_triplet_before": before,
        "per_triplet_after": after,
    }
    (out / "bench.json").write_text(json.dumps(res, indent=1))
    log(
        f"held-out PSNR over {len(windows)} triplets: before {res['psnr_before']:.3f} dB, "
        f"after {res['psnr_after']:.3f} dB ({res['delta_mean']:+.3f} dB; better on "
        f"{res['improved_triplets']}/{len(windows)}); "
        f"SSIM {res['ssim_before']:.4f} -> {res['ssim_after']:.4f}; "
        f"blend baseline {blend:.3f} dB; training {train_s:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
