"""Streamed training data against decoding into RAM: samples per second, and peak resident memory over long
1080p footage.

    .venv/bin/python scripts/bench_stream.py                   # 10 minutes of 1080p footage
    .venv/bin/python scripts/bench_stream.py --minutes 2       # shorter

1. Speed: every training triplet of Big Buck Bunny (720p, 132 frames) once, with the training augmentation
   (256 crop), from the in-RAM dataset and from the streamed one (same triplets, same order; DataLoader with
   no workers, so it is the dataset's own cost).
2. Memory: footage made by looping the sample to ``--minutes`` at 1920x1080 (cached in .cache/bench), then
   in a fresh process the streamed dataset is built (one scan) and ``--samples`` random triplets are read;
   peak resident memory is reported with the memory that decoding it into RAM would need.
Table on stderr, JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def speed(video: str, repeats: int) -> dict[str, float]:
    from vsrife.train.data import Augment, StreamedFrames, VideoFrames, VideoTriplets

    out: dict[str, float] = {}
    for name, cls in (("in_ram", VideoFrames), ("streamed", StreamedFrames)):
        t0 = time.perf_counter()
        frames = cls(video)
        build = time.perf_counter() - t0
        ds = VideoTriplets(frames, augment=Augment(crop=(256, 256)))
        rates = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for k in range(len(ds)):
                ds[k]
            rates.append(len(ds) / (time.perf_counter() - t0))
        out[f"{name}_build_s"] = round(build, 2)
        out[f"{name}_samples_per_s"] = round(sorted(rates)[len(rates) // 2], 1)
        log(
            f"{name:>9}: built in {build:6.1f} s, {out[f'{name}_samples_per_s']:7.1f} samples/s "
            f"({len(ds)} triplets)"
        )
    return out


def footage(minutes: float) -> Path:
    path = ROOT / ".cache" / "bench" / f"bbb_1080p_{minutes:g}min.mkv"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part.mkv")
        log(f"making {path.name} ({minutes:g} min of 1920x1080 from the looped sample)")
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y", "-stream_loop", "-1", "-i",
             str(ROOT / "assets" / "bigbuckbunny.mp4"), "-t", str(minutes * 60), "-vf", "scale=1920:1080",
             "-an", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20", str(tmp)],
            check=True,
        )  # fmt: skip
        tmp.replace(path)
    return path


def memory_child(path: str, samples: int) -> None:
    import numpy as np

    from vsrife.train.data import Augment, StreamedFrames, VideoTriplets

    base = peak_rss_mib()
    t0 = time.perf_counter()
    frames = StreamedFrames(path)
    scan = time.perf_counter() - t0
    after_scan = peak_rss_mib()
    ds = VideoTriplets(frames, augment=Augment(crop=(256, 256)))
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for k in rng.integers(0, len(ds), samples):
        ds[int(k)]
    h, w = frames.size
    print(json.dumps({
        "frames": len(frames), "size": [w, h], "triplets": len(ds), "scan_s": round(scan, 1),
        "samples": samples, "samples_per_s": round(samples / (time.perf_counter() - t0), 2),
        "peak_rss_mib_after_imports": round(base, 1), "peak_rss_mib_after_scan": round(after_scan, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "in_ram_would_need_mib": round(len(frames) * h * w * 3 / 2**20),
    }))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the 1080p footage (default 10)")
    ap.add_argument("--samples", type=int, default=200, help="random triplets read from it (default 200)")
    ap.add_argument("--repeats", type=int, default=3, help="passes for the speed figure (median)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        memory_child(args.child, args.samples)
        return
    result: dict[str, object] = {"speed": speed(str(ROOT / "assets" / "bigbuckbunny.mp4"), args.repeats)}
    path = footage(args.minutes)
    r = subprocess.run(
        [sys.executable, __file__, "--child", str(path), "--samples", str(args.samples)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    mem = json.loads(r.stdout.strip().splitlines()[-1])
    result["memory"] = mem
    log(
        f"{args.minutes:g} min of 1080p ({mem['frames']} frames): scan {mem['scan_s']} s, peak RSS "
        f"{mem['peak_rss_mib']} MiB (after imports {mem['peak_rss_mib_after_imports']} MiB); in RAM it would "
        f"need {mem['in_ram_would_need_mib']} MiB; {mem['samples_per_s']} samples/s"
    )
    json.dump(result, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
