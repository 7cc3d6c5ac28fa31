"""Where and in what precision the network runs: the :class:`Backend`, resolved once.

This is the only place that chooses a device or a precision; the model API, the filter, the benchmarks and
training all call :func:`resolve_backend`.

Precision defaults depend on who asks (``purpose``):

* ``"model"`` (the model API, ``RIFE_HDv3``, training, benchmarks that compare with the reference): fp32 on
  the CPU, fp16 on CUDA, as the reference implementation. Results match the reference to 1e-4.
* ``"filter"`` (the VapourSynth filter): fp16 on CUDA; on the CPU bf16 where the CPU computes bf16 natively
  (AVX512-BF16 or AMX), else fp32. Measured on real frames: bf16 costs 0.044 dB PSNR and is 1.33x faster than
  fp32 (``scripts/bench_precision.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

import torch

from .errors import VsrifeError

PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
ENGINES: tuple[str, ...] = ("torch",)
Purpose = Literal["model", "filter"]


@dataclass(frozen=True)
class Backend:
    """A validated device, precision name and engine."""

    device: torch.device
    precision: str
    engine: str = "torch"

    @property
    def dtype(self) -> torch.dtype:
        return PRECISIONS[self.precision]

    def __str__(self) -> str:
        return f"{self.device} {self.precision} ({self.engine})"


@cache
def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX-BF16), read from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def default_device(local_rank: int | None = None) -> torch.device:
    """CUDA when available (``cuda:local_rank`` under torchrun), else the CPU."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", local_rank) if local_rank is not None else torch.device("cuda")


def resolve_device(device: str | torch.device | None, local_rank: int | None = None) -> torch.device:
    """None (or "") -> :func:`default_device`. Refuses unknown devices and CUDA where there is none.
    ``local_rank`` completes a bare "cuda" to ``cuda:local_rank`` (one GPU per torchrun process)."""
    if device is None or device == "":
        return default_device(local_rank)
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise VsrifeError(f"device must be 'cpu', 'cuda' or 'cuda:N'; got {device!r}") from None
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise VsrifeError(f"device must be 'cpu', 'cuda' or 'cuda:N'; got {device!r}")
    if not torch.cuda.is_available():
        raise VsrifeError(f"device {device!r} was requested but CUDA is not available here; use device='cpu'")
    if dev.index is None and local_rank is not None:
        dev = torch.device("cuda", local_rank)
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        raise VsrifeError(f"device {device!r} does not exist; this machine has {count} CUDA device(s)")
    return dev


def default_precision(device: torch.device, purpose: Purpose) -> str:
    """fp16 on CUDA. On the CPU: fp32 for the model API (as the reference), bf16 for the filter where the
    CPU has native bf16 (see the module docstring), else fp32."""
    if device.type == "cuda":
        return "fp16"
    return "bf16" if purpose == "filter" and cpu_has_native_bf16() else "fp32"


def resolve_backend(
    device: str | torch.device | None = None,
    precision: str | None = None,
    engine: str = "torch",
    *,
    purpose: Purpose,
    local_rank: int | None = None,
) -> Backend:
    """Validate a device, precision and engine request; None picks the default for ``purpose``."""
    if purpose not in ("model", "filter"):
        raise VsrifeError(f"purpose must be 'model' or 'filter'; got {purpose!r}")
    dev = resolve_device(device, local_rank)
    name = default_precision(dev, purpose) if precision is None or precision == "" else str(precision).lower()
    if name not in PRECISIONS:
        raise VsrifeError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if name == "fp16" and dev.type == "cpu":
        raise VsrifeError("precision 'fp16' is not supported on the CPU; use 'fp32' or 'bf16'")
    if engine not in ENGINES:
        raise VsrifeError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}")
    return Backend(dev, name, engine)
