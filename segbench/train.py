"""The training loop: seeds, SGD/AdamW with the poly schedule, AMP on CUDA, loss curve, and an
optional first stage on object-centred crops."""

import itertools
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler

from . import trainstate
from .config import TrainConfig
from .data.crops import ObjectCrops
from .data.transforms import NumberedSampler, normalise
from .interrupt import STOP, Interrupted


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (all devices); optionally force deterministic algorithms."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.benchmark = not deterministic


def train_loader(dataset: Dataset, batch_size: int, seed: int, num_workers: int, device: torch.device,
                 skip: int = 0) -> DataLoader:
    """Shuffled batches whose order (and augmentation, for a data set that draws numbered samples) depends on
    `seed` alone, not on the worker count; the first `skip` batches (of any number of epochs) are drawn but
    not loaded, for a resumed training."""
    generator = torch.Generator().manual_seed(seed)
    numbered = getattr(dataset, "numbered", False)
    sampler = (NumberedSampler if numbered else RandomSampler)(dataset, generator=generator)
    # its own generator for the workers' base seed: iterating the loader leaves torch's global RNG (dropout) alone
    return DataLoader(dataset, batch_sampler=SkipFirst(BatchSampler(sampler, batch_size, len(dataset) >= batch_size),
                                                       skip), generator=torch.Generator().manual_seed(seed),
                      num_workers=num_workers, pin_memory=device.type == "cuda", persistent_workers=num_workers > 0)


class SkipFirst(Sampler[list[int]]):
    """A batch sampler's stream without its first `skip` batches, which are drawn all the same (whole epochs
    included), so that every later batch is the one an uninterrupted stream gives."""

    def __init__(self, batches: BatchSampler, skip: int):
        self.batches, self.skip = batches, skip

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        skip, self.skip = self.skip, 0   # only the first pass after a resume is shortened
        while len(self.batches) and skip >= len(self.batches):
            for _ in self.batches:        # one epoch's order, drawn from the generator
                pass
            skip -= len(self.batches)
        for i, batch in enumerate(self.batches):
            if i >= skip:
                yield batch


def batches(dataset: Dataset, cfg: TrainConfig, seed: int, device: torch.device, skip: int = 0):
    """Endless training batches after the first `skip`: the first `object_crops` steps from object-centred
    crops of `dataset` (DeconvNet's first training stage), the rest from `dataset` itself."""
    if cfg.object_crops > skip:  # the crops' loader is not kept: its workers end with the stage
        crops = _repeat(train_loader(ObjectCrops(dataset, seed), cfg.batch_size, seed, cfg.num_workers, device, skip))
        yield from itertools.islice(crops, cfg.object_crops - skip)
        crops.close()
    yield from _repeat(train_loader(dataset, cfg.batch_size, seed, cfg.num_workers, device,
                                    max(0, skip - cfg.object_crops)))


