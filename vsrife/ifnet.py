"""IFNet_HDv3: one parametrised network for every RIFE 4.x release.

The releases differ in a handful of facts (block widths, activation, residual style, output head, feature
encoder, block-to-block features, scale pyramid). :class:`IFNetConfig` records those facts and :class:`IFNet`
builds the matching network; module names follow the official checkpoints so that their state dicts load
strictly. The version table itself lives in :mod:`vsrife.registry`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
        then by 4 inside the block. 4.0/4.1 may double their pyramid at run time for very large motion; the
        network pads for that one coarse step itself, so the frame is not padded further than it needs
        (on bikes.mp4, 272 rows padded to 288 instead of 320: +0.14 dB drop-frame PSNR)."""
        return int(max(self.scales) * 4)

    def padding_multiple(self, scale: float) -> int:
        return max(1, math.ceil(self.modulo / scale))


def _down(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Bilinear downsampling by ``scale`` in fp32; at scale 1 bilinear is the identity and is skipped."""
    x = x.float()
    return x if scale == 1 else F.interpolate(x, scale_factor=1.0 / scale, mode="bilinear")


def _weight(layer: nn.Module) -> torch.Tensor:
    """The weight of a conv, or of the conv that leads a (conv, activation) Sequential."""
    conv = layer[0] if isinstance(layer, nn.Sequential) else layer
    assert isinstance(conv, nn.Conv2d | nn.ConvTranspose2d)
    return conv.weight


def _as_weights(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x`` in the dtype and memory format of a conv ``weight``: each layer is fed what it computes in,
    and oneDNN does not reorder between layers (channels-last on the CPU, see IFNet.set_precision)."""
    fmt = torch.contiguous_format if weight.is_contiguous() else torch.channels_last
    return x.to(weight.dtype).contiguous(memory_format=fmt)


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
        self, x: torch.Tensor | Sequence[torch.Tensor], flow: torch.Tensor | None, scale: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``x``: the input planes, one tensor or its parts.

        Resampling in and out runs in fp32 whatever the weights' dtype: only the convolutions use it.
        Flows are in pixels, and bf16 (8 significant bits) would round a 100 px flow to 0.5 px.

        In fp32 the parts are joined, then downsampled, as the reference does. With reduced-precision weights
        each part is downsampled alone and the parts and the flow are joined once, at the block's size (no
        full-resolution copy of every part; 2-3% of a 720p call). That rounds differently: torch's bilinear
        kernel takes other paths for other shapes and for strided views (a channel sliced out of a block's
        output), about 1e-7, which the flow estimate amplifies to 2e-4 on random weights, past the fidelity
        tests' 1e-4; reduced precision is further from the reference than that anyway."""
        if isinstance(x, torch.Tensor) or _weight(self.conv0[1]).dtype == torch.float32:
            x = _down(x if isinstance(x, torch.Tensor) else torch.cat(tuple(x), 1), scale)
            if flow is not None:
                x = torch.cat((x, _down(flow, scale) / scale), 1)
        else:
            parts = [_down(p, scale) for p in x]
            if flow is not None:
                parts.append(_down(flow, scale) / scale if scale != 1 else flow.float())
            x = torch.cat(parts, 1)
        first, second = self.conv0[0], self.conv0[1]
        feat = first(_as_weights(x, _weight(first)))
        feat = second(_as_weights(feat, _weight(second)))
        feat = self.convblock(feat) + feat if self.skip else self.convblock(feat)
        # fp32 in the plain layout: bilinear resampling of a few channels in channels-last is several times
        # slower (it vectorises over channels)
        tmp = self.lastconv(feat).float().contiguous()
        up = scale if self.pixel_shuffle else scale * 2
        if up != 1:  # bilinear by 1 is the identity
            tmp = F.interpolate(tmp, scale_factor=up, mode="bilinear")
        features = tmp[:, 5 : 5 + self.block_features] if self.block_features else None
        return tmp[:, :4] * up, tmp[:, 4:5], features


