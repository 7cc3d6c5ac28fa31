"""Command line of ``python -m vsrife.train`` (also ``vsrife train``; under ``torchrun`` for several GPUs or
processes). Everything meant for a person goes to stderr; nothing goes to stdout."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import VsrifeError
from ..registry import VERSIONS
from .config import DataConfig, RunConfig
from .model import LossWeights, TrainConfig

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

EPILOG = """examples:
  fine-tune the installed 4.0 weights on your own footage (the last 10%% is held out for validation):
    python -m vsrife.train --model 4.0 --video clip.mkv --out runs/clip --steps 2000 --lr 1e-5 --warmup 100
  Vimeo-90K on 4 GPUs with bf16 autocast:
    torchrun --nproc_per_node=4 -m vsrife.train --model 4.25 --vimeo vimeo_triplet --out runs/v425 \\
        --epochs 30 --batch-size 16 --crop 224 --lr 3e-4 --warmup 2000 --amp bf16
  continue a run where it stopped:  add --resume (reads OUT/resume.pt)
  use the result:  RIFE(clip, model="4.0", weights="runs/clip/flownet.pkl")
"""


class _Parser(argparse.ArgumentParser):
    """Help and usage go to stderr too: stdout stays empty."""

    def print_help(self, file: SupportsWrite[str] | None = None) -> None:
        super().print_help(file or sys.stderr)

    def print_usage(self, file: SupportsWrite[str] | None = None) -> None:
        super().print_usage(file or sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="vsrife train",
        description="Train or fine-tune a RIFE release (single process or torchrun/DDP).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    m = p.add_argument_group("model")
    m.add_argument(
        "--model", default="4.0", help=f"release to train, one of {', '.join(VERSIONS)} (default 4.0)"
    )
    w = m.add_mutually_exclusive_group()
    w.add_argument("--weights", help="initial weights (default: the release's installed file, else random)")
    w.add_argument("--scratch", action="store_true", help="start from random weights")

    d = p.add_argument_group("data")
    src = d.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--vimeo",
        metavar="ROOT",
        help="Vimeo-90K triplet folder (sequences/, tri_trainlist.txt, "
        "tri_testlist.txt): trains on the train list, validates on the test list",
    )
    src.add_argument(
        "--video",
        nargs="+",
        metavar="FILE",
        help="video files, or folders of them, to cut triplets from (VapourSynth; decoded on demand)",
    )
    d.add_argument(
        "--in-ram",
        action="store_true",
        help="decode the videos into RAM once instead of streaming them (short clips only)",
    )
    d.add_argument("--frames", metavar="START:STOP", help="frame range of each video (default: all)")
    d.add_argument("--height", type=int, help="decode videos at this height (keeps the aspect ratio)")
    d.add_argument("--span", type=int, default=2, help="frames from first to last of a triplet (default 2)")
    d.add_argument(
        "--any-timestep",
        action="store_true",
        help="ground truth anywhere inside the span (t = k/span), for arbitrary-timestep training",
    )
    d.add_argument(
        "--static",
        type=float,
        default=0.25,
        help="skip triplets with a frame step below this mean difference, 8-bit units (default 0.25)",
    )
    d.add_argument("--no-scene-cuts", action="store_true", help="do not skip triplets across scene cuts")
    d.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="videos: hold out this last part of each clip for validation (default 0.1)",
    )
    d.add_argument("--val-video", nargs="+", metavar="FILE", help="validate on these videos instead")
    d.add_argument(
        "--val-limit",
        type=int,
        default=64,
        help="at most N validation triplets, evenly spread (0: no validation; default 64)",
    )
    d.add_argument(
        "--val-crop", default="full", metavar="HxW", help="centre crop for validation (default: full)"
    )
    d.add_argument("--limit", type=int, help="Vimeo: use only the first N training triplets")
    d.add_argument(
        "--crop",
        default="128",
        metavar="HxW",
        help="training crop, a multiple of the model's modulo (default 128)",
    )
    d.add_argument(
        "--no-augment",
        action="store_true",
        help="no random crop/flips/reversal/channel order/rotation (a centre crop instead)",
    )
    d.add_argument("--workers", type=int, help="DataLoader workers per process (default 4 on CUDA, 0 on CPU)")

    t = p.add_argument_group("optimisation")
    length = t.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help="total optimiser steps")
    length.add_argument("--epochs", type=int, default=1, help="passes over the training triplets (default 1)")
    t.add_argument("--batch-size", type=int, default=4, help="triplets per step and process (default 4)")
    t.add_argument(
        "--lr",
        type=float,
        default=1e-6,
        help="peak learning rate (default 1e-6, the reference's; fine-tuning: ~1e-5, scratch: 3e-4)",
    )
    t.add_argument("--min-lr", type=float, default=0.0, help="learning rate at the end of the cosine decay")
    t.add_argument("--warmup", type=int, default=0, help="linear warm-up steps (default 0)")
    t.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay (default 1e-4)")
    t.add_argument("--grad-clip", type=float, default=1.0, help="max gradient norm (0: off; default 1)")
    t.add_argument("--w-l1", type=float, default=1.0, help="weight of the Laplacian L1 of the frame")
    t.add_argument("--w-teacher", type=float, default=1.0, help="weight of the teacher's Laplacian L1")
    t.add_argument("--w-distill", type=float, default=0.01, help="weight of the flow distillation")
    t.add_argument("--w-smooth", type=float, default=0.01, help="weight of the edge-aware flow smoothness")
    t.add_argument("--smooth-alpha", type=float, default=10.0, help="edge sensitivity of the smoothness term")
    t.add_argument(
        "--w-census",
        type=float,
        default=0.1,
        help="weight of the census (feature-consistency) term (default 0.1; 0: off)",
    )
    t.add_argument("--pyramid-levels", type=int, default=5, help="Laplacian pyramid levels (default 5)")
    t.add_argument(
        "--amp",
        choices=("none", "bf16", "fp16"),
        default="none",
        help="autocast precision (fp16 with a GradScaler, CUDA only; default none)",
    )
    t.add_argument("--seed", type=int, default=0)

    r = p.add_argument_group("run")
    r.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="writes DIR/flownet.pkl, DIR/resume.pt and DIR/train_log.jsonl",
    )
    r.add_argument(
        "--resume",
        nargs="?",
        const="auto",
        metavar="FILE",
        help="continue from FILE (default DIR/resume.pt when given without a value)",
    )
    r.add_argument("--stop-at", type=int, metavar="STEP", help="stop (and save) at this step; resume later")
    r.add_argument("--save-every", type=int, default=0, metavar="N", help="also save every N steps")
    r.add_argument("--log-every", type=int, default=10, metavar="N", help="log and report every N steps")
    r.add_argument(
        "--no-teacher-in-checkpoint", action="store_true", help="leave block_tea out of flownet.pkl"
    )
    r.add_argument("--no-val-at-start", action="store_true", help="skip the validation before the first step")
    r.add_argument("--val-batch-size", type=int, help="validation batch size (default: --batch-size)")
    r.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda:LOCAL_RANK when CUDA is available)")
    r.add_argument("--threads", type=int, help="torch CPU threads per process (default: cores / processes)")
    r.add_argument("--quiet", action="store_true", help="no progress bar or notes")
    return p


def _size(text: str | None) -> tuple[int, int] | None:
    """ "128" -> (128, 128), "224x320" -> (224, 320); "full", "none", "0" or nothing -> None (whole frame)."""
    if text is None or str(text).lower() in ("", "0", "none", "full"):
        return None
    h, _, w = str(text).lower().partition("x")
    try:
        return (int(h), int(w or h))
    except ValueError:
        raise VsrifeError(f"a crop must look like 128 or 224x320; got {text!r}") from None


def _frame_range(text: str | None) -> tuple[int, int | None]:
    """ "START:STOP" (either may be left out) -> (start, stop)."""
    if not text:
        return 0, None
    a, _, b = text.partition(":")
    try:
        return int(a or 0), (int(b) if b else None)
    except ValueError:
        raise VsrifeError(f"--frames must look like START:STOP; got {text!r}") from None


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The command line's arguments as a :class:`RunConfig` (all the command line does besides parsing)."""
    data = DataConfig(
        vimeo=args.vimeo,
        videos=tuple(args.video or ()),
        frames=_frame_range(args.frames),
        height=args.height,
        span=args.span,
        any_timestep=args.any_timestep,
        static=args.static,
        scene_cuts=not args.no_scene_cuts,
        val_fraction=args.val_fraction,
        val_videos=tuple(args.val_video or ()),
        val_limit=args.val_limit,
        val_crop=_size(args.val_crop),
        limit=args.limit,
        crop=_size(args.crop),
        augment=not args.no_augment,
        in_ram=args.in_ram,
    )
    losses = LossWeights(
        l1=args.w_l1,
        teacher=args.w_teacher,
        distill=args.w_distill,
        smooth=args.w_smooth,
        smooth_alpha=args.smooth_alpha,
        census=args.w_census,
        pyramid_levels=args.pyramid_levels,
    )
    train = TrainConfig(
        lr=args.lr, weight_decay=args.weight_decay, grad_clip=args.grad_clip, amp=args.amp, losses=losses
    )
    return RunConfig(
        out=Path(args.out),
        data=data,
        model=args.model,
        weights=args.weights,
        scratch=args.scratch,
        train=train,
        steps=args.steps,
        epochs=args.epochs,
        batch_size=args.batch_size,
        warmup=args.warmup,
        min_lr=args.min_lr,
        seed=args.seed,
        resume=args.resume,
        stop_at=args.stop_at,
        save_every=args.save_every,
        log_every=args.log_every,
        teacher_in_checkpoint=not args.no_teacher_in_checkpoint,
        val_at_start=not args.no_val_at_start,
        val_batch_size=args.val_batch_size,
        workers=args.workers,
        device=args.device,
        threads=args.threads,
        quiet=args.quiet,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..cli import setup_logging
    from .loop import run

    setup_logging()
    try:
        return run(config_from_args(args))
    except (ValueError, OSError) as e:
        print(f"vsrife train: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vsrife train: interrupted (resume with --resume)", file=sys.stderr)
        return 130
