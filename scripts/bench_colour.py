#!/usr/bin/env python3
"""Benchmark vsrife.colour on a real frame: round-trip fidelity against VapourSynth's own resizers, and speed.

For each format: YUV -> RGB (ours, float, unclamped) -> YUV, versus zimg's Spline36 and Bicubic round trips
through RGBS; also how close our RGB is to zimg's Spline36 RGB, and the time of each direction.
The table goes to stderr; ``--json PATH`` writes the same rows as JSON (PSNR ``null`` means exact).

    .venv/bin/python scripts/bench_colour.py --json out/colour.json [--device cuda] [--frame 60]
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
import vapoursynth as vs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vsrife.colour import ColourSpec, planes_to_rgb, rgb_to_planes, spec_from_format

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ["YUV420P8", "YUV420P10", "YUV420P16", "YUV422P10", "YUV444P16", "YUV410P8", "YUV420PS"]


def grab(clip: vs.VideoNode, n: int) -> tuple[list[torch.Tensor], ColourSpec]:
    f = clip.get_frame(n)
    planes = [torch.from_numpy(np.array(f[i], copy=True))[None] for i in range(f.format.num_planes)]
    return planes, spec_from_format(clip.format, clip.width, clip.height, f.props)


def psnr(a: torch.Tensor, b: torch.Tensor, peak: float) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(peak * peak / mse)


def chroma_psnr(a: list[torch.Tensor], b: list[torch.Tensor], spec: ColourSpec) -> float:
    peak = 1.0 if spec.is_float else float((1 << spec.bits) - 1)
    return psnr(torch.cat([a[1].cpu(), a[2].cpu()]), torch.cat([b[1], b[2]]), peak)


def timed(fn, device: torch.device, repeat: int) -> tuple[object, float]:
    out = fn()  # warm-up (kernel caches)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeat):
        out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return out, (time.perf_counter() - t) / repeat * 1e3


def bench(fmt_name: str, src: vs.VideoNode, frame: int, device: torch.device, repeat: int) -> dict:
    core = vs.core
    fmt = getattr(vs, fmt_name)
    clip = (
        src
        if fmt == src.format.id
        else (core.resize.Point if "420" in fmt_name else core.resize.Spline36)(src, format=fmt)
    )
    planes, spec = grab(clip, frame)
    dev_planes = [p.to(device) for p in planes]
    with torch.inference_mode():
        rgb, ms_to = timed(lambda: planes_to_rgb(dev_planes, spec), device, repeat)
        back, ms_from = timed(lambda: rgb_to_planes(rgb, spec), device, repeat)
    back = [p.cpu() for p in back]
    ref_rgb = grab(core.resize.Spline36(clip, format=vs.RGBS, matrix_in_s="709"), frame)[0]
    row = {
        "format": fmt_name,
        "spec": spec.__dict__,
        "luma_max_err": float((back[0].double() - planes[0].double()).abs().max()),
        "chroma_max_err": float(
            max((b.double() - p.double()).abs().max() for b, p in zip(back[1:], planes[1:], strict=True))
        ),
        "chroma_psnr_ours": chroma_psnr(back, planes, spec),
        "rgb_psnr_vs_zimg_spline36": psnr(rgb.cpu(), torch.stack([p[0] for p in ref_rgb])[None], 1.0),
        "ms_to_rgb": ms_to,
        "ms_from_rgb": ms_from,
    }
    for kernel in ("Spline36", "Bicubic"):
        resize = getattr(core.resize, kernel)
        rt = resize(resize(clip, format=vs.RGBS, matrix_in_s="709"), format=fmt, matrix_s="709")
        row[f"chroma_psnr_zimg_{kernel.lower()}"] = chroma_psnr(grab(rt, frame)[0], planes, spec)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(ROOT / "assets" / "bigbuckbunny.mp4"))
    ap.add_argument("--frame", type=int, default=60)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--formats", nargs="*", default=FORMATS)
    ap.add_argument("--json", type=Path, help="write the rows as JSON here")
    args = ap.parse_args()

    device = torch.device(args.device)
    src = vs.core.bs.VideoSource(args.video)
    rows = [bench(f, src, args.frame, device, args.repeat) for f in args.formats]

    def db(x: float) -> str:
        return "exact" if math.isinf(x) else f"{x:.2f}"

    head = (
        f"{'format':<10} {'luma err':>8} {'chroma ours':>11} {'zimg S36':>9} {'zimg Bic':>9} "
        f"{'RGB vs S36':>10} {'->RGB ms':>9} {'RGB-> ms':>9}"
    )
    print(f"{args.video} frame {args.frame}, device {device}; chroma round-trip PSNR in dB", file=sys.stderr)
    print(head, file=sys.stderr)
    for r in rows:
        print(
            f"{r['format']:<10} {r['luma_max_err']:>8g} {db(r['chroma_psnr_ours']):>11} "
            f"{db(r['chroma_psnr_zimg_spline36']):>9} {db(r['chroma_psnr_zimg_bicubic']):>9} "
            f"{db(r['rgb_psnr_vs_zimg_spline36']):>10} {r['ms_to_rgb']:>9.1f} {r['ms_from_rgb']:>9.1f}",
            file=sys.stderr,
        )
    if args.json:
        clean = [
            {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in r.items()} for r in rows
        ]
        doc = {
            "video": args.video,
            "frame": args.frame,
            "device": str(device),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "rows": clean,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
