"""The training run: ``run(RunConfig(...))`` from Python, also behind ``python -m vsrife.train`` /
``vsrife train`` (single process or torchrun/DDP).

Only rank 0 writes: the progress bar and notes on stderr, ``OUT/train_log.jsonl`` (one JSON object per
line: ``start``, ``step``, ``val``, ``save`` and ``end`` events), ``OUT/flownet.pkl`` (official layout) and
``OUT/resume.pt``. Nothing is written to stdout.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sized
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from ..errors import VsrifeError, WeightsError
from ..loading import locate_weights
from ..registry import get_spec
from . import distributed as D
from .checkpoint import read_resume, restore, save_resume, save_weights, state_hash
from .config import RunConfig
from .data import (
    Augment,
    ResumableSampler,
    StreamedFrames,
    VideoFrames,
    VideoTriplets,
    VimeoTriplets,
    expand_videos,
)
from .losses import psnr
from .model import Trainer
from .progress import Progress
from .schedule import Schedule

logger = logging.getLogger("vsrife")


class RunLog:
    """JSON lines in OUT/train_log.jsonl plus human-readable notes on stderr; silent on ranks other than 0."""

    def __init__(
        self, out: Path, enabled: bool, progress: Progress | None = None, quiet: bool = False
    ) -> None:
        self.enabled = enabled
        self.quiet = quiet
        self.path = out / "train_log.jsonl"
        self.progress = progress
        if enabled:
            out.mkdir(parents=True, exist_ok=True)

    def event(self, kind: str, **fields: Any) -> None:
        if not self.enabled:
            return
        rec = {"event": kind, "time": round(time.time(), 3), **fields}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")

    def note(self, text: str) -> None:
        if not self.enabled or self.quiet:
            return
        if self.progress is not None:
            self.progress.message(text)
        else:
            logger.info("%s", text)


def _count(ds: Dataset) -> int:
    """Samples in a map-style dataset (all of ours have a length; torch's Dataset type does not say so)."""
    return len(cast(Sized, ds))


def build_datasets(config: RunConfig, log: RunLog) -> tuple[Dataset, Dataset | None]:
    """The training set and the validation set (None: no validation) described by ``config.data``."""
    data, seed = config.data, config.seed
    aug = Augment(crop=data.crop) if data.augment else None
    if data.vimeo is not None:
        train = VimeoTriplets(data.vimeo, "train", aug, seed, data.limit, eval_crop=data.crop)
        val = None
        if data.val_limit != 0:
            val = VimeoTriplets(
                data.vimeo, "test", None, seed, data.val_limit or None, eval_crop=data.val_crop
            )
        log.note(f"vimeo: {len(train)} training and {len(val) if val else 0} validation triplets")
        return train, val
    parts: list[Dataset] = []
    vals: list[Dataset] = []
    start, stop = data.frames
    common: dict[str, Any] = {
        "span": data.span,
        "seed": seed,
        "static": data.static,
        "any_timestep": data.any_timestep,
    }
    source = VideoFrames if data.in_ram else StreamedFrames
    for path in expand_videos(data.videos):
        frames = source(path, start, stop, height=data.height, scene_cuts=data.scene_cuts)
        n = len(frames)
        held_out = not data.val_videos and data.val_limit != 0
        cut = n - max(data.span + 1, round(n * data.val_fraction)) if held_out else n
        if cut < data.span + 1:
            raise VsrifeError(
                f"{path}: {n} frames are too few to hold out {data.val_fraction:.0%} for validation"
            )
        tr = VideoTriplets(frames, 0, cut, augment=aug, eval_crop=data.crop, **common)
        parts.append(tr)
        msg = (
            f"{path}: {n} frames {frames.size[1]}x{frames.size[0]}, {len(tr)} training "
            f"triplets (frames 0-{cut - 1}; skipped {tr.skipped['cut']} at cuts, "
            f"{tr.skipped['static']} static)"
        )
        if held_out:
            va = VideoTriplets(frames, cut, None, augment=None, eval_crop=data.val_crop, **common)
            vals.append(va)
            msg += f", {len(va)} validation triplets (frames {cut}-{n - 1})"
        log.note(msg)
    for path in expand_videos(data.val_videos):
        frames = source(path, height=data.height, scene_cuts=data.scene_cuts)
        va = VideoTriplets(frames, augment=None, eval_crop=data.val_crop, **common)
        vals.append(va)
        log.note(f"{path}: {len(va)} validation triplets")
    train_ds: Dataset = parts[0] if len(parts) == 1 else torch.utils.data.ConcatDataset(parts)
    val_ds: Dataset | None = None
    if vals:
        val_ds = vals[0] if len(vals) == 1 else torch.utils.data.ConcatDataset(vals)
        if data.val_limit:
            size = _count(val_ds)
            idx = np.linspace(0, size - 1, min(data.val_limit, size)).round().astype(int)
            val_ds = torch.utils.data.Subset(val_ds, sorted(set(idx.tolist())))
    return train_ds, val_ds


def _set_epoch(ds: Dataset, epoch: int) -> None:
    if hasattr(ds, "set_epoch"):
        ds.set_epoch(epoch)
    for sub in getattr(ds, "datasets", []):
        _set_epoch(sub, epoch)


def _split(batch: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    x = batch.to(device, non_blocking=True).float().div_(255.0)
    return x[:, :6], x[:, 6:9]


@torch.no_grad()
def validate(trainer: Trainer, ds: Dataset, info: D.DistInfo, batch_size: int) -> dict[str, float]:
    """Mean PSNR (dB) of the student (and teacher) over the validation triplets, frames padded to the
    model's multiple and cropped back; each rank takes every world_size-th triplet, the sums are reduced."""
    mine = list(range(info.rank, _count(ds), info.world_size))
    sums = [0.0, 0.0, 0.0]  # student psnr, teacher psnr, count
    for i in range(0, len(mine), batch_size):
        chunk = [ds[j] for j in mine[i : i + batch_size]]
        same = all(it[0].shape == chunk[0][0].shape for it in chunk)
        for items in [chunk] if same else [[it] for it in chunk]:
            sums = _validate_batch(trainer, items, sums)
    s, st, n = D.sum_across(info, sums)
    res = {"psnr": s / max(n, 1), "count": int(n)}
    if trainer.net.has_teacher:
        res["psnr_teacher"] = st / max(n, 1)
    return res


def _validate_batch(trainer: Trainer, items: list, sums: list[float]) -> list[float]:
    m = trainer.modulo
    frames = torch.stack([it[0] for it in items])
    t = torch.cat([it[1] for it in items])
    imgs, gt = _split(frames, trainer.device)
    h, w = gt.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        imgs = F.pad(imgs, (0, pw, 0, ph), mode="replicate")
        gtp = F.pad(gt, (0, pw, 0, ph), mode="replicate")
    else:
        gtp = gt
    out = trainer.predict(imgs[:, :3], imgs[:, 3:6], t.to(trainer.device), gtp)
    sums[0] += float(psnr(out.levels.output[..., :h, :w], gt).sum())
    if out.merged_tea is not None:
        sums[1] += float(psnr(out.merged_tea[..., :h, :w], gt).sum())
    sums[2] += len(items)
    return sums


def run(config: RunConfig) -> int:
    """Train as ``config`` says (in this process, or as one rank under torchrun); returns 0 when done."""
    info = D.setup(config.device)
    try:
        return _run(config, info)
    finally:
        D.teardown(info)


def _run(cfg: RunConfig, info: D.DistInfo) -> int:
    threads = cfg.threads or max(1, (os.cpu_count() or 1) // max(1, info.local_world_size))
    torch.set_num_threads(threads)
    torch.manual_seed(cfg.seed)  # same initial teacher on every rank (DDP also broadcasts rank 0's)
    out = Path(cfg.out)
    main = info.is_main
    log = RunLog(out, main, quiet=cfg.quiet)
    config = cfg.train
    weights = None
    if not cfg.scratch:
        try:
            weights = str(locate_weights(get_spec(cfg.model), cfg.weights))
        except WeightsError:
            if cfg.weights is not None:
                raise
    trainer = Trainer(cfg.model, weights, config, device=info.device, ddp=info.distributed)
    teacher = "off"
    if trainer.net.has_teacher:
        teacher = "loaded from the file" if trainer.teacher_loaded else "trained from scratch"
    if weights:
        log.note(f"model {trainer.version}: weights {weights}; teacher {teacher}")
    else:
        log.note(f"model {trainer.version}: training from scratch (random weights)")

    train_ds, val_ds = build_datasets(cfg, log)
    batch = cfg.batch_size
    sampler = ResumableSampler(train_ds, info.world_size, info.rank, shuffle=True, seed=cfg.seed)
    steps_per_epoch = len(sampler) // batch
    if steps_per_epoch < 1:
        raise VsrifeError(
            f"{_count(train_ds)} training triplets are fewer than batch size {batch} x {info.world_size} "
            f"processes"
        )
    total = cfg.steps or cfg.epochs * steps_per_epoch
    schedule = Schedule(
        peak_lr=config.lr, total_steps=total, warmup_steps=min(cfg.warmup, total), min_lr=cfg.min_lr
    )
    data_cfg = {
        "batch_size": batch,
        "world_size": info.world_size,
        "seed": cfg.seed,
        "steps_per_epoch": steps_per_epoch,
        "train_triplets": _count(train_ds),
    }
    step = 0
    resume_path = out / "resume.pt" if cfg.resume == "auto" else Path(cfg.resume) if cfg.resume else None
    if resume_path is not None and resume_path.is_file():
        obj = read_resume(resume_path)
        step, saved = restore(trainer, obj)
        if saved != schedule:
            log.note(f"resume: continuing the saved schedule {saved} (the command line asked for {schedule})")
        schedule = saved
        total = schedule.total_steps
        changed = {k: (obj["data"].get(k), v) for k, v in data_cfg.items() if obj["data"].get(k) != v}
        if changed:
            log.note(
                f"resume: data settings changed {changed}: the sample order will differ from the first run"
            )
        log.note(f"resume: {resume_path} at step {step}/{total}")
    elif cfg.resume not in (None, "auto"):
        raise FileNotFoundError(f"resume file {resume_path} does not exist")
    elif cfg.resume == "auto":
        log.note(f"resume: no {resume_path} yet; starting at step 0")
    stop_at = min(cfg.stop_at, total) if cfg.stop_at else total

    samples_per_step = batch * info.world_size
    progress = Progress(total, step, enabled=main and not cfg.quiet, every=cfg.log_every)
    log.progress = progress
    log.event(
        "start",
        model=trainer.version,
        weights=weights,
        step=step,
        total_steps=total,
        stop_at=stop_at,
        world_size=info.world_size,
        backend=info.backend,
        device=str(info.device),
        threads=threads,
        schedule=schedule.__dict__,
        config=config.to_dict(),
        data=data_cfg,
        teacher=("loaded" if trainer.teacher_loaded else "scratch") if trainer.net.has_teacher else "off",
    )

    def do_validate(at: int) -> None:
        if val_ds is None or _count(val_ds) == 0:
            return
        res = validate(trainer, val_ds, info, cfg.val_batch_size or batch)
        log.event("val", step=at, epoch=at / steps_per_epoch, **res)
        tea = f", teacher {res['psnr_teacher']:.3f} dB" if "psnr_teacher" in res else ""
        log.note(f"validation at step {at}: PSNR {res['psnr']:.3f} dB over {res['count']} triplets{tea}")

    last_saved = -1

    def save(at: int) -> None:
        nonlocal last_saved
        if main and at != last_saved:
            save_weights(trainer, out / "flownet.pkl", include_teacher=cfg.teacher_in_checkpoint)
            save_resume(trainer, out / "resume.pt", at, schedule, data_cfg)
            log.event("save", step=at, weights=str(out / "flownet.pkl"), resume=str(out / "resume.pt"))
        last_saved = at

    if step == 0 and cfg.val_at_start:
        do_validate(0)
    workers = cfg.workers if cfg.workers is not None else (4 if info.device.type == "cuda" else 0)
    keys = ("loss_total", "loss_l1", "loss_tea", "loss_distill", "loss_smooth", "loss_census", "grad_norm")
    window: list[torch.Tensor] = []  # kept on the device: no host sync between log steps
    while step < stop_at:
        epoch, offset = divmod(step, steps_per_epoch)
        sampler.set_position(epoch, offset * batch)
        _set_epoch(train_ds, epoch)
        loader = DataLoader(
            train_ds,
            batch_size=batch,
            sampler=sampler,
            num_workers=workers,
            # VapourSynth's thread pool does not survive fork(): workers start fresh, open their own sources
            multiprocessing_context="spawn" if workers > 0 else None,
            drop_last=True,
            pin_memory=info.device.type == "cuda",
            persistent_workers=False,
        )
        for frames, t in loader:
            imgs, gt = _split(frames, info.device)
            lr = schedule(step)
            _, res = trainer.update(imgs, gt, lr, training=True, timestep=t.view(-1).to(info.device))
            step += 1
            window.append(torch.stack([res[k].float() for k in keys]))
            if step % cfg.log_every == 0 or step == stop_at:
                avg = D.mean_across(info, torch.stack(window).mean(0).tolist())
                window.clear()
                progress.update(step, avg[0], lr, samples_per_step, f"epoch {epoch + 1}")
                rate = progress.rate()
                log.event(
                    "step",
                    step=step,
                    epoch=epoch,
                    lr=lr,
                    **dict(zip(keys, avg, strict=True)),
                    steps_per_s=rate,
                    samples_per_s=rate * samples_per_step,
                    skipped_steps=trainer.skipped_steps,
                )
            if cfg.save_every and step % cfg.save_every == 0:
                save(step)
            if step >= stop_at:
                break
        if step % steps_per_epoch == 0:
            do_validate(step)
            save(step)
    save(step)
    progress.close()
    hashes = D.gather_strings(info, state_hash(trainer))
    if len(set(hashes)) != 1 and main:
        logger.warning("the replicas differ after training: %s", hashes)
    log.event(
        "end",
        step=step,
        total_steps=total,
        finished=step >= total,
        rank_hashes=hashes,
        skipped_steps=trainer.skipped_steps,
        weights=str(out / "flownet.pkl"),
    )
    log.note(
        f"{'finished' if step >= total else 'stopped'} at step {step}/{total}; "
        f"weights {out / 'flownet.pkl'}, "
        f"resume file {out / 'resume.pt'}"
    )
    return 0
