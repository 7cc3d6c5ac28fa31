"""Scale-out on this machine: 1 worker x 2 threads against 2 workers x 1 thread, and what encoding costs.

Runs the real command line on the first frames of the 720p sample (alternated, so a busy machine slows both
alike), then times x265 (medium, CRF 18) and FFV1 on the same source frames. Prints a table; writes JSON.

    .venv/bin/python scripts/bench_scaleout.py [--frames 40] [--repeats 2] [--json bench_scaleout.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BBB = ROOT / "assets" / "bigbuckbunny.mp4"


def run_job(out: Path, frames: int, extra: list[str]) -> dict[str, float]:
    cmd = [sys.executable, "-m", "vsrife", "interpolate", str(BBB), "-o", str(out), "--model", "4.0"]
    cmd += ["--factor", "2", "--frames", str(frames), "--lossless", "--no-audio", *extra]
    t = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.monotonic() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    result = {"wall_s": wall}
    man = out.with_name(out.name + ".vsrife.json")
    if man.is_file():  # the rendering itself: first segment started -> last segment finished
        segs = json.loads(man.read_text())["segments"]
        result["render_s"] = max(s["finished"] for s in segs) - min(s["started"] for s in segs)
        man.unlink()
    out.unlink()
    return result


def encode_speed(frames: int, codec: list[str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "e.mkv"
        cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(BBB), "-frames:v", str(frames), *codec, str(out)]
        t = time.monotonic()
        subprocess.run(cmd, check=True)
        secs = time.monotonic() - t
        return {"fps": frames / secs, "bytes_per_frame": out.stat().st_size / frames}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=40, help="source frames (output: twice as many)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", default="bench_scaleout.json")
    args = ap.parse_args()
    seg = str(args.frames / 25 / 4)  # four segments of output at 50 fps
    configs = {
        "1 process x 2 threads (no Ray)": ["--threads", "2"],
        "1 worker x 2 threads (Ray)": ["--workers", "1", "--threads", "2", "--segment-seconds", seg],
        "2 workers x 1 thread (Ray)": ["--workers", "2", "--threads", "1", "--segment-seconds", seg],
    }
    times: dict[str, list[dict[str, float]]] = {k: [] for k in configs}
    with tempfile.TemporaryDirectory() as d:
        for rep in range(args.repeats):
            for name, extra in configs.items():
                times[name].append(run_job(Path(d) / "out.mkv", args.frames, extra))
                print(f"run {rep + 1} {name}: {times[name][-1]}", file=sys.stderr)
    n_out = 2 * args.frames
    enc_frames = 100
    encoders = {
        "x265 medium crf 18": encode_speed(
            enc_frames, ["-c:v", "libx265", "-preset", "medium", "-crf", "18"]
        ),
        "ffv1": encode_speed(enc_frames, ["-c:v", "ffv1", "-level", "3", "-g", "1", "-slicecrc", "1"]),
    }
    print(f"\n1280x720, RIFE 4.0, {args.frames} -> {n_out} frames, median of {args.repeats} alternated runs")
    print(f"{'configuration':<32} {'wall s':>8} {'render s':>9} {'render fps':>11}")
    summary = {}
    for name, rows in times.items():
        wall = statistics.median(r["wall_s"] for r in rows)
        render = statistics.median(r.get("render_s", r["wall_s"]) for r in rows)
        summary[name] = {"wall_s": wall, "render_s": render, "render_fps": n_out / render}
        print(f"{name:<32} {wall:8.1f} {render:9.1f} {n_out / render:11.2f}")
    print(f"\nencoding the source frames ({enc_frames}, 1280x720, all cores)")
    for name, e in encoders.items():
        print(f"{name:<32} {e['fps']:8.1f} fps {e['bytes_per_frame'] / 1024:9.1f} KiB/frame")
    Path(args.json).write_text(
        json.dumps({"runs": times, "summary": summary, "encoders": encoders}, indent=1)
    )


if __name__ == "__main__":
    main()
