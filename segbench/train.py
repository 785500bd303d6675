"""The training loop: seeds, SGD/AdamW with the poly schedule, AMP on CUDA, loss curve, and an
optional first stage on object-centred crops."""

import itertools
import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler

from .config import TrainConfig
from .data.crops import ObjectCrops
from .data.transforms import NumberedSampler, normalise


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (all devices); optionally force deterministic algorithms."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.benchmark = not deterministic


def train_loader(dataset: Dataset, batch_size: int, seed: int, num_workers: int, device: torch.device) -> DataLoader:
    """Shuffled batches whose order (and augmentation, for a data set that draws numbered samples) depends on
    `seed` alone, not on the worker count."""
    generator = torch.Generator().manual_seed(seed)
    numbered = getattr(dataset, "numbered", False)
    return DataLoader(dataset, batch_size=batch_size, num_workers=num_workers,
                      sampler=(NumberedSampler if numbered else RandomSampler)(dataset, generator=generator),
                      drop_last=len(dataset) >= batch_size, pin_memory=device.type == "cuda",
                      persistent_workers=num_workers > 0)


def batches(dataset: Dataset, cfg: TrainConfig, seed: int, device: torch.device):
    """Endless training batches: the first `object_crops` steps from object-centred crops of
    `dataset` (DeconvNet's first training stage), the rest from `dataset` itself."""
    if cfg.object_crops:  # the crops' loader is not kept: its workers end with the stage
        crops = _repeat(train_loader(ObjectCrops(dataset, seed), cfg.batch_size, seed, cfg.num_workers, device))
        yield from itertools.islice(crops, cfg.object_crops)
        crops.close()
    yield from _repeat(train_loader(dataset, cfg.batch_size, seed, cfg.num_workers, device))


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
        on_step: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Train `model` in place; returns the loss curve, wall time and training images/s.

    The loss is read back every `log_every` steps only, so that CUDA runs are not synchronised
    at every step; divergence is detected at those points.
    """
    seed_everything(seed, cfg.deterministic)
    total = cfg.iterations or cfg.epochs * len(train_loader(dataset, cfg.batch_size, seed, 0, device))
    model.to(device).train()
    optimizer = make_optimizer(model, cfg)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: (1 - it / total) ** cfg.poly_power)
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    log_every = max(1, total // 100)
    warmup = min(5, total // 10)   # steps left out of the throughput figure
    curve, running, images, t_start, t_warm = [], torch.zeros((), device=device), 0, time.perf_counter(), None
    for step, (images_u8, target) in enumerate(batches(dataset, cfg, seed, device), start=1):
        x = normalise(images_u8, dataset.mean, dataset.std, device)
        target = target.to(device, non_blocking=True).long()   # augmented real data arrives as uint8
        with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
            loss = segmentation_loss(model(x), target, dataset.ignore_index)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        running += loss.detach()
        if step == warmup:
            t_warm = _synced_clock(device)
        elif step > warmup:
            images += x.shape[0]
        if step % log_every == 0 or step == total:
            mean_loss = running.item() / (step - (curve[-1][0] if curve else 0))
            if not np.isfinite(mean_loss):
                raise TrainingDiverged(f"loss became {mean_loss} at step {step} of {total}")
            curve.append([step, mean_loss])
            running.zero_()
        if on_step:
            on_step(step, total)
        if step == total:
            break
    t_end = _synced_clock(device)
    t_warm = t_warm if t_warm is not None else t_start
    return {"iterations": total, "loss_curve": curve, "final_loss": curve[-1][1], "wall_s": t_end - t_start,
            "images_per_s": images / (t_end - t_warm) if images else None, "warmup_steps": warmup}


def _synced_clock(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()
