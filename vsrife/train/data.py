"""Training triplets: the Vimeo-90K triplet layout and triplets cut from any video through VapourSynth.

A sample is ``(frames, timestep)``: ``frames`` is ``uint8 [9, H, W]`` holding img0, img1 and the ground
truth (RGB, channels first, in that order, as the reference training code stacks them) and ``timestep`` is
``float32 [1]``, the position of the ground truth between img0 (0) and img1 (1).

Augmentation is random crop, horizontal and vertical flips, time reversal (img0 <-> img1, t -> 1 - t),
channel order (RGB <-> BGR) and, for square crops, rotation by 90/180/270 degrees. Its randomness is drawn
from a generator seeded by ``(seed, epoch, index)`` and nothing else, so a sample is the same whichever
process or worker makes it and whenever: the resume file only has to remember the step.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler

# --- PNG -------------------------------------------------------------------------------------------------

try:  # opencv is optional: much faster, and it reads every PNG flavour
    import cv2 as _cv2

    _cv2.setNumThreads(1)
except ImportError:  # pragma: no cover - depends on the environment
    _cv2 = None

_PNG_SIG = b"\x89PNG\r\n\x1a\n"


def png_backend() -> str:
    return "opencv" if _cv2 is not None else "builtin"


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """An 8-bit image file as ``uint8 [H, W, 3]`` RGB (opencv when installed, else the built-in PNG reader)."""
    if _cv2 is not None:
        img = _cv2.imread(str(path), _cv2.IMREAD_COLOR)
        if img is None:
            raise OSError(f"cannot read image {path}")
        return np.ascontiguousarray(img[:, :, ::-1])
    return read_png(path)


def read_png(path: str | os.PathLike[str]) -> np.ndarray:
    """Minimal PNG decoder (8-bit grey, grey+alpha, RGB, RGBA; not interlaced) -> ``uint8 [H, W, 3]`` RGB."""
    data = Path(path).read_bytes()
    if not data.startswith(_PNG_SIG):
        raise OSError(f"{path} is not a PNG file")
    pos, idat = 8, []
    width = height = depth = ctype = interlace = -1
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if depth != 8 or channels is None or interlace != 0:
        raise OSError(
            f"{path}: only 8-bit, non-interlaced grey/RGB(A) PNGs are supported without opencv "
            f"(install opencv-python-headless)"
        )
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8)
    stride = width * channels
    raw = raw[: height * (stride + 1)].reshape(height, stride + 1)
    out = np.zeros((height, stride), np.uint8)
    prev = np.zeros(stride, np.uint8)
    bpp = channels
    for y in range(height):
        f, row = raw[y, 0], raw[y, 1:]
        if f == 0:
            cur = row.copy()
        elif f == 1:  # Sub: a running sum per channel, modulo 256
            cur = np.cumsum(row.reshape(-1, bpp), axis=0, dtype=np.uint8).reshape(-1)
        elif f == 2:  # Up
            cur = row + prev
        elif f in (3, 4):  # Average, Paeth: sequential along the row
            cur = np.zeros(stride, np.int32)
            r, p = row.astype(np.int32), prev.astype(np.int32)
            for x in range(stride):
                a = cur[x - bpp] if x >= bpp else 0
                b = p[x]
                if f == 3:
                    cur[x] = (r[x] + ((a + b) >> 1)) & 255
                else:
                    c = p[x - bpp] if x >= bpp else 0
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                    cur[x] = (r[x] + pred) & 255
            cur = cur.astype(np.uint8)
        else:
            raise OSError(f"{path}: bad PNG filter type {f}")
        out[y] = cur
        prev = cur
    img = out.reshape(height, width, channels)
    if channels in (1, 2):
        img = np.repeat(img[:, :, :1], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3])


def write_png(path: str | os.PathLike[str], rgb: np.ndarray) -> None:
    """Write ``uint8 [H, W, 3]`` RGB as a PNG (no filtering; for test data and exported triplets)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"write_png needs [H, W, 3] uint8; got {rgb.shape}")
    h, w, _ = rgb.shape

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = np.concatenate([np.zeros((h, 1), np.uint8), rgb.reshape(h, w * 3)], axis=1)
    png = (
        _PNG_SIG
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + chunk(b"IEND", b"")
    )
    tmp = Path(str(path) + ".tmp")
    tmp.write_bytes(png)
    os.replace(tmp, path)


# --- augmentation ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Augment:
    """Random crop (``crop`` = (height, width); None keeps the whole frame) and the probability of each
    transform."""

    crop: tuple[int, int] | None = (128, 128)
    hflip: float = 0.5
    vflip: float = 0.5
    reverse: float = 0.5
    channels: float = 0.5
    rotate: float = 0.75  # square crops only: 90, 180 or 270 degrees, equally likely

    def __post_init__(self) -> None:
        if self.crop is not None and (len(self.crop) != 2 or min(self.crop) < 1):
            raise ValueError(f"crop must be (height, width) in pixels; got {self.crop!r}")
        for name in ("hflip", "vflip", "reverse", "channels", "rotate"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"augmentation probability {name} must lie in [0, 1]")