def _repeat(loader: DataLoader):
    while True:
        yield from loader


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
        on_warning: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train `model` in place; returns the loss curve, wall time and training images/s.

    With `state_path`, the training resumes from the state saved there (an unreadable one is reported to
    `on_warning` and training starts afresh), saves it every `cfg.checkpoint_every` steps and on a stop request
    (then raises Interrupted), and removes it when done. The loss is read back every `log_every` steps only,
    so that CUDA runs are not synchronised at every step; divergence is detected at those points, and at
    every step on the CPU, where reading the loss costs nothing.
    """
    seed_everything(seed, cfg.deterministic)
    total = cfg.iterations or cfg.epochs * len(train_loader(dataset, cfg.batch_size, seed, 0, device))
    model.to(device).train()
    parts, start, progress = _resumed(model, cfg, total, device, state_path, on_warning)
    optimizer, schedule, scaler = parts["optimizer"], parts["schedule"], parts["scaler"]
    log_every = max(1, total // 100)
    warmup = max(min(5, total // 10), start)   # steps left out of the throughput figure (and those done before)
    curve, running, images = progress["curve"], torch.tensor(progress["running"], device=device), 0
    t_start, t_warm = time.perf_counter(), None
    with STOP.deferred():
        for step, (images_u8, target) in enumerate(batches(dataset, cfg, seed, device, skip=start), start=start + 1):
            loss = _step(model, normalise(images_u8, dataset.mean, dataset.std, device), target, dataset.ignore_index,
                         parts, cfg.amp and device.type == "cuda")
            running += loss.detach()
            if step == warmup:
                t_warm = _synced_clock(device)
            elif step > warmup:
                images += images_u8.shape[0]
            if device.type == "cpu" and not torch.isfinite(loss):
                raise TrainingDiverged(f"loss became {loss.item()} at step {step} of {total}")
            if step % log_every == 0 or step == total:
                curve.append([step, _mean_loss(running, step, curve, total)])
                running.zero_()
            if on_step:
                on_step(step, total)
            if step == total:
                break
            if state_path and (STOP.requested or cfg.checkpoint_every and step % cfg.checkpoint_every == 0):
                elapsed = progress["wall_s"] + time.perf_counter() - t_start
                trainstate.save(state_path, step, parts, {"curve": curve, "running": running.item(), "wall_s": elapsed})
            if STOP.requested:
                raise Interrupted(STOP.requested, f"saved at step {step} of {total}" if state_path else None)
    t_end = _synced_clock(device)
    t_warm = t_warm if t_warm is not None else t_start
    if state_path:
        state_path.unlink(missing_ok=True)
    return {"iterations": total, "loss_curve": curve, "final_loss": curve[-1][1],
            "wall_s": progress["wall_s"] + t_end - t_start, "resumed_at_step": start or None,
            "images_per_s": images / (t_end - t_warm) if images else None, "warmup_steps": warmup}


def _resumed(model: nn.Module, cfg: TrainConfig, total: int, device: torch.device, state_path: Path | None,
             on_warning: Callable[[str], None] | None) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """Optimizer, schedule and scaler (with the model: the training's parts), the step to resume after and
    the progress so far: from `state_path` when it holds a readable state, else fresh."""
    initial = {k: v.clone() for k, v in model.state_dict().items()} if state_path and state_path.is_file() else None

    def fresh() -> dict[str, Any]:
        optimizer = make_optimizer(model, cfg)
        return {"model": model, "optimizer": optimizer, "scaler": torch.amp.GradScaler(
                    "cuda", enabled=cfg.amp and device.type == "cuda"),
                "schedule": torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: (1 - it / total) ** cfg.poly_power)}
    parts, progress = fresh(), {"curve": [], "running": 0.0, "wall_s": 0.0}
    if initial is None:
        return parts, 0, progress
    try:
        step, progress = trainstate.load(state_path, parts)
        return parts, step, progress
    except ValueError as exc:
        model.load_state_dict(initial)   # a half-applied state is undone
        if on_warning:
            on_warning(f"{exc}: training from the start")
        return fresh(), 0, {"curve": [], "running": 0.0, "wall_s": 0.0}


def _step(model: nn.Module, x: torch.Tensor, target: torch.Tensor, ignore_index: int, parts: dict[str, Any],
          use_amp: bool) -> torch.Tensor:
    """One optimisation step; the loss."""
    target = target.to(x.device, non_blocking=True).long()   # augmented real data arrives as uint8
    with torch.autocast(x.device.type, dtype=torch.float16, enabled=use_amp):
        loss = segmentation_loss(model(x), target, ignore_index)
    optimizer, scaler = parts["optimizer"], parts["scaler"]
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    parts["schedule"].step()
    return loss


def _mean_loss(running: torch.Tensor, step: int, curve: list, total: int) -> float:
    mean_loss = running.item() / (step - (curve[-1][0] if curve else 0))
    if not np.isfinite(mean_loss):
        raise TrainingDiverged(f"loss became {mean_loss} at step {step} of {total}")
    return mean_loss


def _synced_clock(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()
