#!/usr/bin/env python3
"""Held drawings (``dedup=True``) on real footage: the hold threshold, animation on twos, and live action.

1. **On twos.** Big Buck Bunny (25 fps) is reduced to ``--size``; frames 0, 2, 4, ... are kept and each
   shown twice, then the clip is encoded with x264 at crf 18 (so the holds differ by coding noise) and
   decoded again.
   ``RIFE(twos, fps=25, dedup=True)`` should rebuild the dropped odd frames: PSNR (RGB, 8 bit) at the odd
   positions against the original frames. The baseline ``dedup=False`` cannot run at an equal rate; it shows
   the source frames unchanged (the held copy of the previous drawing), so its figure is the PSNR of those.
2. **Hold threshold.** :func:`vsrife.holds.hold_difference` of the encoded holds and of the encoded drawing
   changes, and of consecutive frames of live action (carphone, bikes), encoded the same way.
3. **Live action.** ``RIFE(clip, factor_num=2)`` with and without dedup on carphone and bikes: how many
   output frames differ and the lowest PSNR between the two renders.

Usage::

    .venv/bin/python scripts/bench_holds.py [--size 320x180] [--frames 48] [--json out.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import vapoursynth as vs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.bench_scenecut import find_bikes
from vsrife.filter import RIFE
from vsrife.holds import HOLD_THRESHOLD, hold_difference, hold_thumbnail

core = vs.core
CACHE = ROOT / ".cache" / "bench_holds"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def encode(node: vs.VideoNode, path: Path, crf: int = 18) -> vs.VideoNode:
    """``node`` (YUV420P8) through x264 at ``crf``, decoded again."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.mkv")
    cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "yuv4mpegpipe", "-i", "-"]
    cmd += ["-c:v", "libx264", "-preset", "medium", "-crf", str(crf), "-pix_fmt", "yuv420p", str(tmp)]
    with subprocess.Popen(cmd, stdin=subprocess.PIPE) as proc:
        assert proc.stdin is not None
        node.output(proc.stdin, y4m=True)
        proc.stdin.close()
    if proc.returncode != 0:
        raise SystemExit(f"bench: ffmpeg failed with {proc.returncode}")
    tmp.replace(path)
    return core.bs.VideoSource(str(path), cachemode=0)


def scaled(
    path: str, width: int, height: int, first: int, count: int, fps: int | None = None
) -> vs.VideoNode:
    src = core.bs.VideoSource(path, cachemode=0)
    matrix = "709" if src.height >= 576 else "170m"
    clip = src[first : first + count].resize.Bicubic(
        width, height, format=vs.YUV420P8, matrix_in_s=matrix, matrix_s="709"
    )
    return clip.std.AssumeFPS(fpsnum=fps) if fps else clip


def rgb(frame: vs.VideoFrame) -> np.ndarray:
    return np.stack([np.asarray(frame[p]) for p in range(3)]).astype(np.float64)


def to_rgb(clip: vs.VideoNode) -> vs.VideoNode:
    return clip.resize.Bicubic(format=vs.RGB24, matrix_in_s="709")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return 99.0 if mse == 0 else 10 * math.log10(255.0**2 / mse)


def hold_diffs(clip: vs.VideoNode) -> list[float]:
    """hold_difference of every consecutive pair of a YUV clip."""
    thumbs = [hold_thumbnail([np.asarray(f[0])], False, 255.0) for f in clip.frames()]
    return [hold_difference(a, b) for a, b in itertools.pairwise(thumbs)]


