"""One run on several processes: torchrun's environment, PyTorch's process group (NCCL on CUDA, gloo on the
CPU), and the collectives segbench needs. Every rank trains and evaluates its share; rank 0 alone writes
records, checkpoints and reports.

Training: the suite's `train.batch_size` is the effective batch, whatever the number of processes: each step
draws one global batch from the seed's sample order and gives each rank its slice of it, in `accumulate`
micro-batches (segbench.train). Evaluation: the single process's batches are dealt out without padding
(torch's DistributedSampler repeats samples to even out the ranks), and the confusion matrix and the
boundary-F1 sums are added up across ranks, so every image counts once.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from .errors import SegbenchError


@dataclass(frozen=True)
class World:
    """This process's place among the processes of one job."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1    # the processes on this machine, which share its cores

    @property
    def active(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def slice(self, batch: list, part: int, parts: int) -> list:
        """This rank's share of micro-batch `part` of `parts` of a global batch."""
        micro = len(batch) // parts
        share = micro // self.size
        start = part * micro + self.rank * share
        return batch[start:start + share]


def from_environment(env: Mapping[str, str] = os.environ) -> World:
    """The world torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE); one process otherwise."""
    try:
        size = int(env.get("WORLD_SIZE", 1))
        return World(int(env.get("RANK", 0)), size, int(env.get("LOCAL_RANK", 0)),
                     int(env.get("LOCAL_WORLD_SIZE", size)))
    except ValueError:
        raise SegbenchError("RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE must be integers (as torchrun sets "
                            "them)") from None


def start(world: World, device: torch.device) -> torch.device:
    """Join the process group; this rank's device (CUDA: the local rank's GPU)."""
    if not world.active:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def stop(world: World) -> None:
    if world.active and dist.is_initialized():
        dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.active:
        dist.barrier()


def sum_(tensor: torch.Tensor, world: World) -> torch.Tensor:
    """The element-wise sum over the ranks (in place); the tensor itself in one process."""
    if world.active:
        dist.all_reduce(tensor)
    return tensor


def largest(value: int, world: World) -> int:
    """The largest of the ranks' values: e.g. whether any rank got a stop request."""
    if not world.active:
        return value
    t = torch.tensor([value])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def combined(metric: Any, world: World) -> Any:
    """The ranks' accumulators (ConfusionMatrix, BoundaryF1: anything with `add`) added up in rank order."""
    total, *rest = gathered(metric, world)
    for part in rest:
        total.add(part)
    return total


def gathered(value: Any, world: World) -> list[Any]:
    """Every rank's `value`, in rank order."""
    if not world.active:
        return [value]
    values: list[Any] = [None] * world.size
    dist.all_gather_object(values, value)
    return values


def merged(part: dict[Any, Any], world: World) -> dict[Any, Any]:
    """The union of the ranks' dicts (e.g. the predictions each rank kept for the report)."""
    return {k: v for p in gathered(part, world) for k, v in p.items()}


def without_sync_bn(module: nn.Module) -> nn.Module:
    """`module` with each SyncBatchNorm replaced by a BatchNorm2d of the same state, for what one rank does
    alone (evaluation, the probe's training step) without waiting for the others."""
    if isinstance(module, nn.SyncBatchNorm):
        plain = nn.BatchNorm2d(module.num_features, module.eps, module.momentum, module.affine,
                               module.track_running_stats)
        plain.load_state_dict(module.state_dict())
        return plain.to(next(module.parameters(), module.running_mean).device).train(module.training)
    for name, child in module.named_children():
        module.add_module(name, without_sync_bn(child))
    return module
