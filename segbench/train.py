"""The training loop: seeds, SGD/AdamW with the poly schedule, AMP on CUDA, loss curve, and an
optional first stage on object-centred crops."""

import contextlib
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from . import trainstate
from .config import TrainConfig
from .data.order import batches, train_loader
from .data.transforms import normalise
from .distributed import World, gathered, largest, sum_
from .interrupt import STOP, Interrupted


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (all devices); optionally ask for deterministic algorithms (ops without one
    warn)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.benchmark = not deterministic


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """Pixel-mean cross-entropy over non-ignored pixels; 0 (not NaN) for a batch with none."""
    total = F.cross_entropy(logits.float(), target, ignore_index=ignore_index, reduction="sum")
    return total / (target != ignore_index).sum().clamp(min=1)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD or AdamW on `model`'s parameters, with torch's fused (one kernel per step) implementation:
    on the CPU its step is 2.4-5.8x faster than the per-parameter loop (benchmarks/optimizer_step.py)."""
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(cfg.momentum, 0.999),
                                 weight_decay=cfg.weight_decay, fused=True)
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                           fused=True)


def fit(model: nn.Module, dataset: Dataset, cfg: TrainConfig, seed: int, device: torch.device,
        on_step: Callable[[int, int], None] | None = None, state_path: Path | None = None,
        on_warning: Callable[[str], None] | None = None, world: World = World()) -> dict[str, Any]:
    """Train `model` in place; returns the loss curve, wall time and training images/s.

    With `state_path`, the training resumes from the state saved there (an unreadable one is reported to
    `on_warning` and training starts afresh) and saves it every `cfg.checkpoint_every` steps and on a stop
    request (then raises Interrupted); the caller removes it once the trained model is saved. With several
    processes (`world`), the model is wrapped in DistributedDataParallel and each rank trains on its share
    of every batch; rank 0 saves.
    The loss is read back every `log_every` steps only, so that CUDA runs are not synchronised at every step;
    divergence is detected at those points, and at every step in one CPU process, where it costs nothing.
    """
    seed_everything(seed, cfg.deterministic)
    if world.rank:   # each rank its own dropout masks (rank 0 draws those of one process)
        torch.manual_seed(int(np.random.SeedSequence((seed, world.rank)).generate_state(1)[0]))
    total = cfg.iterations or cfg.epochs * len(train_loader(dataset, cfg.batch_size, seed, 0, device))
    model.to(device).train()
    parts, start, progress = _resumed(model, cfg, total, device, state_path, on_warning, world.rank, world.size)
    net = nn.parallel.DistributedDataParallel(model) if world.active else model   # averages gradients
    log_every = max(1, total // 100)
    warmup = start + min(5, (total - start) // 10)   # steps left out of the throughput figure (and those done before)
    curve, running, images = progress["curve"], torch.tensor(progress["running"][world.rank], device=device), 0
    t_start, t_warm = time.perf_counter(), None
    with STOP.deferred():
        for step, micro in enumerate(batches(dataset, cfg, seed, device, start, world), start=start + 1):
            loss = _step(net, micro, dataset, parts, device, cfg.amp and device.type == "cuda")
            running += loss
            if step == warmup:
                t_warm = _synced_clock(device)
            elif step > warmup:
                images += sum(len(target) for _, target in micro) * world.size
            if device.type == "cpu" and not world.active and not torch.isfinite(loss):
                raise TrainingDiverged(f"loss became {loss.item()} at step {step} of {total}")
            if step % log_every == 0 or step == total:
                curve.append([step, _mean_loss(sum_(running, world) / world.size, step, curve, total)])
                running.zero_()
            if on_step:
                on_step(step, total)
            if step == total:
                break
            stop = largest(STOP.requested or 0, world)   # the ranks agree, so that they save and stop together
            if state_path and (stop or cfg.checkpoint_every and step % cfg.checkpoint_every == 0):
                ranks = gathered((trainstate.rng_state(), running.item()), world)
                elapsed = progress["wall_s"] + time.perf_counter() - t_start
                if world.main:
                    trainstate.save(state_path, step, parts, {"curve": curve, "running": [r for _, r in ranks],
                                                              "wall_s": elapsed}, [rng for rng, _ in ranks])
            if stop:
                raise Interrupted(stop, f"saved at step {step} of {total}" if state_path else None)
    t_end = _synced_clock(device)
    t_warm = t_warm if t_warm is not None else t_start
    return {"iterations": total, "loss_curve": curve, "final_loss": curve[-1][1],
            "wall_s": progress["wall_s"] + t_end - t_start, "resumed_at_step": start or None,
            "images_per_s": images / (t_end - t_warm) if images else None, "warmup_steps": warmup,
            "world_size": world.size, "accumulate": cfg.accumulate,
            "batch_per_rank": cfg.batch_size // (world.size * cfg.accumulate)}


def lr_factor(step: int, total: int, cfg: TrainConfig) -> float:
    """The learning rate of `step` (0-based) over cfg.lr: poly decay, and the linear warm-up."""
    warm = min(1.0, (step + 1) / cfg.lr_warmup) if cfg.lr_warmup else 1.0
    return warm * (1 - step / total) ** cfg.poly_power


def _resumed(model: nn.Module, cfg: TrainConfig, total: int, device: torch.device, state_path: Path | None,
             on_warning: Callable[[str], None] | None, rank: int,
             world_size: int) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """Optimizer, schedule and scaler (with the model: the training's parts), the step to resume after and
    the progress so far: from `state_path` when it holds a readable state, else fresh."""
    def fresh() -> tuple[dict[str, Any], int, dict[str, Any]]:
        optimizer = make_optimizer(model, cfg)
        parts = {"model": model, "optimizer": optimizer,
                 "scaler": torch.amp.GradScaler("cuda", enabled=cfg.amp and device.type == "cuda"),
                 "schedule": torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: lr_factor(it, total, cfg))}
        return parts, 0, {"curve": [], "running": [0.0] * world_size, "wall_s": 0.0}
    parts, _, _ = resumed = fresh()
    if not (state_path and state_path.is_file()):
        return resumed
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        step, progress = trainstate.load(state_path, parts, rank)
    except ValueError as exc:
        model.load_state_dict(initial)   # a half-applied state is undone
        if on_warning:
            on_warning(f"{exc}: training from the start")
        return fresh()
    if len(progress["running"]) != world_size:   # resumed with another number of processes
        progress["running"] = [sum(progress["running"]) / len(progress["running"])] * world_size
    return parts, step, progress


def _step(net: nn.Module, micro: list, dataset: Any, parts: dict[str, Any], device: torch.device,
          use_amp: bool) -> torch.Tensor:
    """One optimisation step over this rank's micro-batches (gradients accumulated; under DDP synchronised
    on the last one); the mean of their losses."""
    optimizer, scaler = parts["optimizer"], parts["scaler"]
    optimizer.zero_grad(set_to_none=True)
    total = 0
    for j, (images_u8, target) in enumerate(micro):
        x = normalise(images_u8, dataset.mean, dataset.std, device)
        target = target.to(x.device, non_blocking=True).long()   # augmented real data arrives as uint8
        last = j == len(micro) - 1
        with contextlib.nullcontext() if last or not hasattr(net, "no_sync") else net.no_sync():
            with torch.autocast(x.device.type, dtype=torch.float16, enabled=use_amp):
                loss = segmentation_loss(net(x), target, dataset.ignore_index) / len(micro)
            scaler.scale(loss).backward()
        total += loss.detach()
    scaler.step(optimizer)
    scaler.update()
    parts["schedule"].step()
    return total


def _mean_loss(running: torch.Tensor, step: int, curve: list, total: int) -> float:
    mean_loss = running.item() / (step - (curve[-1][0] if curve else 0))
    if not np.isfinite(mean_loss):
        raise TrainingDiverged(f"loss became {mean_loss} at step {step} of {total}")
    return mean_loss


def _synced_clock(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()
