"""Checkpoints: weights in the official layout, and a resume file that continues training exactly.

* ``flownet.pkl``: a plain ``{name: tensor}`` dict with the ``module.`` prefix and the key names of the
  released files (``module.block0.conv0.0.0.weight`` ...), fp32, optionally with the teacher
  (``module.block_tea.*``). :meth:`vsrife.RIFE_HDv3.load_weights`, the filter's ``weights=`` and the
  reference code load it as it is.
* ``resume.pt``: everything else a run needs to continue as if it had never stopped: the full network (with
  the teacher), the AdamW moments, the GradScaler, the step, the learning-rate schedule, the optimiser and
  loss settings and the data order settings. It holds only tensors and plain values, so it is read with
  ``torch.load(weights_only=True)``.

Both are written atomically (temporary file, then rename).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ..errors import VsrifeError
from .model import TEACHER_PREFIX, TrainConfig, Trainer
from .schedule import Schedule

RESUME_FORMAT = "vsrife.train.resume"
RESUME_VERSION = 1


def _atomic_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path


def official_state_dict(trainer: Trainer, include_teacher: bool = True) -> dict[str, torch.Tensor]:
    """The network in the released files' layout: ``module.`` + key, fp32, on the CPU."""
    out = {}
    for k, v in trainer.net.state_dict().items():
        if k.startswith(TEACHER_PREFIX) and not include_teacher:
            continue
        out["module." + k] = v.detach().to("cpu", torch.float32).clone()
    return out


def save_weights(trainer: Trainer, path: str | os.PathLike[str], include_teacher: bool = True) -> Path:
    return _atomic_save(official_state_dict(trainer, include_teacher), path)


def state_hash(trainer: Trainer) -> str:
    """sha256 of every tensor of the network (names, shapes and bytes), to compare replicas."""
    h = hashlib.sha256()
    for k, v in trainer.net.state_dict().items():
        t = v.detach().to("cpu").contiguous()
        h.update(k.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def save_resume(
    trainer: Trainer,
    path: str | os.PathLike[str],
    step: int,
    schedule: Schedule,
    data: dict[str, Any] | None = None,
) -> Path:
    obj = {
        "format": RESUME_FORMAT,
        "version": RESUME_VERSION,
        "model": trainer.version,
        "step": int(step),
        "schedule": asdict(schedule),
        "config": trainer.config.to_dict(),
        "data": dict(data or {}),
        "net": {k: v.detach().cpu().clone() for k, v in trainer.net.state_dict().items()},
        "optimizer": trainer.optimG.state_dict(),
        "scaler": trainer.scaler.state_dict(),
        "skipped_steps": trainer.skipped_steps,
    }
    return _atomic_save(obj, path)


def read_resume(path: str | os.PathLike[str]) -> dict[str, Any]:
    obj = torch.load(str(path), map_location="cpu", weights_only=True)
    if not isinstance(obj, dict) or obj.get("format") != RESUME_FORMAT:
        raise VsrifeError(f"{path} is not a vsrife training resume file")
    if obj.get("version") != RESUME_VERSION:
        raise VsrifeError(f"{path}: resume format version {obj.get('version')} is not supported")
    return obj


def restore(trainer: Trainer, obj: dict[str, Any]) -> tuple[int, Schedule]:
    """Put a resume file's state into ``trainer``; returns (step, schedule)."""
    if obj["model"] != trainer.version:
        raise VsrifeError(f"the resume file is for model {obj['model']}, not {trainer.version}")
    saved_cfg = TrainConfig.from_dict(obj["config"])
    if saved_cfg.losses.uses_teacher != trainer.config.losses.uses_teacher:
        raise VsrifeError("the resume file was written with a different teacher setting (loss weights)")
    trainer.net.load_state_dict(obj["net"], strict=True)
    trainer.optimG.load_state_dict(obj["optimizer"])
    if obj.get("scaler") and trainer.scaler.is_enabled():
        trainer.scaler.load_state_dict(obj["scaler"])
    trainer.skipped_steps = int(obj.get("skipped_steps", 0))
    return int(obj["step"]), Schedule(**obj["schedule"])
