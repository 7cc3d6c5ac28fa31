"""Speed against the peer in the same run: our IFNet (padding to the release's own multiple) against vs-rife
5.7.0's reference IFNet files with vs-rife's padding rule, same weights, same frames, same device, same
precision; plus the whole VapourSynth filter (YUV420P8 in and out, colour conversion included).

    .venv/bin/python scripts/bench_speed.py [--models 4.0 4.22 4.25] [--frames 8] [--device cpu] [--json F]

The peer's files come from the setup's oracle folder (.cache/oracle); weights are random in the official
layout when no real file is installed (speed does not depend on the values).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / ".cache" / "oracle"))

from vsrife import RIFE_HDv3
from vsrife.backend import resolve_backend
from vsrife.errors import WeightsError
from vsrife.loading import load_model
from vsrife.registry import MODELS


def random_state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        k: (torch.randn(v.shape, generator=g) / math.sqrt(max(1, v[0].numel())))
        if v.ndim > 1
        else 0.1 * torch.randn(v.shape, generator=g)
        for k, v in net.state_dict().items()
    }


def run_peer(ref, has_encoder: bool, img0, img1, ts, div, grid) -> torch.Tensor:
    with torch.inference_mode():
        if has_encoder:
            # vs-rife caches encoder features per source frame: one new frame encoded per output frame
            f0 = ref.encode(img0)
            return ref(img0, img1, ts, div, grid, f0, f0)
        return ref(img0, img1, ts, div, grid)


def run_ours(ours: RIFE_HDv3, frame: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        p = ours.pad(frame.to(ours.device, ours.dtype), 1.0)
        f0 = ours.features(p)
        return ours.interpolate(p, p, torch.tensor([0.5]), f0, f0, 1.0, False)


def timeit(fn, reps: int, sync) -> float:
    fn()
    sync()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["4.0", "4.22", "4.25"])
    ap.add_argument("--frames", type=int, default=5, help="timed repetitions per case")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--device", default=None)
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--json")
    args = ap.parse_args()
    import importlib

    backend = resolve_backend(args.device, args.precision, purpose="model")
    dev = backend.device
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    h, w = args.height, args.width
    g = torch.Generator().manual_seed(1)
    pair = torch.rand(1, 6, h, w, generator=g)
    rows = []
    for version in args.models:
        spec = MODELS[version]
        try:
            ours = load_model(version, backend)
        except WeightsError:  # not installed: random weights time the same
            ours = RIFE_HDv3(version, backend=backend)
            ours.flownet.load_state_dict(random_state(ours.flownet))
        state = ours.flownet.state_dict()
        ref_mod = importlib.import_module("rife_oracle.IFNet_HDv3_v" + version.replace(".", "_"))
        ref = ref_mod.IFNet(1.0, False).eval()
        ref.load_state_dict({k: v.float().cpu() for k, v in state.items()})
        ref.to(dev, ours.dtype)
        mult = max(spec.modulo, int(spec.modulo / 1.0))
        if version in ("4.0", "4.1"):
            mult = 32  # vs-rife pads 4.0/4.1 to 32, as we do (the doubled pyramid pads its own step)
        ph, pw = math.ceil(h / mult) * mult, math.ceil(w / mult) * mult
        x = F.pad(pair, (0, pw - w, 0, ph - h)).to(dev, ours.dtype)
        img0, img1 = x[:, :3], x[:, 3:]
        ts = torch.full((1, 1, ph, pw), 0.5, device=dev, dtype=ours.dtype)
        div = torch.tensor([(pw - 1.0) / 2.0, (ph - 1.0) / 2.0], device=dev)
        gh = torch.linspace(-1.0, 1.0, pw, device=dev).view(1, 1, 1, pw).expand(-1, -1, ph, -1)
        gv = torch.linspace(-1.0, 1.0, ph, device=dev).view(1, 1, ph, 1).expand(-1, -1, -1, pw)
        grid = torch.cat([gh, gv], 1)

        peer = functools.partial(run_peer, ref, spec.has_encoder, img0, img1, ts, div, grid)
        mine = functools.partial(run_ours, ours, pair[:, :3])
        t_peer = timeit(peer, args.frames, sync)
        t_ours = timeit(mine, args.frames, sync)
        rows.append(
            {
                "model": version,
                "ours_pad": list(ours.padding(h, w, 1.0)),
                "peer_pad": [ph - h, pw - w],
                "ours_fps": 1 / t_ours,
                "peer_fps": 1 / t_peer,
                "ratio": t_peer / t_ours,
            }
        )
    print(
        f"{w}x{h} on {dev}, {args.precision}, median of {args.frames} (one output frame each)",
        file=sys.stderr,
    )
    print(
        f"{'model':<8} {'ours fps':>9} {'peer fps':>9} {'ratio':>6}  padding ours/peer (rows)",
        file=sys.stderr,
    )
    for r in rows:
        print(
            f"{r['model']:<8} {r['ours_fps']:>9.3f} {r['peer_fps']:>9.3f} {r['ratio']:>5.2f}x  "
            f"{h + r['ours_pad'][0]}/{h + r['peer_pad'][0]}",
            file=sys.stderr,
        )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"device": str(dev), "size": [w, h], "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
