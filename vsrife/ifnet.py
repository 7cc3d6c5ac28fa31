"""IFNet_HDv3: one parametrised network for every RIFE 4.x release.

The releases differ in a handful of facts (block widths, activation, residual style, output head, feature
encoder, block-to-block features, scale pyramid). :class:`IFNetConfig` records those facts and :class:`IFNet`
builds the matching network; module names follow the official checkpoints so that their state dicts load
strictly. The version table itself lives in :mod:`vsrife.registry`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Activation = Literal["prelu", "leaky"]
ConvBlock = Literal["skip", "plain", "resconv"]
EncoderKind = Literal["pair", "seq", "head"]


@dataclass(frozen=True)
class EncoderConfig:
    """The per-frame feature encoder ("Head") of releases 4.7 and later.

    kind: "pair" (4.7-4.9: conv, deconv), "seq" (4.10-4.12: three convs and a deconv in a Sequential),
    "head" (4.13+: the same as a module with named layers that clamps its input).
    """

    kind: EncoderKind
    width: int
    channels: int


@dataclass(frozen=True)
class IFNetConfig:
    """Everything that distinguishes one IFNet_HDv3 release from another."""

    widths: tuple[int, ...] = (192, 128, 96, 64)
    scales: tuple[float, ...] = (8, 4, 2, 1)
    activation: Activation = "leaky"
    convblock: ConvBlock = "resconv"
    groups: int = 1
    lastconv_channels: int = 6
    pixel_shuffle: bool = True
    block_features: int = 0
    encoder: EncoderConfig | None = None
    accumulate_mask: bool = False
    dynamic_rescale: bool = False
    supports_ensemble: bool = True

    @property
    def encoder_channels(self) -> int:
        return self.encoder.channels if self.encoder else 0

    @property
    def modulo(self) -> int:
        """Input sizes must be multiples of this (at scale 1): the coarsest level is scaled by max(scales),
        then by 4 inside the block. Releases that may double their pyramid at run time (4.0, 4.1) need twice
        that."""
        return int(max(self.scales) * 4 * (2 if self.dynamic_rescale else 1))

    def padding_multiple(self, scale: float) -> int:
        return max(1, math.ceil(self.modulo / scale))


def _act(kind: Activation, channels: int) -> nn.Module:
    return nn.PReLU(channels) if kind == "prelu" else nn.LeakyReLU(0.2, True)


def _conv(cin: int, cout: int, act: Activation, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=True), _act(act, cout))


class ResConv(nn.Module):
    def __init__(self, c: int, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1, groups=groups)
        self.beta = nn.Parameter(torch.ones((1, c, 1, 1)))
        self.relu = nn.LeakyReLU(0.2, True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.relu(self.conv(x) * self.beta + x)
        return out


class Head(nn.Module):
    """Feature encoder of 4.13 and later (named layers, clamped input)."""

    def __init__(self, width: int, channels: int) -> None:
        super().__init__()
        self.cnn0 = nn.Conv2d(3, width, 3, 2, 1)
        self.cnn1 = nn.Conv2d(width, width, 3, 1, 1)
        self.cnn2 = nn.Conv2d(width, width, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(width, channels, 4, 2, 1)
        self.relu = nn.LeakyReLU(0.2, True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.cnn0(x.clamp(0.0, 1.0)))
        x = self.relu(self.cnn1(x))
        x = self.relu(self.cnn2(x))
        out: torch.Tensor = self.cnn3(x)
        return out


def build_encoder(cfg: EncoderConfig) -> nn.Module:
    w, c = cfg.width, cfg.channels
    if cfg.kind == "pair":
        return nn.Sequential(nn.Conv2d(3, w, 3, 2, 1), nn.ConvTranspose2d(w, c, 4, 2, 1))
    if cfg.kind == "seq":
        return nn.Sequential(
            nn.Conv2d(3, w, 3, 2, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(w, w, 3, 1, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(w, w, 3, 1, 1),
            nn.LeakyReLU(0.2, True),
            nn.ConvTranspose2d(w, c, 4, 2, 1),
        )
    return Head(w, c)


class IFBlock(nn.Module):
    def __init__(self, in_planes: int, c: int, cfg: IFNetConfig) -> None:
        super().__init__()
        self.skip = cfg.convblock == "skip"
        self.pixel_shuffle = cfg.pixel_shuffle
        self.block_features = cfg.block_features
        self.conv0 = nn.Sequential(
            _conv(in_planes, c // 2, cfg.activation, 2), _conv(c // 2, c, cfg.activation, 2)
        )
        if cfg.convblock == "resconv":
            layers: list[nn.Module] = [ResConv(c, cfg.groups) for _ in range(8)]
        else:
            layers = [_conv(c, c, cfg.activation) for _ in range(8)]
        self.convblock = nn.Sequential(*layers)
        if cfg.pixel_shuffle:
            self.lastconv: nn.Module = nn.Sequential(
                nn.ConvTranspose2d(c, 4 * cfg.lastconv_channels, 4, 2, 1), nn.PixelShuffle(2)
            )
        else:
            self.lastconv = nn.ConvTranspose2d(c, cfg.lastconv_channels, 4, 2, 1)

    def forward(
        self, x: torch.Tensor, flow: torch.Tensor | None, scale: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        x = F.interpolate(x, scale_factor=1.0 / scale, mode="bilinear")
        if flow is not None:
            flow = F.interpolate(flow, scale_factor=1.0 / scale, mode="bilinear") / scale
            x = torch.cat((x, flow), 1)
        feat = self.conv0(x)
        feat = self.convblock(feat) + feat if self.skip else self.convblock(feat)
        tmp = self.lastconv(feat)
        up = scale if self.pixel_shuffle else scale * 2
        tmp = F.interpolate(tmp, scale_factor=up, mode="bilinear")
        features = tmp[:, 5 : 5 + self.block_features] if self.block_features else None
        return tmp[:, :4] * up, tmp[:, 4:5], features


@dataclass
class Levels:
    """Per-level results of one forward pass (coarse to fine), for training losses."""

    flows: list[torch.Tensor]  # [B, 4, H, W]: flow t->0 and t->1 at each level
    masks: list[torch.Tensor]  # [B, 1, H, W]: blend mask logits at each level
    merged: list[torch.Tensor]  # [B, 3, H, W]: the frame each level would produce

    @property
    def output(self) -> torch.Tensor:
        return self.merged[-1]


def _swap(flow: torch.Tensor) -> torch.Tensor:
    """Exchange the two flow fields (t->0 and t->1) of a [B, 4, H, W] flow."""
    return torch.cat((flow[:, 2:4], flow[:, :2]), 1)


class IFNet(nn.Module):
    """RIFE's IFNet_HDv3, configured by :class:`IFNetConfig`.

    ``forward`` takes padded frames (sizes multiple of ``cfg.padding_multiple(scale)``); the padding, the
    timestep plane and the feature cache are the job of :class:`vsrife.model.RIFE_HDv3`.
    """

    def __init__(self, cfg: IFNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        enc = 2 * cfg.encoder_channels
        for i, width in enumerate(cfg.widths):
            in_planes = 7 + enc if i == 0 else 8 + 4 + enc + cfg.block_features
            self.add_module(f"block{i}", IFBlock(in_planes, width, cfg))
        if cfg.encoder is not None:
            self.encode = build_encoder(cfg.encoder)
        self._grids: dict[tuple[int, int, str], torch.Tensor] = {}

    @property
    def blocks(self) -> list[IFBlock]:
        return [getattr(self, f"block{i}") for i in range(len(self.cfg.widths))]

    def features(self, img: torch.Tensor) -> torch.Tensor | None:
        """Per-frame encoder features (None for releases without an encoder)."""
        return self.encode(img) if self.cfg.encoder is not None else None

    def _grid(self, h: int, w: int, device: torch.device) -> torch.Tensor:
        key = (h, w, str(device))
        grid = self._grids.get(key)
        if grid is None:
            horizontal = torch.linspace(-1.0, 1.0, w, device=device).view(1, 1, 1, w).expand(-1, -1, h, -1)
            vertical = torch.linspace(-1.0, 1.0, h, device=device).view(1, 1, h, 1).expand(-1, -1, -1, w)
            grid = torch.cat([horizontal, vertical], 1)
            self._grids[key] = grid
        return grid

    def warp(self, img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """Backward-warp ``img`` by ``flow`` (pixels), bilinear, border padding, computed in fp32."""
        h, w = img.shape[-2:]
        flow = flow.float()
        flow = torch.cat([flow[:, 0:1] / ((w - 1.0) / 2.0), flow[:, 1:2] / ((h - 1.0) / 2.0)], 1)
        grid = (self._grid(h, w, img.device) + flow).permute(0, 2, 3, 1)
        out = F.grid_sample(img.float(), grid, mode="bilinear", padding_mode="border", align_corners=True)
        return out.to(img.dtype)

    def forward(
        self,
        img0: torch.Tensor,
        img1: torch.Tensor,
        timestep: torch.Tensor,
        f0: torch.Tensor | None = None,
        f1: torch.Tensor | None = None,
        scale: float = 1.0,
        ensemble: bool = False,
    ) -> torch.Tensor:
        """The frame at ``timestep`` between ``img0`` and ``img1`` (:meth:`forward_levels`: all levels)."""
        levels = self.forward_levels(img0, img1, timestep, f0, f1, scale, ensemble, all_levels=False)
        return levels.output

    def forward_levels(
        self,
        img0: torch.Tensor,
        img1: torch.Tensor,
        timestep: torch.Tensor,
        f0: torch.Tensor | None = None,
        f1: torch.Tensor | None = None,
        scale: float = 1.0,
        ensemble: bool = False,
        all_levels: bool = True,
    ) -> Levels:
        """Flows, masks and merged frames of every level (only the last one when ``all_levels`` is False)."""
        cfg = self.cfg
        img0 = img0.clamp(0.0, 1.0)
        img1 = img1.clamp(0.0, 1.0)
        feats = cfg.encoder is not None
        if feats and (f0 is None or f1 is None):
            f0, f1 = self.features(img0), self.features(img1)
        scales = [s / scale for s in cfg.scales]
        blocks = self.blocks
        warped0, warped1 = img0, img1
        flow = mask = feat = None
        levels = Levels([], [], [])
        for i, block in enumerate(blocks):
            if i == 0:
                pair = (img0, img1, f0, f1) if feats else (img0, img1)
                flow, mask, feat = block(torch.cat((*pair, timestep), 1), None, scales[i])
                if ensemble:
                    rpair = (img1, img0, f1, f0) if feats else (img1, img0)
                    fr, mr, _ = block(torch.cat((*rpair, 1 - timestep), 1), None, scales[i])
                    flow = (flow + _swap(fr)) / 2
                    mask = (mask + (-mr)) / 2
            else:
                assert flow is not None and mask is not None
                wf0 = self.warp(f0, flow[:, :2]) if f0 is not None else None
                wf1 = self.warp(f1, flow[:, 2:4]) if f1 is not None else None
                parts = [warped0, warped1, *((wf0, wf1) if feats else ()), timestep, mask]
                if feat is not None:
                    parts.append(feat)
                fd, m0, feat = block(torch.cat(parts, 1), flow, scales[i])
                if (
                    cfg.dynamic_rescale
                    and i == 1
                    and fd[:, :2].abs().max() > 32
                    and fd[:, 2:4].abs().max() > 32
                ):
                    # 4.0/4.1: very large motion; redo the coarse estimate on a doubled pyramid.
                    scales = [s * 2 for s in scales]
                    flow, mask, _ = blocks[0](torch.cat((img0, img1, timestep), 1), None, scales[0])
                    warped0 = self.warp(img0, flow[:, :2])
                    warped1 = self.warp(img1, flow[:, 2:4])
                    fd, m0, _ = block(torch.cat((warped0, warped1, timestep, mask), 1), flow, scales[i])
                if ensemble:
                    rparts = [warped1, warped0, *((wf1, wf0) if feats else ()), 1 - timestep, -mask]
                    fr, mr, _ = block(torch.cat(rparts, 1), _swap(flow), scales[i])
                    fd = (fd + _swap(fr)) / 2
                    m0 = (m0 + (-mr)) / 2
                flow = flow + fd
                mask = mask + m0 if cfg.accumulate_mask else m0
            warped0 = self.warp(img0, flow[:, :2])
            warped1 = self.warp(img1, flow[:, 2:4])
            if all_levels or i == len(blocks) - 1:
                m = torch.sigmoid(mask)
                levels.flows.append(flow)
                levels.masks.append(mask)
                levels.merged.append(warped0 * m + warped1 * (1 - m))
        return levels