def on_twos(width: int, height: int, frames: int, model: str) -> dict[str, object]:
    orig = scaled(str(ROOT / "assets" / "bigbuckbunny.mp4"), width, height, 0, frames)
    kept = orig[::2]
    twos_raw = core.std.Interleave([kept, kept])
    twos = encode(twos_raw, CACHE / f"twos_{width}x{height}_{frames}.mkv")
    diffs = hold_diffs(twos)
    hold = diffs[0::2]  # frame 2k+1 repeats frame 2k
    change = diffs[1::2]  # frame 2k+2 is the next drawing
    out = RIFE(twos, model=model, fps=25, dedup=True)
    assert out.num_frames == twos.num_frames
    ref, dd, base = to_rgb(orig), to_rgb(out), to_rgb(twos)
    rows = []
    for n in range(1, min(twos.num_frames, orig.num_frames) - 1, 2):
        if n + 1 >= twos.num_frames:
            break  # the last drawing has no next one: shown as is
        truth = rgb(ref.get_frame(n))
        rows.append((n, psnr(rgb(dd.get_frame(n)), truth), psnr(rgb(base.get_frame(n)), truth)))
    even = [psnr(rgb(dd.get_frame(n)), rgb(base.get_frame(n))) for n in range(0, twos.num_frames, 2)]
    mean_dd = float(np.mean([r[1] for r in rows]))
    mean_base = float(np.mean([r[2] for r in rows]))
    log(f"on twos ({width}x{height}, {frames} frames, x264 crf 18): odd positions {len(rows)}")
    log(f"  dedup=True  mean PSNR {mean_dd:6.2f} dB")
    log(f"  dedup=False mean PSNR {mean_base:6.2f} dB (the held copy)")
    log(f"  gain {mean_dd - mean_base:+.2f} dB; even positions unchanged: {min(even) >= 99.0}")
    log(
        f"  hold_difference of holds max {max(hold):.4f}, of drawing changes min {min(change):.4f} "
        f"(threshold {HOLD_THRESHOLD})"
    )
    return {
        "size": [width, height],
        "frames": frames,
        "odd_positions": len(rows),
        "psnr_dedup": mean_dd,
        "psnr_no_dedup": mean_base,
        "gain_db": mean_dd - mean_base,
        "even_positions_unchanged": min(even) >= 99.0,
        "per_position": rows,
        "hold_diff_holds_max": max(hold),
        "hold_diff_changes_min": min(change),
    }


def live_action(name: str, clip: vs.VideoNode, model: str) -> dict[str, object]:
    enc = encode(clip, CACHE / f"live_{name}.mkv")
    diffs = hold_diffs(enc)
    plain = to_rgb(RIFE(enc, model=model, factor_num=2))
    dedup = to_rgb(RIFE(enc, model=model, factor_num=2, dedup=True))
    changed = []
    for n in range(plain.num_frames):
        a, b = rgb(plain.get_frame(n)), rgb(dedup.get_frame(n))
        if not np.array_equal(a, b):
            changed.append((n, psnr(a, b)))
    held = sum(d < HOLD_THRESHOLD for d in diffs)
    worst = min((p for _, p in changed), default=99.0)
    log(
        f"live action {name}: {enc.num_frames} frames, {held} pairs under the hold threshold "
        f"(smallest difference {min(diffs):.4f}); dedup changed {len(changed)} of {plain.num_frames} output "
        f"frames, lowest PSNR between the renders {worst:.2f} dB"
    )
    return {
        "clip": name,
        "frames": enc.num_frames,
        "pairs_under_threshold": held,
        "smallest_hold_difference": min(diffs),
        "changed_frames": len(changed),
        "output_frames": plain.num_frames,
        "lowest_psnr_between": worst,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--frames", type=int, default=48, help="Big Buck Bunny frames for the on-twos clip")
    ap.add_argument("--model", default="4.0")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    result: dict[str, object] = {"on_twos": on_twos(width, height, args.frames, args.model)}
    lives = [("carphone", scaled(str(ROOT / "assets" / "carphone_pristine.mp4"), 176, 144, 0, 40))]
    bikes = find_bikes(None)
    if bikes:
        lives.append(("bikes", scaled(bikes, width, height, 60, 40)))
    result["live_action"] = [live_action(name, clip, args.model) for name, clip in lives]
    if args.json:
        with tempfile.NamedTemporaryFile("w", dir=Path(args.json).parent or ".", delete=False) as f:
            json.dump(result, f, indent=1)
        Path(f.name).replace(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
