"""Compute device and precision choice, shared by the model API and the filter."""

from __future__ import annotations

from functools import lru_cache

import torch

PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(device: str | torch.device | None, where: str = "RIFE") -> torch.device:
    """None -> CUDA when available, else CPU. Refuses CUDA requests on machines without it."""
    if device is None or device == "":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"{where}: device must be 'cpu', 'cuda' or 'cuda:N'; got {device!r}") from None
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise ValueError(f"{where}: device must be 'cpu', 'cuda' or 'cuda:N'; got {device!r}")
    if not torch.cuda.is_available():
        raise ValueError(
            f"{where}: device {device!r} was requested but CUDA is not available here; use device='cpu'"
        )
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        raise ValueError(
            f"{where}: device {device!r} does not exist; this machine has {count} CUDA device(s)"
        )
    return dev


@lru_cache(maxsize=1)
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


def default_precision(device: torch.device) -> str:
    """fp16 on CUDA. On the CPU bf16 where the CPU has native bf16, else fp32. bf16 runs only the convolutions
    (each block's first one excepted) in bf16; flows, resampling, warps and the blend stay fp32. Drop-frame
    PSNR against our fp32, RIFE 4.0: bikes.mp4 +0.020 dB, Big Buck Bunny +0.003 dB, carphone +0.002 dB
    (tests/test_precision_budget.py pins it; `vsrife bench` reports it with the speed)."""
    if device.type == "cuda":
        return "fp16"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def precision_name(precision: str | None, device: torch.device, where: str = "RIFE") -> str:
    """The validated precision name ("fp32", "fp16", "bf16"); None picks the device's default."""
    name = default_precision(device) if precision is None else str(precision).lower()
    if name not in PRECISIONS:
        raise ValueError(f"{where}: precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if name == "fp16" and device.type == "cpu":
        raise ValueError(f"{where}: precision 'fp16' is not supported on the CPU; use 'fp32' or 'bf16'")
    return name


def resolve_precision(precision: str | None, device: torch.device, where: str = "RIFE") -> torch.dtype:
    return PRECISIONS[precision_name(precision, device, where)]
