"""Running under ``torchrun``: process group, device, DDP wrapping and the few collectives we need.

``torchrun --nproc_per_node K`` starts K copies of the same command with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and a rendezvous address in the environment; without them the
trainer is a single process and nothing here costs anything.  The backend is NCCL when the
ranks train on GPUs and gloo on CPUs.  Each rank gets its own data shard (see
:mod:`model.training.batches`); DDP averages gradients so the weights stay identical; only
rank 0 writes files, but every rank's random state goes into the checkpoint (gathered to
rank 0) so that a resumed multi-process run is exact too.

Codebook statistics: DAC's factorised codebooks are ordinary parameters that DDP averages
with the other gradients; EMA codebooks (SoundStream, EnCodec) all-reduce their per-step
counts and sums inside the quantizer (``model/ema_quantize.py``) whenever a process group
exists, so every family's codebooks stay identical across ranks without help from here.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


@dataclass
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, module: nn.Module) -> nn.Module:
        """DDP around ``module`` (only its trainable parameters are synchronised)."""
        if not self.enabled:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)

    def any(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on any rank."""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order (on every rank)."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def start(device: str | None = None) -> DistributedContext:
    """The context of this process: torchrun's environment if present, else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    wants_cuda = device.startswith("cuda") if device else torch.cuda.is_available()
    if wants_cuda:
        if not torch.cuda.is_available():
            raise ValueError(f"--device {device}: CUDA is not available on this machine")
        index = local if world > 1 or device in (None, "cuda") else torch.device(device).index or 0
        torch.cuda.set_device(index)
        chosen = torch.device("cuda", index)
    else:
        chosen = torch.device(device or "cpu")
    ctx = DistributedContext(rank, world, local, chosen)
    if ctx.enabled and not dist.is_initialized():
        backend = "nccl" if chosen.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=60))
    return ctx


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, DistributedDataParallel) else module
