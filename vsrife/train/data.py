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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler

from ..colour import planes_to_rgb, spec_from_format
from ..errors import VsrifeError

# --- images (OpenCV) -------------------------------------------------------------------------------------


def _cv2() -> Any:
    """OpenCV, imported on first use (it ships with the ``train`` extra: ``pip install vsrife[train]``)."""
    try:
        import cv2
    except ImportError:
        raise VsrifeError(
            "reading and writing images needs OpenCV: pip install opencv-python-headless (or vsrife[train])"
        ) from None
    cv2.setNumThreads(1)  # DataLoader workers run in parallel already
    return cv2


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """An 8-bit image file (PNG, JPEG ...) as ``uint8 [H, W, 3]`` RGB."""
    cv2 = _cv2()
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f"cannot read image {path} (missing, or not an image OpenCV can decode)")
    return np.ascontiguousarray(img[:, :, ::-1])


def write_png(path: str | os.PathLike[str], rgb: np.ndarray) -> None:
    """Write ``uint8 [H, W, 3]`` RGB as a PNG, atomically (a temporary file renamed into place)."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise VsrifeError(f"write_png needs uint8 [H, W, 3]; got {rgb.dtype} {rgb.shape}")
    ok, data = _cv2().imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    if not ok:
        raise OSError(f"OpenCV could not encode {path}")
    tmp = Path(str(path) + ".tmp")
    tmp.write_bytes(data.tobytes())
    os.replace(tmp, path)


# --- video colour ---------------------------------------------------------------------------------------


def frame_to_rgb(frame: Any, width: int, height: int) -> np.ndarray:
    """One VapourSynth frame (GRAY, YUV or RGB, any depth) as ``uint8 [H, W, 3]`` RGB.

    The conversion is the filter's own (:mod:`vsrife.colour`): the same matrix, range and chroma-siting rules
    for untagged frames, so the model trains on exactly the RGB it is later given.
    """
    spec = spec_from_format(frame.format, width, height, frame.props)
    planes = [torch.from_numpy(np.array(frame[p], copy=True)) for p in range(frame.format.num_planes)]
    rgb = planes_to_rgb(planes, spec)[0]
    return rgb.clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8).permute(1, 2, 0).numpy()


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
            raise VsrifeError(f"crop must be (height, width) in pixels; got {self.crop!r}")
        for name in ("hflip", "vflip", "reverse", "channels", "rotate"):
            if not 0 <= getattr(self, name) <= 1:
                raise VsrifeError(f"augmentation probability {name} must lie in [0, 1]")


def augment(
    img0: np.ndarray, gt: np.ndarray, img1: np.ndarray, t: float, aug: Augment, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Apply ``aug`` to one triplet of ``[H, W, 3]`` arrays (the same transform to all three frames)."""
    frames = [img0, gt, img1]
    if aug.crop is not None:
        ch, cw = aug.crop
        h, w = img0.shape[:2]
        if ch > h or cw > w:
            raise VsrifeError(f"crop {ch}x{cw} is larger than the {h}x{w} frames")
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
            raise VsrifeError(f"split must be train or test; got {split!r}")
        listfile = self.root / self.LISTS[split]
        if not listfile.is_file():
            raise FileNotFoundError(
                f"{listfile} not found: expected the Vimeo-90K triplet layout "
                f"(sequences/, tri_trainlist.txt, tri_testlist.txt) under {self.root}"
            )
        entries = [line.strip() for line in listfile.read_text().splitlines() if line.strip()]
        self.entries = entries[:limit] if limit else entries
        if not self.entries:
            raise VsrifeError(f"{listfile} lists no triplets")

    def __len__(self) -> int:
        return len(self.entries)

    def _triplet(self, index: int, rng: np.random.Generator):
        d = self.root / "sequences" / self.entries[index]
        img0, gt, img1 = (read_image(d / f"im{i}.png") for i in (1, 2, 3))
        return img0, gt, img1, 0.5


# --- video -----------------------------------------------------------------------------------------------


def _open_clip(path: str, start: int, stop: int | None, height: int | None) -> Any:
    """Frames [start, stop) of a video (bestsource), scaled to ``height`` in its own format (Bicubic) so that
    the colour conversion stays the filter's (:func:`frame_to_rgb`)."""
    import vapoursynth as vs

    core = vs.core
    if not Path(path).is_file():
        raise FileNotFoundError(f"video {path} does not exist")
    clip = core.bs.VideoSource(path)[start:stop]
    if clip.num_frames < 3:
        raise VsrifeError(f"{path}: need at least 3 frames; got {clip.num_frames}")
    if height and height != clip.height:
        mw, mh = 1 << clip.format.subsampling_w, 1 << clip.format.subsampling_h
        width = max(mw, round(clip.width * height / clip.height / (2 * mw)) * 2 * mw)
        clip = core.resize.Bicubic(clip, width=width, height=max(mh, round(height / mh) * mh))
    return clip


