"""Data-parallel training on PyTorch's own engine: torchrun + torch.distributed + DDP.

    torchrun --nproc_per_node=N -m ganzoo run RECIPE      (or: ganzoo run RECIPE --nproc N)

Each rank holds a full copy of the networks (DDP keeps them identical by averaging
gradients); `train.batch_size` is the global batch, split evenly across ranks. Every rank
draws the same global permutation of the data and the same global latent batch and keeps
its own slice, so N ranks compute the same step as one rank with the whole batch (BatchNorm
statistics aside, unless `train.sync_batchnorm` is on). NCCL on CUDA, gloo on CPU.
Only rank 0 writes files.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .errors import GanzooError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


SINGLE = World()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: torch.device) -> tuple[World, torch.device]:
    """Join the process group torchrun prepared (once per process); pick this rank's device."""
    if not launched_by_torchrun():
        return SINGLE, device
    world = World(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        timeout = datetime.timedelta(seconds=int(os.environ.get("GANZOO_DIST_TIMEOUT", "600")))
        dist.init_process_group(backend=backend, timeout=timeout)
    return world, device


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


class DDP(DistributedDataParallel):
    """DDP that still answers the wrapped network's attributes (e.g. `G.latent_dim`)."""

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def wrap(nets: dict[str, nn.Module], trained: set[str], world: World, device: torch.device,
         sync_batchnorm: bool) -> dict[str, nn.Module]:
    """DDP wrappers for the trained networks (the others are returned as they are)."""
    if not world.distributed:
        return dict(nets)
    wrapped = {}
    for role, net in nets.items():
        if role not in trained:
            wrapped[role] = net
            continue
        if sync_batchnorm:
            if device.type != "cuda":
                raise GanzooError("train.sync_batchnorm: PyTorch's SyncBatchNorm needs CUDA devices")
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        wrapped[role] = DDP(net, device_ids=[device.index] if device.type == "cuda" else None)
    return wrapped


def local_slice(world: World, n: int) -> slice:
    """This rank's part of a global batch of n."""
    if n % world.size:
        raise GanzooError(f"train.batch_size: {n} is not divisible by the {world.size} ranks")
    per = n // world.size
    return slice(world.rank * per, (world.rank + 1) * per)


def all_reduce(tensor: torch.Tensor, op=None) -> torch.Tensor:
    if dist.is_initialized():
        dist.all_reduce(tensor, op=op or dist.ReduceOp.SUM)
    return tensor


def all_gather_cat(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's tensor (same shapes), in rank order."""
    if not dist.is_initialized():
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)
