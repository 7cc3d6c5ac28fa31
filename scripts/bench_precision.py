"""Quality and speed of each precision on this machine's device: RIFE v4.0 on Big Buck Bunny, every odd frame
of the first N dropped and re-interpolated, mean RGB PSNR against the dropped frames, median seconds/frame.

    .venv/bin/python scripts/bench_precision.py [--frames 60] [--device cpu] [--json out/precision.json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import vapoursynth as vs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from vsrife.backend import resolve_backend
from vsrife.loading import load_model


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--device", default=None)
    ap.add_argument("--model", default="4.0")
    ap.add_argument("--json")
    args = ap.parse_args()
    clip = vs.core.bs.VideoSource(str(ROOT / "assets" / "bigbuckbunny.mp4"))[: args.frames]
    rgb = vs.core.resize.Bicubic(clip, format=vs.RGBS, matrix_in_s="709")
    frames = [
        torch.from_numpy(np.stack([np.asarray(f[p]) for p in range(3)])).clamp(0, 1) for f in rgb.frames()
    ]
    dev = resolve_backend(args.device, "fp32", purpose="model").device
    precisions = ["fp32", "bf16"] + (["fp16"] if dev.type == "cuda" else [])
    rows = {}
    for prec in precisions:
        model = load_model(args.model, resolve_backend(dev, prec, purpose="model"))
        scores, times = [], []
        for n in range(1, len(frames) - 1, 2):
            pair = torch.cat([frames[n - 1], frames[n + 1]])[None]
            t0 = time.perf_counter()
            out = model.inference(pair, 0.5)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
            mse = float(((out[0].float().cpu().clamp(0, 1) - frames[n]) ** 2).mean())
            scores.append(10 * math.log10(1 / mse))
        rows[prec] = {
            "psnr": statistics.fmean(scores),
            "median_s": statistics.median(times),
            "n": len(scores),
        }
    what = torch.backends.cpu.get_cpu_capability() if dev.type == "cpu" else torch.cuda.get_device_name(dev)
    base = rows["fp32"]
    print(
        f"device {dev} ({what}), model {args.model}, {base['n']} frames 1280x720",
        file=sys.stderr,
    )
    print(f"{'precision':<10} {'PSNR dB':>9} {'delta':>7} {'s/frame':>8} {'speed-up':>8}", file=sys.stderr)
    for prec, r in rows.items():
        print(
            f"{prec:<10} {r['psnr']:>9.3f} {r['psnr'] - base['psnr']:>+7.3f} {r['median_s']:>8.3f} "
            f"{base['median_s'] / r['median_s']:>7.2f}x",
            file=sys.stderr,
        )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps({"device": str(dev), "model": args.model, "rows": rows}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