def _mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _thumb(frame: np.ndarray) -> torch.Tensor:
    from ..scenecut import thumbnail

    return thumbnail(torch.from_numpy(frame).permute(2, 0, 1).float().div(255))[0]


def _is_cut(window: Sequence[torch.Tensor], det: Any) -> bool:
    return bool(det.is_cut(list(window)))


class VideoFrames:
    """Every frame of (a range of) a video as ``uint8 [N, H, W, 3]`` RGB, decoded once into RAM through
    VapourSynth (bestsource) and converted to RGB as the filter converts it (:func:`frame_to_rgb`), with the
    scene cuts between consecutive frames. ``height`` scales the video first (Bicubic, in its own format).
    For short clips: long or large footage streams with :class:`StreamedFrames`, which decides the same."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        start: int = 0,
        stop: int | None = None,
        height: int | None = None,
        scene_cuts: bool = True,
    ) -> None:
        self.path = str(path)
        clip = _open_clip(self.path, start, stop, height)
        self.frames = np.empty((clip.num_frames, clip.height, clip.width, 3), np.uint8)
        for n, f in enumerate(clip.frames(close=True)):
            self.frames[n] = frame_to_rgb(f, clip.width, clip.height)
        self.fps = float(clip.fps) if clip.fps_den else 0.0
        self.cuts = self._detect_cuts() if scene_cuts else np.zeros(len(self.frames) - 1, bool)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)"""
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    def frame(self, n: int) -> np.ndarray:
        return self.frames[n]

    def _detect_cuts(self) -> np.ndarray:
        """cuts[n]: a hard cut between frames n and n+1, from thumbnails n-1 .. n+2 (vsrife.scenecut)."""
        from ..scenecut import SceneCutDetector

        det = SceneCutDetector()
        thumbs = [_thumb(f) for f in self.frames]
        last = len(thumbs) - 1
        cuts = np.zeros(last, bool)
        for n in range(last):
            cuts[n] = _is_cut([thumbs[min(max(i, 0), last)] for i in (n - 1, n, n + 1, n + 2)], det)
        return cuts

    def motion(self, a: int, b: int) -> float:
        """Mean absolute difference (8-bit units) between frames a and b."""
        return _mean_abs_diff(self.frames[a], self.frames[b])


class StreamedFrames:
    """The frames of (a range of) a video, decoded on demand through VapourSynth: memory stays flat and
    independent of the footage's length.

    One sequential scan at construction keeps only what the triplet choice needs, a few numbers per frame:
    the scene cuts (the detector and window of :class:`VideoFrames`, on a sliding window of four thumbnails)
    and the motion between consecutive frames. Frames are then read when a triplet is asked for, through a
    source opened lazily in each process (DataLoader workers open their own; start them with the "spawn"
    context, as the training loop does: VapourSynth's thread pool does not survive fork())."""

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
        clip = _open_clip(self.path, start, stop, height)
        self.length = clip.num_frames
        self._size = (clip.height, clip.width)
        self.fps = float(clip.fps) if clip.fps_den else 0.0
        self.steps = np.zeros(self.length - 1, np.float32)  # motion between frames n and n + 1
        self.cuts = np.zeros(self.length - 1, bool)
        det = None
        if scene_cuts:
            from ..scenecut import SceneCutDetector

            det = SceneCutDetector()
        window: list[torch.Tensor] = []  # thumbnails k-1 .. k+2 around the pair (k, k+1) being decided
        prev: np.ndarray | None = None
        for n, f in enumerate(clip.frames(close=True)):
            cur = frame_to_rgb(f, clip.width, clip.height)
            if prev is not None:
                self.steps[n - 1] = _mean_abs_diff(prev, cur)
            prev = cur
            if det is not None:
                window.append(_thumb(cur))
                if n == 0:
                    window.insert(0, window[0])  # clamped: thumbnail "-1" is frame 0's
                if len(window) == 4:  # frames n-3 .. n decide the pair (n-2, n-1)
                    self.cuts[n - 2] = _is_cut(window, det)
                    window.pop(0)
        if det is not None:  # the last pair, with frame "last + 1" clamped to the last
            window.append(window[-1])
            self.cuts[-1] = _is_cut(window[-4:], det)
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
            raise VsrifeError("streamed frames know the motion between consecutive frames only")
        return float(self.steps[a])

    def frame(self, n: int) -> np.ndarray:
        if self._clip is None or self._pid != os.getpid():  # a new process: its own source and core
            self._clip = _open_clip(self.path, self.range[0], self.range[1], self.height)
            self._pid = os.getpid()
        return frame_to_rgb(self._clip.get_frame(n), self._clip.width, self._clip.height)

    def __getstate__(self) -> dict[str, Any]:  # for DataLoader workers: a VapourSynth clip does not pickle
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
            raise VsrifeError(f"span must be >= 2; got {span}")
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
