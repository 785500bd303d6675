"""Throughput of segbench.metrics against the straightforward reference implementations.

Usage: python benchmarks/metrics.py [--quick]

Both implementations run on the same maps in the same process, alternating
repeat by repeat; the figures are medians over the repeats.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch
from scipy.spatial import cKDTree

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from segbench.metrics import BoundaryF1, ConfusionMatrix, boundary_f1_image  # noqa: E402
from segbench.metrics_reference import (  # noqa: E402
    ReferenceConfusionMatrix,
    reference_boundary_f1_image,
)

SIZE, CLASSES, IGNORE = 512, 21, 255
TARGETS = {"cm_mpx": 300, "cm_ratio": 5, "bf1_ips": 50, "bf1_ratio": 4}


def region_maps(rng, regions: int, ignore_share: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Voronoi regions of random classes; ~ignore_share of pixels ignored along the
    region borders (VOC-style outlines); the prediction moves every border a little."""
    seeds = rng.uniform(0, SIZE, (regions, 2))
    classes = rng.integers(0, CLASSES, regions)
    grid = np.stack(np.mgrid[:SIZE, :SIZE], -1).reshape(-1, 2)
    dist, nearest = cKDTree(seeds).query(grid, k=2)
    target = classes[nearest[:, 0]]
    gap = dist[:, 1] - dist[:, 0]
    target[gap < np.quantile(gap, ignore_share)] = IGNORE
    _, moved = cKDTree(seeds + rng.normal(0, 6, seeds.shape)).query(grid)
    return classes[moved].reshape(SIZE, SIZE), target.reshape(SIZE, SIZE)


def _level(kind: int, centre, radii, yy, xx) -> np.ndarray:
    """< 1 inside an ellipse (kind 0) or a rectangle (kind 1)."""
    dy, dx = (yy - centre[0]) / radii[0], (xx - centre[1]) / radii[1]
    return dy * dy + dx * dx if kind == 0 else np.maximum(abs(dy), abs(dx))


def object_scene(rng) -> tuple[np.ndarray, np.ndarray]:
    """Background plus 2-3 ellipse/rectangle objects (3-4 classes) with a thin ignore
    outline; the prediction shifts and rescales each object and roughens its border."""
    yy, xx = np.mgrid[:SIZE, :SIZE].astype(np.float32)
    target = np.zeros((SIZE, SIZE), np.int64)
    pred = target.copy()
    for c in rng.choice(np.arange(1, CLASSES), rng.integers(2, 4), replace=False):
        kind, centre, radii = rng.integers(2), rng.uniform(0.2, 0.8, 2) * SIZE, rng.uniform(
            0.08, 0.25, 2) * SIZE
        level = _level(kind, centre, radii, yy, xx)
        target[level < 1] = c
        shifted = _level(kind, centre + rng.integers(-4, 5, 2), radii * rng.normal(1, 0.04), yy, xx)
        pred[shifted < 1 + rng.normal(0, 0.03, shifted.shape)] = c
        target[(level >= 0.97) & (level < 1.03)] = IGNORE
    return pred, target


def interleaved(fns: dict, repeats: int) -> dict[str, float]:
    """Median seconds per call of each function, alternating them repeat by repeat."""
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def bench_confusion(rng, batch: int, repeats: int) -> None:
    maps = [region_maps(rng, int(rng.integers(20, 60))) for _ in range(batch)]
    pred = torch.from_numpy(np.stack([p for p, _ in maps]))
    target = torch.from_numpy(np.stack([t for _, t in maps]))
    fast, ref = ConfusionMatrix(CLASSES, IGNORE), ReferenceConfusionMatrix(CLASSES)
    fast.update(pred, target)
    ref.update(pred, target)
    identical = torch.equal(fast.matrix, ref.matrix)
    seconds = interleaved({"segbench": lambda: fast.update(pred, target),
                           "reference": lambda: ref.update(pred, target)}, repeats)
    print(f"ConfusionMatrix.update, batches of {batch} x {SIZE}x{SIZE} int64 maps, "
          f"{CLASSES} classes, {(target == IGNORE).float().mean():.1%} ignored, {repeats} repeats")
    _report({k: pred.numel() / s / 1e6 for k, s in seconds.items()}, "Mpx/s",
            TARGETS["cm_mpx"], TARGETS["cm_ratio"], f"identical matrices: {identical}")


def bench_bf1(rng, images: int, repeats: int) -> None:
    scenes = [object_scene(rng) for _ in range(images)]
    identical = all(boundary_f1_image(p, t, CLASSES) == reference_boundary_f1_image(p, t, CLASSES)
                    for p, t in scenes)
    classes = np.mean([len(np.unique(t[t != IGNORE])) for _, t in scenes])

    def fast():
        metric = BoundaryF1(CLASSES, IGNORE)
        for p, t in scenes:
            metric.update(p, t)

    def ref():
        for p, t in scenes:
            reference_boundary_f1_image(p, t, CLASSES)

    seconds = interleaved({"segbench": fast, "reference": ref}, repeats)
    print(f"Boundary F1, {images} images {SIZE}x{SIZE}, {classes:.1f} classes per image, "
          f"{repeats} repeats")
    _report({k: images / s for k, s in seconds.items()}, "img/s",
            TARGETS["bf1_ips"], TARGETS["bf1_ratio"], f"identical per-class scores: {identical}")


def _report(rates: dict[str, float], unit: str, target: float, target_ratio: float,
            check: str) -> None:
    ratio = rates["segbench"] / rates["reference"]
    met = rates["segbench"] >= target and ratio >= target_ratio
    print(f"  segbench  {rates['segbench']:8.1f} {unit}  (target >= {target})")
    print(f"  reference {rates['reference']:8.1f} {unit}")
    print(f"  ratio     {ratio:8.2f} x      (target >= {target_ratio})")
    print(f"  {check}; targets met: {'yes' if met else 'NO'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer maps and repeats")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1),
                        help="torch intra-op threads (default: 2, or fewer CPUs)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    rng = np.random.default_rng(0)
    bench_confusion(rng, batch=8, repeats=5 if args.quick else 21)
    bench_bf1(rng, images=4 if args.quick else 12, repeats=3 if args.quick else 7)


if __name__ == "__main__":
    main()