def augment(
    img0: np.ndarray, gt: np.ndarray, img1: np.ndarray, t: float, aug: Augment, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Apply ``aug`` to one triplet of ``[H, W, 3]`` arrays (the same transform to all three frames)."""
    frames = [img0, gt, img1]
    if aug.crop is not None:
        ch, cw = aug.crop
        h, w = img0.shape[:2]
        if ch > h or cw > w:
            raise ValueError(f"crop {ch}x{cw} is larger than the {h}x{w} frames")
        y = int(rng.integers(0, h - ch + 1))
        x = int(rng.integers(0, w - cw + 1))
        frames = [f[y : y + ch, x : x + cw] for f in frames]
    if rng.random() < aug.hflip:
        frames = [f[:, ::-1] for f in frames]
    if rng.random() < aug.vflip:
        frames = [f[::-1] for f in frames]
    if rng.random() < aug.channels:
        frames = [f[:, :, ::-1] for f in frames]
    if rng.random() < aug.reverse:
        frames = [frames[2], frames[1], frames[0]]
        t = 1.0 - t
    r = rng.random()
    if frames[0].shape[0] == frames[0].shape[1] and r < aug.rotate:
        k = 1 + int(3 * r / aug.rotate)  # 1, 2, 3 quarter turns
        frames = [np.rot90(f, k) for f in frames]
    return frames[0], frames[1], frames[2], t


def center_crop(frames: Sequence[np.ndarray], size: tuple[int, int] | None) -> list[np.ndarray]:
    if size is None:
        return list(frames)
    h, w = frames[0].shape[:2]
    ch, cw = min(size[0], h), min(size[1], w)
    y, x = (h - ch) // 2, (w - cw) // 2
    return [f[y : y + ch, x : x + cw] for f in frames]


def _pack(img0: np.ndarray, gt: np.ndarray, img1: np.ndarray, t: float) -> tuple[torch.Tensor, torch.Tensor]:
    stack = np.concatenate([img0, img1, gt], axis=2)  # H, W, 9
    frames = torch.from_numpy(np.ascontiguousarray(stack.transpose(2, 0, 1)))
    return frames, torch.tensor([t], dtype=torch.float32)


class TripletDataset(Dataset):
    """Base class: ``_triplet(index, rng)`` gives (img0, gt, img1, t) as ``uint8 [H, W, 3]`` RGB; this
    class augments (training) or centre-crops (``augment=None``, validation) and packs them."""

    def __init__(
        self, augment: Augment | None, seed: int = 0, eval_crop: tuple[int, int] | None = None
    ) -> None:
        self.augment = augment
        self.seed = int(seed)
        self.eval_crop = eval_crop
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def _triplet(
        self, index: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = self.rng(index)
        img0, gt, img1, t = self._triplet(index, rng)
        if self.augment is not None:
            img0, gt, img1, t = augment(img0, gt, img1, t, self.augment, rng)
        else:
            img0, gt, img1 = center_crop((img0, gt, img1), self.eval_crop)
        return _pack(img0, gt, img1, t)


class VimeoTriplets(TripletDataset):
    """Vimeo-90K triplets: ``root/sequences/XXXXX/YYYY/im{1,2,3}.png`` listed in ``root/tri_trainlist.txt``
    (split "train") or ``root/tri_testlist.txt`` (split "test"); im2 is the ground truth at t = 0.5."""

    LISTS: ClassVar[dict[str, str]] = {"train": "tri_trainlist.txt", "test": "tri_testlist.txt"}

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        augment: Augment | None = None,
        seed: int = 0,
        limit: int | None = None,
        eval_crop: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(augment, seed, eval_crop)
        self.root = Path(root)
        if split not in self.LISTS:
            raise ValueError(f"split must be train or test; got {split!r}")
        listfile = self.root / self.LISTS[split]
        if not listfile.is_file():
            raise FileNotFoundError(
                f"{listfile} not found: expected the Vimeo-90K triplet layout "
                f"(sequences/, tri_trainlist.txt, tri_testlist.txt) under {self.root}"
            )
        entries = [line.strip() for line in listfile.read_text().splitlines() if line.strip()]
        self.entries = entries[:limit] if limit else entries
        if not self.entries:
            raise ValueError(f"{listfile} lists no triplets")

    def __len__(self) -> int:
        return len(self.entries)

    def _triplet(self, index: int, rng: np.random.Generator):
        d = self.root / "sequences" / self.entries[index]
        img0, gt, img1 = (read_image(d / f"im{i}.png") for i in (1, 2, 3))
        return img0, gt, img1, 0.5


# --- video -----------------------------------------------------------------------------------------------


def _rgb_clip(path: str, start: int, stop: int | None, height: int | None) -> Any:
    """Frames [start, stop) of a video as an RGB24 VapourSynth clip (bestsource), optionally at ``height``."""
    import vapoursynth as vs

    core = vs.core
    if not Path(path).is_file():
        raise FileNotFoundError(f"video {path} does not exist")
    clip = core.bs.VideoSource(path)[start:stop]
    if clip.num_frames < 3:
        raise ValueError(f"{path}: need at least 3 frames; got {clip.num_frames}")
    props = clip.get_frame(0).props
    kwargs: dict[str, object] = {"format": vs.RGB24}
    if clip.format.color_family == vs.YUV and int(props.get("_Matrix", 2)) in (2, 3):
        kwargs["matrix_in_s"] = "709" if clip.height >= 600 else "170m"
    if height and height != clip.height:
        width = max(2, round(clip.width * height / clip.height / 2) * 2)
        kwargs.update(width=width, height=int(height))
    return core.resize.Bicubic(clip, **kwargs)


def _to_array(frame: Any) -> np.ndarray:
    return np.stack([np.asarray(frame[p]) for p in range(3)], axis=2)


def _mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _thumb(frame: np.ndarray) -> torch.Tensor:
    from ..scenecut import thumbnail

    return thumbnail(torch.from_numpy(frame).permute(2, 0, 1).float().div(255))[0]


def _cut_flags(thumbs: Sequence[torch.Tensor]) -> np.ndarray:
    """cuts[n]: a hard cut between frames n and n+1, from the window of thumbnails n-1 .. n+2."""
    from ..scenecut import SceneCutDetector

    det = SceneCutDetector()
    last = len(thumbs) - 1
    cuts = np.zeros(last, bool)
    for n in range(last):
        cuts[n] = det.is_cut([thumbs[min(max(i, 0), last)] for i in (n - 1, n, n + 1, n + 2)])
    return cuts


class VideoFrames:
    """Every frame of (a range of) a video as ``uint8 [N, H, W, 3]`` RGB, decoded once into RAM through
    VapourSynth (bestsource), with the scene cuts between consecutive frames. For short clips; long or large
    footage streams with :class:`StreamedFrames`, which makes the same decisions."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        start: int = 0,
        stop: int | None = None,
        height: int | None = None,
        scene_cuts: bool = True,
    ) -> None:
        self.path = str(path)
        rgb = _rgb_clip(self.path, start, stop, height)
        self.frames = np.empty((rgb.num_frames, rgb.height, rgb.width, 3), np.uint8)
        for n, f in enumerate(rgb.frames(close=True)):
            self.frames[n] = _to_array(f)
        self.fps = float(rgb.fps) if rgb.fps_den else 0.0
        if scene_cuts:
            self.cuts = _cut_flags([_thumb(f) for f in self.frames])
        else:
            self.cuts = np.zeros(len(self.frames) - 1, bool)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)"""
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    def frame(self, n: int) -> np.ndarray:
        return self.frames[n]

    def motion(self, a: int, b: int) -> float:
        """Mean absolute difference (8-bit units) between frames a and b."""
        return _mean_abs_diff(self.frames[a], self.frames[b])


class StreamedFrames:
    """The frames of (a range of) a video, decoded on demand through VapourSynth: memory stays flat and
    independent of the footage's length.

    One sequential scan at construction keeps only what the triplet choice needs, a few numbers per frame:
    the scene cuts (the same detector and window as :class:`VideoFrames`, on a sliding window of four
    thumbnails) and the motion between consecutive frames. Frames are then read when a triplet is asked for,
    through a source opened lazily in each process (DataLoader workers open their own; start them with the
    "spawn" context, as the training loop does: VapourSynth's thread pool does not survive fork())."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        start: int = 0,
        stop: int | None = None,
        height: int | None = None,
        scene_cuts: bool = True,
    ) -> None:
        self.path = str(path)
        self.range = (start, stop)
        self.height = height
        rgb = _rgb_clip(self.path, start, stop, height)
        self.length = rgb.num_frames
        self._size = (rgb.height, rgb.width)
        self.fps = float(rgb.fps) if rgb.fps_den else 0.0
        self.steps = np.zeros(self.length - 1, np.float32)  # motion between frames n and n + 1
        self.cuts = np.zeros(self.length - 1, bool)
        if scene_cuts:
            from ..scenecut import SceneCutDetector

            det = SceneCutDetector()
        window: list[torch.Tensor] = []  # thumbnails n-1 .. n+2 around the pair being decided
        prev: np.ndarray | None = None
        for n, f in enumerate(rgb.frames(close=True)):
            cur = _to_array(f)
            if prev is not None:
                self.steps[n - 1] = _mean_abs_diff(prev, cur)
            prev = cur
            if scene_cuts:
                window.append(_thumb(cur))
                if n == 0:
                    window.insert(0, window[0])  # clamp: thumbnail "-1" is frame 0
                if len(window) == 4:  # window = n-3 .. n: decide the pair (n-2, n-1)
                    self.cuts[n - 2] = det.is_cut(window)
                    window.pop(0)
        if scene_cuts:  # the last pairs, with the end clamped to the last frame
            last = self.length - 1
            for k in range(max(last - 1, 0), last):
                while len(window) < 4:
                    window.append(window[-1])
                self.cuts[k] = det.is_cut(window)
                window = window[1:]
        self._clip: Any = None
        self._pid = -1

    def __len__(self) -> int:
        return self.length

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)"""
        return self._size

    def motion(self, a: int, b: int) -> float:
        if b != a + 1:
            raise ValueError("streamed frames know the motion between consecutive frames only")
        return float(self.steps[a])

    def frame(self, n: int) -> np.ndarray:
        if self._clip is None or self._pid != os.getpid():  # a new process: its own source and core
            self._clip = _rgb_clip(self.path, self.range[0], self.range[1], self.height)
            self._pid = os.getpid()
        return _to_array(self._clip.get_frame(n))

    def __getstate__(self) -> dict[str, Any]:  # DataLoader workers: the VapourSynth clip does not pickle
        return {**self.__dict__, "_clip": None, "_pid": -1}


VIDEO_SUFFIXES = (".mkv", ".mp4", ".mov", ".avi", ".webm", ".m2ts", ".ts", ".y4m", ".mpg", ".mpeg", ".wmv")


def expand_videos(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Files as given; folders as the video files inside them (sorted, not recursive)."""
    out: list[str] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(str(f) for f in p.iterdir() if f.is_file() and f.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                raise FileNotFoundError(f"folder {p} has no video files ({', '.join(VIDEO_SUFFIXES)})")
            out.extend(found)
        else:
            out.append(str(p))
    return out


class VideoTriplets(TripletDataset):
    """Triplets (i, j, i + span) from frames [start, stop) of a :class:`VideoFrames`.

    A window is skipped when it contains a scene cut, or when two consecutive frames in it are (nearly)
    identical (``static`` = mean absolute difference in 8-bit units): a still or a duplicated frame gives no
    motion to learn, or a wrong timestep. The ground truth is the middle frame (t = 0.5 for an even span);
    with ``any_timestep`` it is any frame strictly inside the window, t = (j - i) / span.
    """

    def __init__(
        self,
        frames: VideoFrames | StreamedFrames,
        start: int = 0,
        stop: int | None = None,
        span: int = 2,
        augment: Augment | None = None,
        seed: int = 0,
        static: float = 0.25,
        any_timestep: bool = False,
        eval_crop: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(augment, seed, eval_crop)
        if span < 2:
            raise ValueError(f"span must be >= 2; got {span}")
        self.video = frames
        self.span = span
        self.any_timestep = any_timestep
        stop = len(frames) if stop is None else min(stop, len(frames))
        self.skipped = {"cut": 0, "static": 0}
        self.windows: list[int] = []
        for i in range(start, stop - span):
            if frames.cuts[i : i + span].any():
                self.skipped["cut"] += 1
            elif min(frames.motion(j, j + 1) for j in range(i, i + span)) < static:
                self.skipped["static"] += 1
            else:
                self.windows.append(i)

    def __len__(self) -> int:
        return len(self.windows)

    def _triplet(self, index: int, rng: np.random.Generator):
        i = self.windows[index]
        j = i + int(rng.integers(1, self.span)) if self.any_timestep else i + self.span // 2
        f = self.video.frame
        return f(i), f(j), f(i + self.span), (j - i) / self.span


# --- sampling --------------------------------------------------------------------------------------------


class ResumableSampler(DistributedSampler):
    """DistributedSampler (same order for the same seed and epoch, every rank its own share, equal lengths)
    that can start part-way into an epoch: ``set_position(epoch, skip)`` skips this rank's first ``skip``
    samples."""

    def __init__(
        self, dataset: Dataset, num_replicas: int = 1, rank: int = 0, shuffle: bool = True, seed: int = 0
    ) -> None:
        super().__init__(
            dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=True
        )
        self.skip = 0

    def set_position(self, epoch: int, skip: int) -> None:
        self.set_epoch(epoch)
        self.skip = int(skip)

    def __iter__(self):
        return iter(list(super().__iter__())[self.skip :])

    def __len__(self) -> int:
        return max(0, self.num_samples - self.skip)
