"""Speed and memory of a model: parameters, FLOPs, latency, throughput, peak memory.

`measure()` is the probe every run records (configured by a suite's `probe:` section,
segbench.config.ProbeConfig) and what `segbench profile` prints. It leaves the model as it found it:
weights and buffers, train/eval mode, memory format, and the process's thread count, cuDNN setting
and random state are restored. The environment fingerprint lives in segbench.environment.
"""

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..config import ProbeConfig, TrainConfig
from ..crf.params import CRFParams
from .memory import cuda_peak_mb, peak_rss_growth_mb, release_freed_heap, rss_bytes, train_step_peak_mb

__all__ = ["measure", "parameter_counts", "count_flops", "summary", "time_ms", "methods", "cuda_peak_mb",
           "peak_rss_growth_mb", "release_freed_heap", "rss_bytes", "train_step_peak_mb"]

AMP_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Total and trainable parameters (works on the meta device, so no weights are needed)."""
    params = list(model.parameters())
    return {"total": sum(p.numel() for p in params),
            "trainable": sum(p.numel() for p in params if p.requires_grad)}


def count_flops(model: nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one forward pass of `x` by FlopCounterMode: convolutions and matrix products, two per
    multiply-add. Works on the meta device, where nothing is computed."""
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops()


def summary(ms: list[float], warmup: int) -> dict[str, Any]:
    """Median, p90, mean, std (sample), min of timings in ms, with how they were taken."""
    return {"median": statistics.median(ms), "p90": float(np.percentile(ms, 90)), "mean": statistics.fmean(ms),
            "std": statistics.stdev(ms) if len(ms) > 1 else 0.0, "min": min(ms), "repeats": len(ms),
            "warmup": warmup}


def time_ms(fn: Callable[[], Any], repeats: int, device: torch.device) -> list[float]:
    """Milliseconds of each of `repeats` calls. CUDA: events recorded around each call, and the end
    event waited on before the next call; CPU: time.perf_counter."""
    times = []
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        return times
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


@contextlib.contextmanager
def probe_conditions(model: nn.Module, cfg: ProbeConfig, device: torch.device) -> Iterator[None]:
    """Threads, cuDNN autotuning and memory format as `cfg` asks, the model in eval mode and the random
    state forked; all restored on exit."""
    threads, benchmark, training = torch.get_num_threads(), torch.backends.cudnn.benchmark, model.training
    torch.set_num_threads(cfg.threads or threads)
    torch.backends.cudnn.benchmark = cfg.cudnn_benchmark
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            model.eval()
            yield
    finally:
        torch.set_num_threads(threads)
        torch.backends.cudnn.benchmark = benchmark
        if cfg.channels_last:
            model.to(memory_format=torch.contiguous_format)
        model.train(training)


def random_input(shape: list[int], device: torch.device, channels_last: bool) -> torch.Tensor:
    """A standard-normal batch (what a normalised image looks like), the same for every run."""
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(device)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def inference(model: nn.Module, cfg: ProbeConfig,
              device: torch.device) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[], Any]]:
    """(forward(x) in inference mode with the probe's autocast and compile options, autocast())."""
    net = torch.compile(model) if cfg.compile else model
    dtype = AMP_DTYPES.get(cfg.amp)

    def autocast():
        return torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()

    def forward(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), autocast():
            return net(x)
    return forward, autocast


def crf_scene(image: torch.Tensor | None, size: tuple[int, int]) -> np.ndarray:
    """The image [H, W, 3] uint8 the CRF is timed on, at the probe's size: a validation image of the run's data
    set (resized bilinearly if its size differs), or a default `shapes` scene where there is none
    (`segbench profile ARCH`, or `--suite` on real data)."""
    if image is None:
        from ..data.synthetic import ShapesDataset

        image, _ = ShapesDataset("val", num_samples=1, size=size, seed=0)[0]
    elif tuple(image.shape[1:]) != size:
        image = torch.nn.functional.interpolate(image[None].float(), size=size, mode="bilinear", antialias=True)
        image = image[0].round().clamp(0, 255).to(torch.uint8)
    return image.permute(1, 2, 0).contiguous().numpy()


def postprocess_ms(logits: torch.Tensor, cfg: ProbeConfig, device: torch.device,
                   crf_params: CRFParams | None = None, scene: torch.Tensor | None = None) -> dict[str, Any]:
    """Per-image post-processing times: the argmax every run does, and the dense CRF where used
    (softmax, copy to the CPU and segbench.crf.crf_image on one image, in this process). The CRF's
    cost depends on the image (random noise is ~5x slower than a scene): it runs on `crf_scene(scene)`."""
    n = logits.shape[0]
    argmax = [t / n for t in time_ms(lambda: logits.argmax(1), cfg.repeats, device)]
    crf = None
    if crf_params is not None:
        from ..crf import crf_image

        image = crf_scene(scene, tuple(logits.shape[2:]))

        def one_crf() -> None:
            crf_image(torch.softmax(logits[0].float(), 0).cpu().numpy(), image, crf_params)
        one_crf()
        crf = summary(time_ms(one_crf, cfg.crf_repeats, torch.device("cpu")), 1)
    return {"argmax": summary(argmax, 0), "crf": crf}


def end_to_end_ms(latency: dict[str, Any], post: dict[str, Any], batch: int) -> dict[str, Any]:
    """Network time of the batch plus the post-processing the run uses for each of its images."""
    step, name = (post["crf"], "crf") if post["crf"] else (post["argmax"], "argmax")
    return {"median": latency["median"] + batch * step["median"], "mean": latency["mean"] + batch * step["mean"],
            "postprocess": name}


