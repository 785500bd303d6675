"""Throughput of the dense CRF (segbench.crf): sequential in this process vs the CRFPool workers.

Usage: python benchmarks/crf.py [--quick] [--workers N] [--start-method spawn|forkserver]

PASCAL-VOC-sized scenes (500 x 375, 21 labels, DeepLab v2 ResNet-101 CRF settings): a few blob
regions of random classes; the image colours each region (+ noise and shading); the softmax comes
from blurred, slightly displaced region scores, so its boundaries are soft and off the colour edges,
as a network's are. Both paths run on the same scenes in the same process, alternating which goes
first repeat by repeat; the figures are medians over the repeats. The pool is started (and warmed)
before timing: its start-up is paid once per evaluation, not per batch.

Deliberately no torch import here: spawned workers re-import this script as __mp_main__.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
from scipy.ndimage import gaussian_filter, shift

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from segbench.crf import DEEPLAB_V2_RESNET101, CRFPool, crf_image, default_workers  # noqa: E402

H, W, CLASSES = 375, 500, 21
TARGET_RATIO = 1.8


def scene(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(softmax probabilities [21, H, W] float32, image [H, W, 3] uint8)."""
    present = np.concatenate([[0], rng.choice(np.arange(1, CLASSES), rng.integers(2, 5), replace=False)])
    fields = gaussian_filter(rng.normal(size=(len(present), H, W)), sigma=(0, 35, 35))
    fields[0] += 0.02  # a little more background
    regions = fields.argmax(0)
    palette = rng.integers(20, 236, (len(present), 3))
    yy, xx = np.mgrid[:H, :W]
    shading = 20 * np.sin(xx / 90 + rng.uniform(0, 6)) * np.cos(yy / 70)
    image = palette[regions] + shading[..., None] + rng.normal(0, 6, (H, W, 3))
    image = np.clip(image, 0, 255).astype(np.uint8)
    # The network's view: region scores displaced by a few pixels and blurred (output stride 8 +
    # bilinear upsampling), then noisy low scores for every class.
    scores = rng.normal(0, 0.5, (CLASSES, H, W)).astype(np.float32)
    onehot = (regions[None] == np.arange(len(present))[:, None, None]).astype(np.float32)
    moved = shift(onehot, (0, *rng.uniform(-6, 6, 2)), order=1, mode="nearest")
    scores[present] += 5 * moved
    logits = gaussian_filter(scores, sigma=(0, 6, 6))
    e = np.exp(logits - logits.max(0, keepdims=True))
    return (e / e.sum(0, keepdims=True)).astype(np.float32), image


def _spin(n: int) -> float:
    """Fixed pure-CPU work; returns its own wall time."""
    start, x = time.perf_counter(), 0
    for i in range(n):
        x += i
    return time.perf_counter() - start


def cpu_capacity(workers: int, n: int = 4_000_000) -> float:
    """How many cores' worth of work `workers` processes get done at once right now (ideally
    `workers`): other people's processes on a shared machine take the rest."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        pool.map(_spin, [1000] * workers)  # started
        alone = min(_spin(n) for _ in range(2))
        start = time.perf_counter()
        pool.map(_spin, [n] * workers, chunksize=1)
        together = time.perf_counter() - start
    return workers * alone / together


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 repeats instead of 9 (about 40 s on 2 cores)")
    ap.add_argument("--workers", type=int, default=None, help=f"pool size (default: {default_workers()}, the cores "
                    "this process may use)")
    ap.add_argument("--start-method", default="spawn", choices=["spawn", "forkserver"])
    args = ap.parse_args()
    workers = default_workers() if args.workers is None else args.workers
    images, repeats = 2 * max(workers, 1), (3 if args.quick else 9)  # short repeats, many: a shared machine
    params = DEEPLAB_V2_RESNET101

    rng = np.random.default_rng(0)
    scenes = [scene(rng) for _ in range(images)]
    probs = np.stack([p for p, _ in scenes])
    imgs = np.stack([im for _, im in scenes])

    seq_cpu = [0.0]  # CPU seconds of the timed sequential runs

    def sequential() -> np.ndarray:
        cpu = time.process_time()
        labels = np.stack([crf_image(p, im, params) for p, im in zip(probs, imgs)])
        seq_cpu[0] += time.process_time() - cpu
        return labels

    capacity_before = cpu_capacity(max(workers, 1))
    start = time.perf_counter()
    pool = CRFPool(params, workers=workers, start_method=args.start_method)
    startup = time.perf_counter() - start
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"dense CRF, {W}x{H}, {CLASSES} labels, DeepLab v2 ResNet-101 settings "
          f"({params.iterations} iterations); {images} images x {repeats} repeats")
    print(f"pool: {pool.workers} workers, start method {pool.start_method!r} (started in {startup:.2f} s); "
          f"cores available {default_workers()}, load average {load:.2f} before the run")

    with pool:
        reference = sequential()  # warm-up, and the labels to compare against (the workers are warm)
        changed = float((reference != probs.argmax(1)).mean())
        rates: dict[str, list[float]] = {"sequential": [], "parallel": []}
        identical = True
        pool.reset_stats()
        seq_cpu[0] = 0.0
        for r in range(repeats):
            order = ["sequential", "parallel"] if r % 2 == 0 else ["parallel", "sequential"]
            for name in order:
                t = time.perf_counter()
                labels = sequential() if name == "sequential" else pool.map(probs, imgs)
                rates[name].append(images / (time.perf_counter() - t))
                identical &= bool(np.array_equal(labels, reference))
        seq, par = statistics.median(rates["sequential"]), statistics.median(rates["parallel"])
        ratio = par / seq
        paired = statistics.median(p / q for p, q in zip(rates["parallel"], rates["sequential"]))
        print(f"sequential: {seq:6.3f} images/s  ({1 / seq:.3f} s/image; repeats "
              + ", ".join(f"{x:.3f}" for x in rates["sequential"]) + ")")
        print(f"parallel:   {par:6.3f} images/s  ({1 / par:.3f} s/image; repeats "
              + ", ".join(f"{x:.3f}" for x in rates["parallel"]) + f"); in each worker "
              f"{pool.seconds_per_image:.3f} s/image wall, {pool.cpu_seconds_per_image:.3f} s/image CPU")
        print(f"ratio parallel/sequential: {ratio:.2f}x (median of the paired repeats' ratios {paired:.2f}x; "
              f"target >= {TARGET_RATIO}x with 2 cores: {'met' if ratio >= TARGET_RATIO else 'NOT met'})")
        capacity_after = cpu_capacity(max(pool.workers, 1))
        capacity = (capacity_before + capacity_after) / 2
        print(f"CPU capacity for {pool.workers} processes at once (a pure-Python spin, before / after): "
              f"{capacity_before:.2f} / {capacity_after:.2f} cores; the ratio is {ratio / capacity:.0%} of "
              f"their mean {capacity:.2f}")
        seq_cpu_per_image = seq_cpu[0] / (repeats * images)
        print(f"CPU time per image: sequential {seq_cpu_per_image:.3f} s, in the workers "
              f"{pool.cpu_seconds_per_image:.3f} s -> with {pool.workers} cores to itself the pool would reach "
              f"about {pool.workers * seq_cpu_per_image / pool.cpu_seconds_per_image:.2f}x (an estimate: wall "
              f"time above CPU time means other processes had the cores)")
        print(f"labels identical to the sequential path: {'yes' if identical else 'NO'}; "
              f"the CRF changed {100 * changed:.1f} % of the argmax labels")


if __name__ == "__main__":
    main()
