"""Process-group setup for ``torchrun`` (NCCL on GPUs, gloo on the CPU); a no-op for a single process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from ..backend import resolve_backend


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    device: torch.device
    backend: str | None

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: str | None = None, timeout_s: float = 1800) -> DistInfo:
    """Read torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK ...), pick this process's device
    (``cuda:LOCAL_RANK`` when CUDA is there and no device is forced) and join the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    dev = resolve_backend(device, "fp32", purpose="model", local_rank=local_rank).device
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    backend = None
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        kwargs: dict[str, Any] = {"device_id": dev} if backend == "nccl" else {}
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s), **kwargs)
    elif world > 1:
        backend = dist.get_backend()
    return DistInfo(rank, world, local_rank, local_world, dev, backend)


def barrier(info: DistInfo) -> None:
    if info.distributed:
        if info.backend == "nccl":
            dist.barrier(device_ids=[info.device.index])
        else:
            dist.barrier()


def sum_across(info: DistInfo, values: list[float]) -> list[float]:
    """Element-wise sum over ranks (every rank must call it at the same point)."""
    if not info.distributed:
        return values
    t = torch.tensor(
        values, dtype=torch.float64 if info.device.type == "cpu" else torch.float32, device=info.device
    )
    dist.all_reduce(t)
    return t.tolist()


def mean_across(info: DistInfo, values: list[float]) -> list[float]:
    """Element-wise mean over ranks (every rank must call it at the same point)."""
    return [v / info.world_size for v in sum_across(info, values)] if info.distributed else values


def gather_strings(info: DistInfo, value: str) -> list[str]:
    if not info.distributed:
        return [value]
    out: list[object] = [None] * info.world_size
    dist.all_gather_object(out, value)
    return [str(v) for v in out]


def teardown(info: DistInfo) -> None:
    if info.distributed and dist.is_initialized():
        barrier(info)
        dist.destroy_process_group()
