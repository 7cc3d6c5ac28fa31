"""The training wrapper: ``Trainer(model="4.0", weights=...).update(imgs, gt, learning_rate)``.

:class:`TrainNet` is the release's :class:`~vsrife.ifnet.IFNet` plus RIFE's privileged teacher block
``block_tea``: an IFBlock at full resolution that also sees the ground-truth frame and refines the student's
final flow and mask. Its layout is the one in the official 4.0 checkpoint: input
``img0, img1, timestep, warped0, warped1, mask, gt`` (17 channels) plus the flow (4), width of the last
student block, the release's own block style. That input order was checked against the released 4.0
teacher: with it the teacher frame beats the student by about 12 dB on real Big Buck Bunny crops; with any
other order tried it is worse than the student. When a checkpoint carries ``block_tea`` it is loaded
strictly; when not, the teacher starts from random weights and is trained alongside.

During training the 4.0/4.1 "redo the pyramid at double scale for very large motion" rule is off, as in the
reference training code (it only exists at inference); the weights are the same either way.
"""

from __future__ import annotations

import math
import os
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch
from torch import nn

from ..backend import resolve_backend
from ..errors import VsrifeError, WeightsError
from ..ifnet import IFBlock, IFNet, IFNetConfig, Levels
from ..registry import ModelSpec, get_spec
from ..weights import check_layout, read_state_dict
from . import losses as L