def throughput(forward: Callable, shape: list[int], cfg: ProbeConfig, device: torch.device) -> dict[str, Any]:
    """Images/s at `throughput_batch`, over `throughput_repeats` passes after one warm-up pass."""
    x = random_input([cfg.throughput_batch, *shape[1:]], device, cfg.channels_last)
    forward(x)
    seconds = sum(time_ms(lambda: forward(x), cfg.throughput_repeats, device)) / 1e3
    return {"batch": cfg.throughput_batch, "repeats": cfg.throughput_repeats,
            "images_per_s": cfg.throughput_batch * cfg.throughput_repeats / seconds}


def measure(model: nn.Module, cfg: ProbeConfig, in_channels: int, device: torch.device,
            crf_params: CRFParams | None = None, train_cfg: TrainConfig | None = None,
            scene: torch.Tensor | None = None) -> dict[str, Any]:
    """The probe block of a run record for `model` (already on `device`), as `cfg` (a resolved
    ProbeConfig) asks; `crf_params` adds the dense CRF's time (on `scene`, a uint8 [3, H, W] validation
    image), `train_cfg` picks the optimizer."""
    shape = [cfg.batch, in_channels, *cfg.image_size]
    with probe_conditions(model, cfg, device):
        threads = torch.get_num_threads()
        x = random_input(shape, device, cfg.channels_last)
        flops = count_flops(model, x)
        forward, autocast = inference(model, cfg, device)
        for _ in range(cfg.warmup):
            forward(x)
        latency = summary(time_ms(lambda: forward(x), cfg.repeats, device), cfg.warmup)
        logits = forward(x)
        post = postprocess_ms(logits, cfg, device, crf_params, scene)
        memory = _memory(model, x, logits, forward, autocast, cfg, train_cfg or _default_training(), device)
        rate = throughput(forward, shape, cfg, device)
    return {"config": cfg.model_dump(mode="json"), "method": methods(cfg, device, threads), "input_shape": shape,
            "latency_ms": latency, "postprocess_ms": post, "end_to_end_ms": end_to_end_ms(latency, post, shape[0]),
            "throughput": rate, "memory": memory, "flops": flops, "gflops": flops / 1e9, "gmacs": flops / 2e9,
            "options": {"channels_last": cfg.channels_last, "amp": cfg.amp, "threads": threads,
                        "cudnn_benchmark": cfg.cudnn_benchmark, "compile": cfg.compile}}


def _default_training() -> TrainConfig:
    """TrainConfig's defaults: the optimizer of a profiled model's training step (the length is unused)."""
    return TrainConfig(iterations=1)


def _memory(model: nn.Module, x: torch.Tensor, logits: torch.Tensor, forward: Callable, autocast: Callable,
            cfg: ProbeConfig, train_cfg: TrainConfig, device: torch.device) -> dict[str, Any]:
    """Peaks of inference at the probe's input and of a training step at the probe's image size on at
    least 2 images (batch norm cannot train on one value per channel)."""
    if device.type == "cuda":
        peak, reserved = cuda_peak_mb(lambda: forward(x), device)
    else:
        peak, reserved = peak_rss_growth_mb(lambda: forward(x)), None
    train_shape = [max(2, x.shape[0]), *x.shape[1:]]
    target = torch.randint(logits.shape[1], (train_shape[0], *logits.shape[2:]),
                           generator=torch.Generator().manual_seed(0)).to(device)
    train_x = random_input(train_shape, device, cfg.channels_last)
    return {"inference_peak_mb": peak, "reserved_mb": reserved, "train_step_input_shape": train_shape,
            "train_step_peak_mb": train_step_peak_mb(model, train_x, target, train_cfg, autocast, device)}


def methods(cfg: ProbeConfig, device: torch.device, threads: int) -> dict[str, str]:
    """One sentence per figure saying how it was measured."""
    timer = ("CUDA events around each pass, waited on before the next" if device.type == "cuda"
             else "time.perf_counter around each pass")
    if device.type == "cuda":
        memory = ("torch.cuda.reset_peak_memory_stats, then max_memory_allocated (and max_memory_reserved) over one "
                  "forward pass and over the second of two training steps on max(2, N) images; weights and optimizer "
                  "state included")
    else:
        memory = ("peak resident-set growth over the RSS just before the pass (after malloc_trim returns freed heap "
                  "memory), sampled from /proc/self/statm every 0.5 ms by a thread, over forward passes (at least "
                  "one and 0.1 s) and over training steps on max(2, N) images from the first (gradients and "
                  "optimizer state included); weights loaded before the probe are not included")
    return {
        "latency": (f"{cfg.warmup} untimed warm-up passes, then {cfg.repeats} timed forward passes of a random "
                    f"input already on {device.type} in torch.inference_mode() (amp {cfg.amp}, channels_last "
                    f"{cfg.channels_last}, compile {cfg.compile}), {timer}, {threads} torch threads; data "
                    f"loading, host-to-device copies and metrics excluded; post-processing timed per image apart"),
        "throughput": (f"{cfg.throughput_repeats} timed passes of {cfg.throughput_batch} images after one "
                       f"warm-up pass at that batch; images / summed pass time"),
        "memory": memory,
        "flops": "torch.utils.flop_counter.FlopCounterMode at input_shape; GMACs = FLOPs / 2",
    }
