"""The model-level API: ``RIFE_HDv3(model=...).load_weights(...).inference(frame_pair, timestep, scale)``.

Neither this module nor the network imports VapourSynth: the model runs and trains without it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .backend import Backend, resolve_backend
from .errors import VsrifeError, WeightsError
from .evidence import PairEvidence, confidence, disagreement
from .ifnet import IFNet
from .registry import DEFAULT_VERSION, SCALES, ModelSpec, get_spec
from .weights import find_weights, load_for, missing_weights_message


def check_scale(scale: float) -> float:
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or float(scale) not in SCALES:
        raise VsrifeError(f"scale must be one of {', '.join(map(str, SCALES))}; got {scale!r}")
    return float(scale)


def check_ensemble(spec: ModelSpec, ensemble: bool) -> bool:
    if ensemble and not spec.supports_ensemble:
        raise VsrifeError(f"ensemble is not supported by model {spec.version}")
    return bool(ensemble)


@dataclass(frozen=True)
class Interpolated:
    """One interpolated frame and how it was made (all ``[B, C, H, W]``, cropped to the input size)."""

    frame: torch.Tensor  # [B, 3, H, W] the output frame
    flow: (
        torch.Tensor
    )  # [B, 4, H, W] float32 pixels: flow from the new frame to frame 0 (0:2) and to frame 1 (2:4)
    mask: torch.Tensor  # [B, 1, H, W] float32 in [0, 1]: weight of warped frame 0 in the blend


class RIFE_HDv3:
    """One RIFE 4.x release on one device.

    >>> model = RIFE_HDv3("4.25", device=None).load_weights("flownet_v4.25.pkl")
    >>> out = model.inference(frame_pair, timestep=0.5, scale=1.0)   # [B, 6, H, W] -> [B, 3, H, W]

    Precision defaults to fp32 on the CPU and fp16 on CUDA, as the reference implementation (the output
    matches it to 1e-4 in fp32). ``backend`` (a resolved :class:`~vsrife.backend.Backend`) replaces
    ``device`` and ``precision``; :func:`vsrife.loading.load_model` passes one.
    """

    def __init__(
        self,
        model: str = DEFAULT_VERSION,
        device: str | torch.device | None = None,
        precision: str | None = None,
        *,
        backend: Backend | None = None,
    ) -> None:
        self.spec = get_spec(model)
        self.backend = backend if backend is not None else resolve_backend(device, precision, purpose="model")
        self.device = self.backend.device
        self.dtype = self.backend.dtype
        # bf16 on the CPU runs channels-last: oneDNN's convolutions without reordering (5-10% on 4.0). fp32
        # keeps the reference's layout (its sums round the same way: the model API matches it to 1e-4).
        # Either way oneDNN's sums depend on the torch thread count: a few frames differ in the last bit
        # between 1 and 2 threads, so runs are bit-identical for the same threads per process.
        self.flownet = (
            IFNet(self.spec.config)
            .to(self.device)
            .set_precision(self.dtype, self.device.type == "cpu" and self.dtype != torch.float32)
            .eval()
        )
        self.weights_path: str | None = None

    @property
    def version(self) -> str:
        return self.spec.version

    def load_weights(self, path: str | os.PathLike[str] | None = None) -> RIFE_HDv3:
        """Load an official ``.pkl``/``.pth`` (with or without ``module.``) or a ``.safetensors`` file.
        Without a path, the release's file is looked up in the model directories."""
        if path is None:
            found = find_weights(self.spec)
            if found is None:
                raise WeightsError(missing_weights_message(self.spec, "pass the file to load_weights(path)"))
            path = found
        state = load_for(self.spec, path)
        self.flownet.load_state_dict(state, strict=True)
        self.weights_path = str(path)
        return self

    # Building blocks the VapourSynth filter uses to cache per-frame work.
    def padding(self, height: int, width: int, scale: float) -> tuple[int, int]:
        mult = self.spec.config.padding_multiple(scale)
        return math.ceil(height / mult) * mult - height, math.ceil(width / mult) * mult - width

    def pad(self, img: torch.Tensor, scale: float) -> torch.Tensor:
        ph, pw = self.padding(img.shape[-2], img.shape[-1], scale)
        return F.pad(img, (0, pw, 0, ph)) if ph or pw else img

    def features(self, padded: torch.Tensor) -> torch.Tensor | None:
        return self.flownet.features(padded)

    def interpolate(
        self,
        img0: torch.Tensor,
        img1: torch.Tensor,
        timestep: torch.Tensor,
        f0: torch.Tensor | None,
        f1: torch.Tensor | None,
        scale: float,
        ensemble: bool,
    ) -> torch.Tensor:
        """Padded frames [B,3,Hp,Wp] (fp32: only the convolutions run in the model dtype), timestep [B]
        -> padded middle frame in fp32."""
        b, _, h, w = img0.shape
        t = timestep.to(self.device, torch.float32).view(-1, 1, 1, 1).expand(b, 1, h, w)
        out: torch.Tensor = self.flownet(img0, img1, t, f0, f1, scale=scale, ensemble=ensemble)
        return out

    def interpolate_with_confidence(
        self,
        img0: torch.Tensor,
        img1: torch.Tensor,
        timestep: torch.Tensor,
        f0: torch.Tensor | None,
        f1: torch.Tensor | None,
        scale: float,
        ensemble: bool,
        height: int,
        width: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`interpolate` (the same frame, bit for bit) and its :func:`vsrife.evidence.confidence` [B]
        over the picture ``height`` x ``width`` inside the padding."""
        b, _, h, w = img0.shape
        t = timestep.to(self.device, torch.float32).view(-1, 1, 1, 1).expand(b, 1, h, w)
        net = self.flownet
        levels = net.forward_levels(img0, img1, t, f0, f1, scale, ensemble, all_levels=False)
        flow, mask = levels.flows[-1], levels.masks[-1]
        img0, img1 = img0.clamp(0.0, 1.0), img1.clamp(0.0, 1.0)
        assert levels.warped is not None
        warped0, warped1 = levels.warped  # the warps the output blends: no second pass
        conf = confidence(img0, img1, warped0, warped1, mask, flow, timestep.float().flatten(), height, width)
        return levels.output, conf

    def pair_evidence(self, img0: torch.Tensor, img1: torch.Tensor, height: int, width: int) -> PairEvidence:
        """:func:`vsrife.evidence.disagreement` ([B] tensors) of padded frames [B,3,Hp,Wp] warped to t = 0.5
        (scale 1, no ensemble), over the picture ``height`` x ``width`` inside the padding (cut evidence)."""
        b, _, h, w = img0.shape
        t = torch.full((b, 1, h, w), 0.5, device=self.device)
        levels = self.flownet.forward_levels(img0, img1, t, None, None, 1.0, False, all_levels=False)
        assert levels.warped is not None
        return disagreement(*levels.warped, height, width)

    def _check_inference_args(
        self, frame_pair: torch.Tensor, timestep: float | torch.Tensor, scale: float, ensemble: bool
    ) -> tuple[float, bool, torch.Tensor]:
        if not isinstance(frame_pair, torch.Tensor) or frame_pair.ndim != 4 or frame_pair.shape[1] != 6:
            shape = (
                tuple(frame_pair.shape) if isinstance(frame_pair, torch.Tensor) else type(frame_pair).__name__
            )
            raise VsrifeError(f"frame_pair must be a [B, 6, H, W] tensor; got {shape}")
        if not frame_pair.is_floating_point():
            raise VsrifeError("frame_pair must be a float tensor with values in [0, 1]")
        b = frame_pair.shape[0]
        scale = check_scale(scale)
        ensemble = check_ensemble(self.spec, ensemble)
        ts = torch.as_tensor(timestep, dtype=torch.float32).flatten()
        if ts.numel() == 1:
            ts = ts.expand(b)
        if ts.numel() != b or bool(((ts < 0) | (ts > 1)).any()):
            raise VsrifeError(f"timestep must be a float or a [{b}] tensor in [0, 1]; got {timestep!r}")
        return scale, ensemble, ts

    def inference(
        self,
        frame_pair: torch.Tensor,
        timestep: float | torch.Tensor = 0.5,
        scale: float = 1.0,
        ensemble: bool = False,
    ) -> torch.Tensor:
        """frame_pair: [B, 6, H, W] float in [0, 1] (two RGB frames); timestep: float or [B] tensor in [0, 1].
        Returns the frame at ``timestep`` between them, [B, 3, H, W], in frame_pair's dtype."""
        scale, ensemble, ts = self._check_inference_args(frame_pair, timestep, scale, ensemble)
        h, w = frame_pair.shape[-2:]
        with torch.inference_mode():
            x = self.pad(frame_pair.to(self.device, torch.float32), scale)
            img0, img1 = x[:, :3], x[:, 3:]
            f0, f1 = self.features(img0), self.features(img1)
            out = self.interpolate(img0, img1, ts, f0, f1, scale, ensemble)
        return out[:, :, :h, :w].to(frame_pair.dtype)

    def inference_with_aux(
        self,
        frame_pair: torch.Tensor,
        timestep: float | torch.Tensor = 0.5,
        scale: float = 1.0,
        ensemble: bool = False,
    ) -> Interpolated:
        """Like :meth:`inference`, plus the final flow and blend mask (for previews and diagnostics)."""
        scale, ensemble, ts = self._check_inference_args(frame_pair, timestep, scale, ensemble)
        h, w = frame_pair.shape[-2:]
        with torch.inference_mode():
            x = self.pad(frame_pair.to(self.device, torch.float32), scale)
            img0, img1 = x[:, :3], x[:, 3:]
            b, _, hp, wp = img0.shape
            t = ts.to(self.device, torch.float32).view(-1, 1, 1, 1).expand(b, 1, hp, wp)
            f0, f1 = self.features(img0), self.features(img1)
            levels = self.flownet.forward_levels(img0, img1, t, f0, f1, scale, ensemble, all_levels=False)
        dtype = frame_pair.dtype
        return Interpolated(
            frame=levels.output[:, :, :h, :w].to(dtype),
            flow=levels.flows[-1][:, :, :h, :w].float(),
            mask=torch.sigmoid(levels.masks[-1][:, :, :h, :w].float()),
        )
