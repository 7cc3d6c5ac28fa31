"""Typed settings of a training run, so a run can be driven from Python as well as from the command line.

>>> from vsrife.train.config import DataConfig, RunConfig
>>> from vsrife.train.loop import run
>>> data = DataConfig(videos=("clip.mkv",))
>>> run(RunConfig(out="runs/ft", data=data, steps=200, train=TrainConfig(lr=1e-5)))

``vsrife train`` only parses its arguments into a :class:`RunConfig`
(:func:`vsrife.train.cli.config_from_args`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import VsrifeError
from .model import TrainConfig

Size = tuple[int, int]


@dataclass(frozen=True)
class DataConfig:
    """Where the triplets come from: a Vimeo-90K folder, or video files (exactly one of the two).

    frames: (start, stop) range of each video (stop None = to the end). height: decode videos at this height.
    span: frames from first to last of a triplet; any_timestep: ground truth anywhere inside the span.
    static: skip triplets with a frame step below this mean difference (8-bit units). scene_cuts: skip
    triplets across detected cuts. val_fraction: hold out this last part of each video (without val_videos).
    val_limit: at most this many validation triplets (0: no validation). crop/val_crop: (height, width), None
    for the whole frame. augment: random crop, flips, reversal, channel order, rotation (else a centre crop).
    limit: Vimeo, only the first N training triplets. videos may name folders (their video files are used).
    in_ram: decode the videos into RAM once (short clips) instead of streaming frames on demand.
    """

    vimeo: str | None = None
    videos: tuple[str, ...] = ()
    frames: tuple[int, int | None] = (0, None)
    height: int | None = None
    span: int = 2
    any_timestep: bool = False
    static: float = 0.25
    scene_cuts: bool = True
    val_fraction: float = 0.1
    val_videos: tuple[str, ...] = ()
    val_limit: int = 64
    val_crop: Size | None = None
    limit: int | None = None
    crop: Size | None = (128, 128)
    augment: bool = True
    in_ram: bool = False

    def __post_init__(self) -> None:
        if (self.vimeo is None) == (not self.videos):
            raise VsrifeError("give either a Vimeo-90K folder (vimeo) or video files (videos), not both")
        if self.span < 2:
            raise VsrifeError(f"span must be >= 2; got {self.span}")
        if not 0 <= self.val_fraction < 1:
            raise VsrifeError(f"val_fraction must lie in [0, 1); got {self.val_fraction}")
        if self.val_limit < 0:
            raise VsrifeError(f"val_limit must be >= 0; got {self.val_limit}")


@dataclass(frozen=True)
class RunConfig:
    """One training run: the release and its initial weights, the data, the optimisation and the run's
    bookkeeping. ``train.lr`` is the peak learning rate of the warm-up + cosine schedule.

    weights: initial weights (None: the release's installed file, else random); scratch: random weights.
    steps: total optimiser steps (None: ``epochs`` passes over the training triplets). resume: a resume file,
    or "auto" for OUT/resume.pt when it exists. stop_at: stop (and save) at this step. workers: DataLoader
    workers per process (None: 4 on CUDA, 0 on the CPU). device: None picks cuda:LOCAL_RANK when CUDA is
    there. threads: torch CPU threads per process (None: cores / processes).
    """

    out: Path
    data: DataConfig
    model: str = "4.0"
    weights: str | None = None
    scratch: bool = False
    train: TrainConfig = field(default_factory=TrainConfig)
    steps: int | None = None
    epochs: int = 1
    batch_size: int = 4
    warmup: int = 0
    min_lr: float = 0.0
    seed: int = 0
    resume: str | None = None
    stop_at: int | None = None
    save_every: int = 0
    log_every: int = 10
    teacher_in_checkpoint: bool = True
    val_at_start: bool = True
    val_batch_size: int | None = None
    workers: int | None = None
    device: str | None = None
    threads: int | None = None
    quiet: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        if self.scratch and self.weights is not None:
            raise VsrifeError("give either weights or scratch, not both")
        if self.batch_size < 1 or self.epochs < 1 or (self.steps is not None and self.steps < 1):
            raise VsrifeError("batch_size, epochs and steps must be >= 1")
        if self.log_every < 1 or self.save_every < 0 or self.warmup < 0:
            raise VsrifeError("log_every must be >= 1, save_every and warmup >= 0")
