"""Straightforward second implementations of the metrics in `segbench.metrics`.

Written to be obviously correct rather than fast: the tests check the fast code
against them and `benchmarks/metrics.py` uses them as the baseline. Do not use
them in evaluation loops.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import ndimage

_CROSS = ndimage.generate_binary_structure(2, 1)


class ReferenceConfusionMatrix:
    """torchvision's references/segmentation ConfusionMatrix.update, one image at a time.

    Only target values in [0, n) are counted, which drops the ignore index; no
    validation is done. `matrix` is an int64 CPU tensor [n, n], rows = target.
    """

    def __init__(self, num_classes: int):
        self.num_classes = num_classes
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch [N, ...] of label maps, looping over its images."""
        for p, t in zip(pred, target):
            self._update_one(t.flatten(), p.flatten())

    def _update_one(self, a: torch.Tensor, b: torch.Tensor) -> None:
        n = self.num_classes
        k = (a >= 0) & (a < n)
        inds = n * a[k].to(torch.int64) + b[k]
        self.matrix += torch.bincount(inds, minlength=n**2).reshape(n, n).cpu()


def _boundary(mask: np.ndarray) -> np.ndarray:
    """Mask pixels with a 4-neighbour outside the mask (outside the image counts)."""
    return mask & ~ndimage.binary_erosion(mask, structure=_CROSS, border_value=0)


def _matched(points: np.ndarray, other: np.ndarray, theta: float) -> int:
    """Pixels of boundary `points` whose distance to boundary `other` is < theta."""
    distance = ndimage.distance_transform_edt(~other)
    return int((distance[points] < theta).sum())


def reference_boundary_f1_image(pred: np.ndarray, target: np.ndarray, num_classes: int,
                                ignore_index: int | None = 255,
                                tolerance: float = 0.0075) -> dict[int, float]:
    """Per-class boundary F1 of one [H, W] pair, by per-class erosion and full EDTs.

    Same definition and return value as `segbench.metrics.boundary_f1_image`;
    inputs are numpy arrays and are not validated.
    """
    valid = np.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    theta = tolerance * math.hypot(*target.shape)
    scores = {}
    for c in np.unique(target[valid]).tolist():
        target_edge = _boundary((target == c) & valid)
        pred_edge = _boundary((pred == c) & valid)
        n_pred, n_target = int(pred_edge.sum()), int(target_edge.sum())
        if n_pred == 0 or n_target == 0:
            scores[c] = 0.0
            continue
        precision = _matched(pred_edge, target_edge, theta) / n_pred
        recall = _matched(target_edge, pred_edge, theta) / n_target
        if precision + recall == 0:
            scores[c] = 0.0
        else:
            scores[c] = 2 * precision * recall / (precision + recall)
    return scores