Amp = Literal["none", "bf16", "fp16"]
TEACHER_PREFIX = "block_tea."
TEACHER_INPUTS = 3 + 3 + 1 + 3 + 3 + 1 + 3  # img0, img1, timestep, warped0, warped1, mask, gt


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms (0 switches a term off).

    l1: Laplacian-pyramid L1 of the student's frame. teacher: the same for the teacher's frame. distill:
    flow distillation from the teacher into every student level. smooth: edge-aware first-order flow
    smoothness (flow in pixels, image gradients of the ground truth with ``smooth_alpha``). census: the
    feature-consistency term, the census-transform distance of the student's frame to the ground truth (0.1:
    on the fine-tune benchmark it added 0.036 dB over the L1 alone, 1.0 added less; see README).
    """

    l1: float = 1.0
    teacher: float = 1.0
    distill: float = 0.01
    smooth: float = 0.01
    smooth_alpha: float = 10.0
    census: float = 0.1
    pyramid_levels: int = 5
    distill_margin: float = 0.01

    def __post_init__(self) -> None:
        for name in ("l1", "teacher", "distill", "smooth", "smooth_alpha", "distill_margin"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise VsrifeError(f"loss weight {name} must be a finite number >= 0; got {v!r}")
        if self.pyramid_levels < 1:
            raise VsrifeError(f"pyramid_levels must be >= 1; got {self.pyramid_levels}")

    @property
    def uses_teacher(self) -> bool:
        return self.teacher > 0 or self.distill > 0


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and precision settings (the learning rate itself comes with every :meth:`Trainer.update`).

    lr and weight_decay are AdamW's (the reference training code's values); grad_clip is the maximum global
    gradient norm (0: no clipping, the norm is still measured and a non-finite one skips the step); amp is
    the autocast precision ("fp16" uses a GradScaler and needs CUDA).
    """

    lr: float = 1e-6
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 1.0
    amp: Amp = "none"
    losses: LossWeights = field(default_factory=LossWeights)

    def __post_init__(self) -> None:
        if self.amp not in ("none", "bf16", "fp16"):
            raise VsrifeError(f"amp must be none, bf16 or fp16; got {self.amp!r}")
        if self.grad_clip < 0 or self.weight_decay < 0 or self.lr < 0:
            raise VsrifeError("lr, weight_decay and grad_clip must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "betas": list(self.betas),
            "grad_clip": self.grad_clip,
            "amp": self.amp,
            "losses": dict(self.losses.__dict__),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(d)
        d["betas"] = tuple(d.get("betas", (0.9, 0.999)))
        d["losses"] = LossWeights(**d.get("losses", {}))
        return cls(**d)


def teacher_config(cfg: IFNetConfig) -> IFNetConfig:
    """The block style of the release with a plain flow+mask head (5 channels, no block features)."""
    return replace(cfg, lastconv_channels=5, block_features=0)


@dataclass
class TrainOutput:
    levels: Levels
    flow_tea: torch.Tensor | None = None  # [B, 4, H, W]
    mask_tea: torch.Tensor | None = None  # [B, 1, H, W], after the sigmoid
    merged_tea: torch.Tensor | None = None  # [B, 3, H, W]


class TrainNet(IFNet):
    """IFNet with the teacher block; its state dict keys are those of the official checkpoints."""

    def __init__(self, cfg: IFNetConfig, teacher: bool = True) -> None:
        super().__init__(replace(cfg, dynamic_rescale=False))
        self.release_config = cfg
        if teacher:
            self.block_tea = IFBlock(TEACHER_INPUTS + 4, cfg.widths[-1], teacher_config(cfg))

    @property
    def has_teacher(self) -> bool:
        return hasattr(self, "block_tea")

    def forward(  # type: ignore[override]
        self, img0: torch.Tensor, img1: torch.Tensor, timestep: torch.Tensor, gt: torch.Tensor | None = None
    ) -> TrainOutput:
        """Every student level and, when ``gt`` is given and the net has a teacher, the teacher's result."""
        levels = self.forward_levels(img0, img1, timestep, all_levels=True)
        out = TrainOutput(levels)
        if gt is None or not self.has_teacher:
            return out
        img0, img1 = img0.clamp(0.0, 1.0), img1.clamp(0.0, 1.0)
        flow, mask = levels.flows[-1], levels.masks[-1]
        w0, w1 = self.warp(img0, flow[:, :2]), self.warp(img1, flow[:, 2:4])
        x = torch.cat((img0, img1, timestep, w0, w1, mask, gt), 1)
        fd, md, _ = self.block_tea(x, flow, 1.0)
        out.flow_tea = flow + fd
        out.mask_tea = torch.sigmoid(mask + md)
        t0, t1 = self.warp(img0, out.flow_tea[:, :2]), self.warp(img1, out.flow_tea[:, 2:4])
        out.merged_tea = t0 * out.mask_tea + t1 * (1 - out.mask_tea)
        return out


def _timestep_plane(
    timestep: float | torch.Tensor | None, b: int, h: int, w: int, like: torch.Tensor
) -> torch.Tensor:
    t = torch.as_tensor(0.5 if timestep is None else timestep, dtype=like.dtype, device=like.device)
    return t.reshape(-1, 1, 1, 1).expand(b, 1, h, w)


class Trainer:
    """One release, its optimiser and (optionally) its DistributedDataParallel wrapper.

    >>> tr = Trainer("4.0", weights="flownet_v4.0.pkl")
    >>> pred, info = tr.update(imgs, gt, learning_rate=1e-5)   # imgs [B,6,H,W], gt [B,3,H,W] in [0, 1]
    >>> info["loss_l1"], info["loss_tea"], info["loss_distill"], info["loss_smooth"], info["loss_total"]

    H and W must be multiples of ``trainer.modulo``.
    """

    def __init__(
        self,
        model: str = "4.0",
        weights: str | os.PathLike[str] | None = None,
        config: TrainConfig | None = None,
        device: str | torch.device | None = None,
        ddp: bool = False,
    ) -> None:
        self.spec: ModelSpec = get_spec(model)
        self.config = config or TrainConfig()
        # the master weights are fp32; lower precision comes from autocast (config.amp)
        self.device = resolve_backend(device, "fp32", purpose="model").device
        if self.config.amp == "fp16" and self.device.type != "cuda":
            raise VsrifeError("amp=fp16 needs a CUDA device (use bf16 or none on the CPU)")
        self.net = TrainNet(self.spec.config, teacher=self.config.losses.uses_teacher)
        self.teacher_loaded = False
        self.weights_path: str | None = None
        if weights is not None:
            self.load_model(weights)
        if self.net.has_teacher and self.config.losses.teacher == 0:
            # distillation only: the teacher is a fixed guide (it would get no gradient, which DDP refuses)
            self.net.block_tea.requires_grad_(False)
        self.net.to(self.device)
        self.module: nn.Module = self.net
        if ddp:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.module = DDP(self.net, device_ids=ids, output_device=ids[0] if ids else None)
        self.optimG = torch.optim.AdamW(
            [q for q in self.net.parameters() if q.requires_grad],
            lr=self.config.lr,
            weight_decay=self.config.weight_decay,
            betas=self.config.betas,
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.config.amp == "fp16")
        self.skipped_steps = 0

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def modulo(self) -> int:
        return self.net.cfg.modulo

    # --- weights -------------------------------------------------------------------------------------
    def load_model(self, path: str | os.PathLike[str]) -> Trainer:
        """Load an official checkpoint (or one written by :func:`vsrife.train.checkpoint.save_weights`):
        the student strictly, the teacher strictly when the file has one."""
        state = read_state_dict(path)
        student = check_layout(state, self.spec, str(path))
        tea = {k[len(TEACHER_PREFIX) :]: v for k, v in state.items() if k.startswith(TEACHER_PREFIX)}
        incompatible = self.net.load_state_dict(student, strict=False)
        missing = [k for k in incompatible.missing_keys if not k.startswith(TEACHER_PREFIX)]
        if missing or incompatible.unexpected_keys:  # check_layout makes this impossible; keep it loud
            raise WeightsError(
                f"{path}: missing {missing[:3]}, unexpected {incompatible.unexpected_keys[:3]}"
            )
        self.teacher_loaded = False
        if tea and self.net.has_teacher:
            try:
                self.net.block_tea.load_state_dict(tea, strict=True)
            except RuntimeError as e:
                raise WeightsError(
                    f"{path}: its block_tea does not fit the {self.spec.version} teacher: "
                    f"{str(e).splitlines()[0]}"
                ) from None
            self.teacher_loaded = True
        self.weights_path = str(path)
        return self

    # --- one step ------------------------------------------------------------------------------------
    def _autocast(self) -> AbstractContextManager[Any]:
        if self.config.amp == "none":
            return nullcontext()
        dtype = torch.float16 if self.config.amp == "fp16" else torch.bfloat16
        return torch.autocast(self.device.type, dtype=dtype)

    def compute_losses(self, out: TrainOutput, gt: torch.Tensor) -> dict[str, torch.Tensor]:
        w = self.config.losses
        zero = gt.new_zeros((), dtype=torch.float32)
        lv = out.levels
        terms = {
            "loss_l1": L.laplacian_l1(lv.output, gt, w.pyramid_levels),
            "loss_tea": zero,
            "loss_distill": zero,
            "loss_smooth": L.edge_aware_smoothness(lv.flows[-1], gt, w.smooth_alpha)
            if w.smooth > 0
            else zero,
            "loss_census": L.census_loss(lv.output, gt) if w.census > 0 else zero,
        }
        if out.merged_tea is not None and out.flow_tea is not None:
            terms["loss_tea"] = L.laplacian_l1(out.merged_tea, gt, w.pyramid_levels)
            if w.distill > 0:
                terms["loss_distill"] = L.distillation(
                    lv.flows, lv.merged, out.flow_tea, out.merged_tea, gt, w.distill_margin
                )
        terms["loss_total"] = (
            w.l1 * terms["loss_l1"]
            + w.teacher * terms["loss_tea"]
            + w.distill * terms["loss_distill"]
            + w.smooth * terms["loss_smooth"]
            + w.census * terms["loss_census"]
        )
        return terms

    def update(
        self,
        imgs: torch.Tensor,
        gt: torch.Tensor,
        learning_rate: float = 0.0,
        training: bool = True,
        timestep: float | torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """One optimisation step (``training=True``) or an evaluation (``training=False``).

        imgs: ``[B, 6, H, W]`` (first and last frame), gt: ``[B, 3, H, W]`` the frame at ``timestep``
        (float or ``[B]``, default 0.5), all in [0, 1]. Returns the student's frame and a dict with the loss
        terms (``loss_l1``, ``loss_tea``, ``loss_distill``, ``loss_smooth``, ``loss_census``, ``loss_total``;
        detached scalars),
        ``grad_norm`` (training), ``merged_tea``, ``mask``, ``flow`` and ``flow_tea``.
        """
        for group in self.optimG.param_groups:
            group["lr"] = learning_rate
        imgs = imgs.to(self.device, non_blocking=True)
        gt = gt.to(self.device, non_blocking=True)
        img0, img1 = imgs[:, :3], imgs[:, 3:6]
        b, _, h, w = img0.shape
        if h % self.modulo or w % self.modulo:
            raise VsrifeError(
                f"training crops must be multiples of {self.modulo} (model {self.version}); got {h}x{w}"
            )
        t = _timestep_plane(timestep, b, h, w, img0)
        self.module.train(training)
        with torch.set_grad_enabled(training):
            with self._autocast():
                out: TrainOutput = self.module(img0, img1, t, gt if self.net.has_teacher else None)
            terms = self.compute_losses(out, gt)
            info: dict[str, Any] = {}
            if training:
                self.optimG.zero_grad(set_to_none=True)
                self.scaler.scale(terms["loss_total"]).backward()
                self.scaler.unscale_(self.optimG)
                clip = self.config.grad_clip if self.config.grad_clip > 0 else math.inf
                norm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), clip)
                info["grad_norm"] = norm.detach()
                if self.scaler.is_enabled():
                    self.scaler.step(self.optimG)  # skips by itself on inf/nan
                    self.scaler.update()
                elif torch.isfinite(norm):
                    self.optimG.step()
                else:  # same decision on every rank: the gradients were all-reduced
                    self.skipped_steps += 1
                    self.optimG.zero_grad(set_to_none=True)
        lv = out.levels
        info.update({k: v.detach() for k, v in terms.items()})
        info.update(
            {
                "merged_tea": None if out.merged_tea is None else out.merged_tea.detach(),
                "mask": torch.sigmoid(lv.masks[-1]).detach(),
                "flow": lv.flows[-1].detach(),
                "flow_tea": None if out.flow_tea is None else out.flow_tea.detach(),
            }
        )
        return lv.output.detach(), info

    @torch.no_grad()
    def predict(
        self,
        img0: torch.Tensor,
        img1: torch.Tensor,
        timestep: float | torch.Tensor | None = None,
        gt: torch.Tensor | None = None,
    ) -> TrainOutput:
        """Evaluation forward pass (no losses), with the teacher when ``gt`` is given."""
        self.net.eval()
        b, _, h, w = img0.shape
        t = _timestep_plane(timestep, b, h, w, img0)
        with self._autocast():
            return self.net(img0, img1, t, gt if self.net.has_teacher else None)
