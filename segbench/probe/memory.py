"""Peak memory: resident-set growth sampled from /proc on the CPU, the allocator's peak statistics on CUDA,
and the peak of one training step (the weights restored afterwards)."""

import contextlib
import ctypes
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..config import TrainConfig
from ..train import make_optimizer, segmentation_loss

MB = 2**20
RSS_INTERVAL_S = 0.0005
MEMORY_MIN_S = 0.1     # the RSS sampler watches at least this long: many passes of a small model


def rss_bytes() -> int | None:
    """The resident set size of this process (Linux /proc), or None where there is no /proc."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def release_freed_heap() -> None:
    """Return memory that freed tensors left in glibc's heap to the OS, so that RSS growth shows
    what the next pass needs rather than what was already retained (no-op without glibc)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def peak_rss_growth_mb(fn: Callable[[], Any]) -> float | None:
    """Peak RSS growth while `fn` runs (once, and again until MEMORY_MIN_S have passed) over the RSS
    just before it, sampled by a thread every RSS_INTERVAL_S."""
    release_freed_heap()
    baseline = rss_bytes()
    if baseline is None:
        return None
    peak, stop = [baseline], threading.Event()

    def sample() -> None:
        while not stop.wait(RSS_INTERVAL_S):
            peak[0] = max(peak[0], rss_bytes() or 0)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        t0 = time.perf_counter()
        fn()
        while time.perf_counter() - t0 < MEMORY_MIN_S:
            fn()
    finally:
        stop.set()
        sampler.join()
    return max(peak[0], rss_bytes() or 0, baseline) / MB - baseline / MB


def cuda_peak_mb(fn: Callable[[], Any], device: torch.device) -> tuple[float, float]:
    """(max_memory_allocated, max_memory_reserved) in MB over one call, after resetting the peaks."""
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) / MB, torch.cuda.max_memory_reserved(device) / MB


def train_step_peak_mb(model: nn.Module, x: torch.Tensor, target: torch.Tensor, train_cfg: TrainConfig,
                       autocast: Callable[[], Any], device: torch.device) -> float | None:
    """Peak memory of a training step (the run's optimizer, random targets); the weights, buffers,
    gradients and mode of `model` are restored afterwards.

    CUDA: the second step (the first allocates optimizer state and autotunes), weights included; CPU:
    RSS growth over the first step, which allocates gradients and optimizer state.
    """
    saved = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    was_training = model.training
    optimizer = make_optimizer(model, train_cfg)

    def step() -> None:
        with autocast():
            logits = model(x)
        loss = segmentation_loss(logits, target, ignore_index=255)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.train()
    try:
        if device.type == "cuda":
            step()
            return cuda_peak_mb(step, device)[0]
        return peak_rss_growth_mb(step)
    finally:
        model.load_state_dict(saved)
        model.zero_grad(set_to_none=True)
        model.train(was_training)
