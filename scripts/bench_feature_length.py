"""Feature-length figures: how long building the filter takes for a 2-hour film, and whether resident memory
stays flat over a long render.

    .venv/bin/python scripts/bench_feature_length.py                 # build figures + 3,000-frame 720p render
    .venv/bin/python scripts/bench_feature_length.py --frames 300    # a shorter render
    .venv/bin/python scripts/bench_feature_length.py --per-frame     # force the per-frame selection path

Build: a 2-hour 1080p 23.976 fps clip (172,800 frames) to 59.94 and 24 -> 60, and a 5-frame clip at
x1,000,000;
time of ``core.rife.RIFE(...)`` once the model is loaded, and resident memory before and after.
Render: Big Buck Bunny (720p, 132 real frames, looped) at x2 through the default filter (YUV420P8 in and out),
resident memory sampled every few hundred output frames. Prints a table on stderr and JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import vapoursynth as vs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import vsrife.engine
import vsrife.filter
from vsrife.filter import RIFE

core = vs.core


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build_figures() -> list[dict[str, object]]:
    film = core.std.BlankClip(
        width=1920, height=1080, format=vs.YUV420P8, length=172_800, fpsnum=24000, fpsden=1001
    )
    cases = [
        ("2 h 1080p 23.976 -> 59.94", film, {"fps": 59.94}),
        ("2 h 1080p 24 -> 60", core.std.AssumeFPS(film, fpsnum=24, fpsden=1), {"fps": 60}),
        ("5 frames x1,000,000", film[:5], {"factor_num": 1_000_000}),
        ("5 frames at fps=1e9", film[:5], {"fps": 1e9}),
    ]
    RIFE(film[:10], model="4.0")  # load the model once
    rows = []
    for name, clip, kwargs in cases:
        before = rss_mib()
        start = time.perf_counter()
        out = RIFE(clip, model="4.0", **kwargs)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "case": name,
                "output_frames": out.num_frames,
                "build_s": round(seconds, 4),
                "rss_growth_mib": round(rss_mib() - before, 1),
            }
        )
        log(
            f"{name:<28} {out.num_frames:>12,} frames  build {seconds * 1000:8.1f} ms  "
            f"RSS +{rss_mib() - before:.1f} MiB"
        )
    return rows


def _slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares growth per 1,000 frames (a flat render is near 0)."""
    if len(points) < 2:
        return None
    mx = sum(f for f, _ in points) / len(points)
    my = sum(v for _, v in points) / len(points)
    var = sum((f - mx) ** 2 for f, _ in points)
    return round(1000 * sum((f - mx) * (v - my) for f, v in points) / var, 1) if var else None


def render_figures(frames: int, every: int, height: int) -> dict[str, object]:
    bbb = core.bs.VideoSource(str(ROOT / "assets" / "bigbuckbunny.mp4"))
    if height != bbb.height:
        bbb = bbb.resize.Bicubic(width=round(bbb.width * height / bbb.height / 2) * 2, height=height)
    loops = -(-frames // (2 * bbb.num_frames)) + 1
    clip = bbb * loops
    out = RIFE(clip, model="4.0")
    samples: list[dict[str, float]] = []
    low, high = float("inf"), 0.0
    start = time.perf_counter()
    for n, _ in enumerate(out[:frames].frames(close=True)):  # as vsrife interpolate renders: frames in flight
        # after every frame: each window's lowest and highest, not one sample at a random phase
        rss = rss_mib()
        low, high = min(low, rss), max(high, rss)
        if n % every == 0 or n == frames - 1:
            samples.append(
                {
                    "frame": n,
                    "rss_mib": round(rss, 1),
                    "window_min_mib": round(low, 1),
                    "window_max_mib": round(high, 1),
                    "s": round(time.perf_counter() - start, 1),
                }
            )
            log(
                f"frame {n:>6}  RSS {rss:8.1f} MiB  (since the last line {low:8.1f} to {high:8.1f})  "
                f"{samples[-1]['s']:8.1f} s"
            )
            low, high = float("inf"), 0.0
    warm = [s for s in samples if s["frame"] >= min(300, frames // 3)]
    return {
        "frames": frames,
        "size": [bbb.width, bbb.height],
        "fps": round(frames / (time.perf_counter() - start), 3),
        "samples": samples,
        "rss_after_warmup_min_mib": min(s["window_min_mib"] for s in warm) if warm else None,
        "rss_after_warmup_max_mib": max(s["window_max_mib"] for s in warm) if warm else None,
        "window_min_slope_mib_per_1000": _slope([(s["frame"], s["window_min_mib"]) for s in warm]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=3000, help="output frames to render (0: skip the render)")
    ap.add_argument("--every", type=int, default=250, help="sample resident memory every N frames")
    ap.add_argument("--per-frame", action="store_true", help="force the per-frame selection path")
    ap.add_argument(
        "--height", type=int, default=720, help="render at this height (default 720, the sample's)"
    )
    ap.add_argument(
        "--no-release",
        action="store_true",
        help="never hand free heap pages back to the OS (vsrife.memory), to see what it saves",
    )
    args = ap.parse_args()
    if args.no_release:
        vsrife.engine.RELEASE_EVERY = 0
    if args.per_frame:
        vsrife.filter.CYCLE_LIMIT = 0
    result: dict[str, object] = {
        "per_frame_path": args.per_frame,
        "release_every": vsrife.engine.RELEASE_EVERY,
        "build": build_figures(),
    }
    if args.frames:
        result["render"] = render_figures(args.frames, args.every, args.height)
    json.dump(result, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
