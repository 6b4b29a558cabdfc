"""The few torch.distributed calls the MLKD trainer needs, all no-ops in a single process.

``torchrun`` sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT; without them the
trainer runs in-process with no process group. CPU runs use the gloo backend, CUDA runs NCCL.
"""
from __future__ import annotations

import hashlib
import os

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


def setup(device: str) -> tuple[int, int]:
    """(rank, world size); initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return dist.get_rank(), dist.get_world_size()


def local_device(device: str) -> str:
    """``cuda`` -> ``cuda:<LOCAL_RANK>`` under torchrun (one GPU per process)."""
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        return f"cuda:{os.environ['LOCAL_RANK']}"
    return device


def wrap(module: nn.Module, world: int, device: torch.device) -> nn.Module:
    if world <= 1:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)


def mean_reducer(world: int):
    """Room scores averaged over ranks, so every replica elects the same superior."""
    if world <= 1:
        return None

    def reduce(scores: torch.Tensor) -> torch.Tensor:
        scores = scores.clone()
        dist.all_reduce(scores, op=dist.ReduceOp.SUM)
        return scores / world
    return reduce


def broadcast_object(obj, world: int):
    """Rank 0's ``obj`` on every rank (e.g. the run folder rank 0 resolved)."""
    if world <= 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def cleanup(world: int) -> None:
    if world > 1 and dist.is_initialized():
        dist.destroy_process_group()


def sync_buffers(modules: list[nn.Module], world: int) -> None:
    """Rank 0's BatchNorm statistics everywhere. DDP broadcasts buffers at the start of every
    forward, so after the last step of an epoch each replica holds its own batch's update;
    doing the same before a checkpoint makes every rank's saved model identical."""
    if world <= 1:
        return
    for m in modules:
        for buf in m.buffers():
            dist.broadcast(buf, src=0)


def digest(module: nn.Module) -> str:
    """SHA-256 of every parameter and buffer, in a fixed order."""
    h = hashlib.sha256()
    for key, value in sorted(module.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def gather_digests(modules: list[nn.Module], world: int) -> list[list[str]]:
    """Per rank, the digest of each module: replicas in sync have identical rows."""
    mine = [digest(m) for m in modules]
    rows: list[list[str] | None] = [None] * world
    dist.all_gather_object(rows, mine)
    return [list(r) for r in rows]
