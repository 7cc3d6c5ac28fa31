"""The training run behind ``python -m vsrife.train`` / ``vsrife train`` (single process or torchrun/DDP).

Only rank 0 writes: the progress bar and notes on stderr, ``OUT/train_log.jsonl`` (one JSON object per
line: ``start``, ``step``, ``val``, ``save`` and ``end`` events), ``OUT/flownet.pkl`` (official layout) and
``OUT/resume.pt``. Nothing is written to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from . import distributed as D
from .checkpoint import read_resume, restore, save_resume, save_weights, state_hash
from .data import (
    Augment,
    ResumableSampler,
    StreamedFrames,
    VideoFrames,
    VideoTriplets,
    VimeoTriplets,
    expand_videos,
    png_backend,
)
from .losses import psnr
from .model import LossWeights, TrainConfig, Trainer
from .progress import Progress
from .schedule import Schedule


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
            print(text, file=sys.stderr, flush=True)


def _size(text: str | None) -> tuple[int, int] | None:
    if text is None or str(text).lower() in ("", "0", "none", "full"):
        return None
    h, _, w = str(text).lower().partition("x")
    return (int(h), int(w or h))


def _frame_range(text: str | None) -> tuple[int, int | None]:
    if not text:
        return 0, None
    a, _, b = text.partition(":")
    return int(a or 0), (int(b) if b else None)


def build_datasets(args: argparse.Namespace, log: RunLog) -> tuple[Dataset, Dataset | None]:
    aug = None
    crop = _size(args.crop)
    if not args.no_augment:
        aug = Augment(crop=crop)
    val_crop = _size(args.val_crop)
    if args.vimeo:
        train = VimeoTriplets(args.vimeo, "train", aug, args.seed, args.limit, eval_crop=crop)
        val = None
        if args.val_limit != 0:
            val = VimeoTriplets(
                args.vimeo, "test", None, args.seed, args.val_limit or None, eval_crop=val_crop
            )
        log.note(
            f"vimeo: {len(train)} training and {len(val) if val else 0} validation triplets "
            f"(PNG reader: {png_backend()})"
        )
        return train, val
    parts: list[Dataset] = []
    vals: list[Dataset] = []
    start, stop = _frame_range(args.frames)
    common = {"span": args.span, "seed": args.seed, "static": args.static, "any_timestep": args.any_timestep}
    source = VideoFrames if args.in_ram else StreamedFrames
    for path in expand_videos(args.video):
        frames = source(path, start, stop, height=args.height, scene_cuts=not args.no_scene_cuts)
        n = len(frames)
        held_out = not args.val_video and args.val_limit != 0
        cut = n - max(args.span + 1, round(n * args.val_fraction)) if held_out else n
        if cut < args.span + 1:
            raise ValueError(
                f"{path}: {n} frames are too few to hold out {args.val_fraction:.0%} for validation"
            )
        tr = VideoTriplets(frames, 0, cut, augment=aug, eval_crop=crop, **common)
        parts.append(tr)
        msg = (
            f"{path}: {n} frames {frames.size[1]}x{frames.size[0]}, {len(tr)} training "
            f"triplets (frames 0-{cut - 1}; skipped {tr.skipped['cut']} at cuts, {tr.skipped['static']} static)"
        )
        if held_out:
            va = VideoTriplets(frames, cut, None, augment=None, eval_crop=val_crop, **common)
            vals.append(va)
            msg += f", {len(va)} validation triplets (frames {cut}-{n - 1})"
        log.note(msg)
    for path in expand_videos(args.val_video or []):
        frames = source(path, height=args.height, scene_cuts=not args.no_scene_cuts)
        va = VideoTriplets(frames, augment=None, eval_crop=val_crop, **common)
        vals.append(va)
        log.note(f"{path}: {len(va)} validation triplets")
    train_ds: Dataset = parts[0] if len(parts) == 1 else torch.utils.data.ConcatDataset(parts)
    val_ds: Dataset | None = None
    if vals:
        val_ds = vals[0] if len(vals) == 1 else torch.utils.data.ConcatDataset(vals)
        if args.val_limit:
            idx = np.linspace(0, len(val_ds) - 1, min(args.val_limit, len(val_ds))).round().astype(int)
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
    mine = list(range(info.rank, len(ds), info.world_size))
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


def run(args: argparse.Namespace) -> int:
    info = D.setup(args.device)
    try:
        return _run(args, info)
    finally:
        D.teardown(info)


def _run(args: argparse.Namespace, info: D.DistInfo) -> int:
    threads = args.threads or max(1, (os.cpu_count() or 1) // max(1, info.local_world_size))
    torch.set_num_threads(threads)
    torch.manual_seed(args.seed)  # same initial teacher on every rank (DDP also broadcasts rank 0's)
    out = Path(args.out)
    main = info.is_main
    log = RunLog(out, main, quiet=args.quiet)
    losses = LossWeights(
        l1=args.w_l1,
        teacher=args.w_teacher,
        distill=args.w_distill,
        smooth=args.w_smooth,
        smooth_alpha=args.smooth_alpha,
        census=args.w_census,
        pyramid_levels=args.pyramid_levels,
    )
    config = TrainConfig(
        lr=args.lr, weight_decay=args.weight_decay, grad_clip=args.grad_clip, amp=args.amp, losses=losses
    )
    weights = None if args.scratch else args.weights
    if weights is None and not args.scratch:
        from ..registry import get_spec
        from ..weights import find_weights

        found = find_weights(get_spec(args.model, "vsrife train"))
        weights = str(found) if found else None
    trainer = Trainer(args.model, weights, config, device=info.device, ddp=info.distributed)
    if weights:
        log.note(
            f"model {trainer.version}: weights {weights}; teacher "
            f"{'loaded from the file' if trainer.teacher_loaded else 'trained from scratch' if trainer.net.has_teacher else 'off'}"
        )
    else:
        log.note(f"model {trainer.version}: training from scratch (random weights)")

    train_ds, val_ds = build_datasets(args, log)
    batch = args.batch_size
    sampler = ResumableSampler(train_ds, info.world_size, info.rank, shuffle=True, seed=args.seed)
    steps_per_epoch = len(sampler) // batch
    if steps_per_epoch < 1:
        raise ValueError(
            f"{len(train_ds)} training triplets are fewer than batch size {batch} x {info.world_size} "
            f"processes"
        )
    total = args.steps or args.epochs * steps_per_epoch
    schedule = Schedule(
        peak_lr=args.lr, total_steps=total, warmup_steps=min(args.warmup, total), min_lr=args.min_lr
    )
    data_cfg = {
        "batch_size": batch,
        "world_size": info.world_size,
        "seed": args.seed,
        "steps_per_epoch": steps_per_epoch,
        "train_triplets": len(train_ds),
    }
    step = 0
    resume_path = out / "resume.pt" if args.resume == "auto" else Path(args.resume) if args.resume else None
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
    elif args.resume not in (None, "auto"):
        raise FileNotFoundError(f"resume file {resume_path} does not exist")
    elif args.resume == "auto":
        log.note(f"resume: no {resume_path} yet; starting at step 0")
    stop_at = min(args.stop_at, total) if args.stop_at else total

    samples_per_step = batch * info.world_size
    progress = Progress(total, step, enabled=main and not args.quiet, every=args.log_every)
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
        if val_ds is None or len(val_ds) == 0:
            return
        res = validate(trainer, val_ds, info, args.val_batch_size or batch)
        log.event("val", step=at, epoch=at / steps_per_epoch, **res)
        tea = f", teacher {res['psnr_teacher']:.3f} dB" if "psnr_teacher" in res else ""
        log.note(f"validation at step {at}: PSNR {res['psnr']:.3f} dB over {res['count']} triplets{tea}")

    last_saved = -1

    def save(at: int) -> None:
        nonlocal last_saved
        if main and at != last_saved:
            save_weights(trainer, out / "flownet.pkl", include_teacher=not args.no_teacher_in_checkpoint)
            save_resume(trainer, out / "resume.pt", at, schedule, data_cfg)
            log.event("save", step=at, weights=str(out / "flownet.pkl"), resume=str(out / "resume.pt"))
        last_saved = at

    if step == 0 and not args.no_val_at_start:
        do_validate(0)
    workers = args.workers if args.workers is not None else (4 if info.device.type == "cuda" else 0)
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
            # VapourSynth's thread pool does not survive fork(): workers start fresh and open their own sources
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
            if step % args.log_every == 0 or step == stop_at:
                avg = D.mean_across(info, torch.stack(window).mean(0).tolist())
                window.clear()
                progress.update(step, avg[0], lr, samples_per_step, f"epoch {epoch + 1}")
                rate = progress.rate()
                log.event(
                    "step",
                    step=step,
                    epoch=epoch,
                    lr=lr,
                    **dict(zip(keys, avg)),
                    steps_per_s=rate,
                    samples_per_s=rate * samples_per_step,
                    skipped_steps=trainer.skipped_steps,
                )
            if args.save_every and step % args.save_every == 0:
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
        print(f"vsrife train: WARNING: the replicas differ after training: {hashes}", file=sys.stderr)
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
        f"{'finished' if step >= total else 'stopped'} at step {step}/{total}; weights {out / 'flownet.pkl'}, "
        f"resume file {out / 'resume.pt'}"
    )
    return 0
