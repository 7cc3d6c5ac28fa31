"""Compute device and precision choice, shared by the model API and the filter."""

from __future__ import annotations

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
        raise ValueError(f"{where}: device {device!r} was requested but CUDA is not available here; use device='cpu'")
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        raise ValueError(f"{where}: device {device!r} does not exist; this machine has {count} CUDA device(s)")
    return dev


def default_precision(device: torch.device) -> str:
    """fp16 on CUDA; fp32 on CPU (bf16 on CPU is opt-in: see the README for its measured cost)."""
    return "fp16" if device.type == "cuda" else "fp32"


def resolve_precision(precision: str | None, device: torch.device, where: str = "RIFE") -> torch.dtype:
    name = default_precision(device) if precision is None else str(precision).lower()
    if name not in PRECISIONS:
        raise ValueError(f"{where}: precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if name == "fp16" and device.type == "cpu":
        raise ValueError(f"{where}: precision 'fp16' is not supported on the CPU; use 'fp32' or 'bf16'")
    return PRECISIONS[name]