def _coarse_padded(
    block: IFBlock, parts: Sequence[torch.Tensor], scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flow and mask of ``block`` at ``scale`` on ``x`` zero-padded to the multiple that scale needs
    (``4 * scale``), cropped back to ``x``'s size: 4.0's doubled pyramid needs 64 rows where the frame
    itself needs 32, and only this step pays for it."""
    h, w = parts[0].shape[-2:]
    mult = math.ceil(4 * scale)
    ph, pw = -h % mult, -w % mult
    flow, mask, _ = block([F.pad(p, (0, pw, 0, ph)) for p in parts] if ph or pw else parts, None, scale)
    return flow[..., :h, :w], mask[..., :h, :w]


@dataclass
class Levels:
    """Per-level results of one forward pass (coarse to fine), for training losses."""

    flows: list[torch.Tensor]  # [B, 4, H, W]: flow t->0 and t->1 at each level
    masks: list[torch.Tensor]  # [B, 1, H, W]: blend mask logits at each level
    merged: list[torch.Tensor]  # [B, 3, H, W]: the frame each level would produce
    # the last level's two source frames warped to the new frame's time (their blend by the mask is `output`)
    warped: tuple[torch.Tensor, torch.Tensor] | None = None

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
        self._grids: dict[tuple[int, int, str], tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def blocks(self) -> list[IFBlock]:
        return [getattr(self, f"block{i}") for i in range(len(self.cfg.widths))]

    @property
    def dtype(self) -> torch.dtype:
        """The convolutions' dtype. Everything else (resampling, warps, flows, the blend) runs in fp32."""
        return _weight(self.blocks[0].conv0[1]).dtype

    def set_precision(self, dtype: torch.dtype, channels_last: bool = False) -> IFNet:
        """Convolutions in ``dtype`` except each block's first one, which reads the frames and the flows and
        stays fp32 (it is about 4% of the work; in bf16 it alone costs 0.035 dB on bikes.mp4).
        ``channels_last``: the weights (and so every block's activations) in NHWC, oneDNN's fast layout."""
        self.to(dtype)
        for block in self.blocks:
            block.conv0[0].float()
        if channels_last:
            self.to(memory_format=torch.channels_last)
        return self

    def features(self, img: torch.Tensor) -> torch.Tensor | None:
        """Per-frame encoder features in fp32 (None for releases without an encoder)."""
        if self.cfg.encoder is None:
            return None
        out: torch.Tensor = self.encode(_as_weights(img, _weight(self.blocks[0].conv0[1])))
        return out.float()

    def _grid(self, h: int, w: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The identity grid [1, 2, H, W] (x, y planes of grid_sample's coordinates), and half the size
        [1, 2, 1, 1] (x, y) in pixels. Planes, not grid_sample's [N, H, W, 2]: the grid is built
        from flows, which are planes, so nothing is transposed before the last step."""
        key = (h, w, str(device))
        cached = self._grids.get(key)
        if cached is None:
            horizontal = torch.linspace(-1.0, 1.0, w, device=device).view(1, w).expand(h, -1)
            vertical = torch.linspace(-1.0, 1.0, h, device=device).view(h, 1).expand(-1, w)
            grid = torch.stack([horizontal, vertical])[None].contiguous()
            half = torch.tensor([(w - 1.0) / 2.0, (h - 1.0) / 2.0], device=device).view(1, 2, 1, 1)
            cached = self._grids[key] = (grid, half)
        return cached

    def _sample(self, img: torch.Tensor, flows: Sequence[torch.Tensor]) -> torch.Tensor:
        """Backward-warp ``img`` [N, C, H, W] by the flows (pixels), stacked along the batch: [n_i, 2, H, W]
        with the n_i summing to N. Each flow is divided by half the size and added to the grid straight into
        the coordinates (one pass, the reference's values), which grid_sample reads strided."""
        h, w = img.shape[-2:]
        grid, half = self._grid(h, w, img.device)
        if torch.onnx.is_in_onnx_export() or (
            torch.is_grad_enabled() and any(f.requires_grad for f in flows)
        ):
            # ONNX has no addcdiv, and out= has no autograd (training): the reference's two steps
            coords = torch.cat([f.float() / half + grid for f in flows])
        else:
            coords = torch.empty(img.shape[0], 2, h, w, device=img.device)
            start = 0
            for flow in flows:
                torch.addcdiv(grid, flow.float(), half, out=coords[start : start + flow.shape[0]])
                start += flow.shape[0]
        return F.grid_sample(
            img.float(),
            coords.permute(0, 2, 3, 1),
            mode="bilinear",
            padding_mode="border",
            align_corners=True,
        )

    def warp(self, img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """Backward-warp ``img`` [N, C, H, W] by ``flow`` [N, 2, H, W] (pixels): bilinear, border, fp32."""
        return self._sample(img, (flow,))

    def warp_pair(self, pair: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """:meth:`warp` of frames 0 by ``flow[:, :2]`` and frames 1 by ``flow[:, 2:4]`` in one call (the same
        values): ``pair`` is ``[2B, C, H, W]``, the B frames 0 then the B frames 1. The CPU's grid_sample
        runs its batch in parallel but not its rows, so one frame at a time used one core."""
        return self._sample(pair, (flow[:, :2], flow[:, 2:4]))

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
        img0 = img0.float().clamp(0.0, 1.0)
        img1 = img1.float().clamp(0.0, 1.0)
        timestep = timestep.float()
        feats = cfg.encoder is not None
        if feats and (f0 is None or f1 is None):
            f0, f1 = self.features(img0), self.features(img1)
        scales = [s / scale for s in cfg.scales]
        blocks = self.blocks
        b = img0.shape[0]
        frames = torch.cat((img0, img1))  # warped together (warp_pair)
        fpair = torch.cat((f0, f1)) if f0 is not None and f1 is not None else None
        warped0, warped1 = img0, img1
        flow = mask = feat = None
        levels = Levels([], [], [])
        for i, block in enumerate(blocks):
            if i == 0:
                pair = (img0, img1, f0, f1) if feats else (img0, img1)
                flow, mask, feat = block((*pair, timestep), None, scales[i])
                if ensemble:
                    rpair = (img1, img0, f1, f0) if feats else (img1, img0)
                    fr, mr, _ = block((*rpair, 1 - timestep), None, scales[i])
                    flow = (flow + _swap(fr)) / 2
                    mask = (mask + (-mr)) / 2
            else:
                assert flow is not None and mask is not None
                wf = self.warp_pair(fpair, flow) if fpair is not None else None
                wf0, wf1 = (wf[:b], wf[b:]) if wf is not None else (None, None)
                parts = [warped0, warped1, *((wf0, wf1) if feats else ()), timestep, mask]
                if feat is not None:
                    parts.append(feat)
                fd, m0, feat = block(parts, flow, scales[i])
                if (
                    cfg.dynamic_rescale
                    and i == 1
                    and fd[:, :2].abs().max() > 32
                    and fd[:, 2:4].abs().max() > 32
                ):
                    # 4.0/4.1: very large motion; redo the coarse estimate on a doubled pyramid.
                    scales = [s * 2 for s in scales]
                    flow, mask = _coarse_padded(blocks[0], (img0, img1, timestep), scales[0])
                    warped = self.warp_pair(frames, flow)
                    warped0, warped1 = warped[:b], warped[b:]
                    fd, m0, _ = block((warped0, warped1, timestep, mask), flow, scales[i])
                if ensemble:
                    rparts = [warped1, warped0, *((wf1, wf0) if feats else ()), 1 - timestep, -mask]
                    fr, mr, _ = block(rparts, _swap(flow), scales[i])
                    fd = (fd + _swap(fr)) / 2
                    m0 = (m0 + (-mr)) / 2
                flow = flow + fd
                mask = mask + m0 if cfg.accumulate_mask else m0
            warped = self.warp_pair(frames, flow)
            warped0, warped1 = warped[:b], warped[b:]
            if all_levels or i == len(blocks) - 1:
                m = torch.sigmoid(mask)
                levels.flows.append(flow)
                levels.masks.append(mask)
                levels.merged.append(torch.lerp(warped1, warped0, m))  # warped0 * m + warped1 * (1 - m)
        levels.warped = (warped0, warped1)
        return levels
