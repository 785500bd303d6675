"""`BoundaryF1`: the boundary F1 score (BF score) of Csurka et al., BMVC 2013, per image and class."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.spatial import cKDTree

from .inputs import as_label_tensor, bad_target_error, check_same


def _to_numpy(x, name: str) -> np.ndarray:
    """An integer label map as a numpy array (CUDA tensors are copied to the CPU)."""
    x = np.asarray(as_label_tensor(x, name).cpu() if isinstance(x, torch.Tensor) else x)
    if x.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer class labels, got dtype {x.dtype}")
    return x


def _check_labels(pred: np.ndarray, target: np.ndarray, n: int, ignore) -> None:
    """Raise unless pred is in [0, n) and target in [0, n) or the ignore index."""
    low, high = pred.min(), pred.max()
    if low < 0 or high >= n:
        raise ValueError(f"prediction value {low if low < 0 else high} is outside the "
                         f"class range [0, {n})")
    bad = (target < 0) | (target >= n)
    if ignore is not None:
        bad &= target != ignore
    if bad.any():
        raise bad_target_error(np.unique(target[bad]).tolist(), n, ignore)


def _boundary_map(labels: np.ndarray, valid: np.ndarray, n: int) -> np.ndarray:
    """Per pixel: its class if it is a boundary pixel of that class, else -1.

    A pixel of class c is on the boundary when a 4-neighbour is not of class c;
    ignored pixels and the outside of the image count as no class.
    """
    h, w = labels.shape
    padded = np.full((h + 2, w + 2), -1, dtype=np.int16 if n < 1 << 15 else np.int32)
    inner = padded[1:-1, 1:-1]
    inner[...] = labels
    inner[~valid] = -1
    edge = padded[:-2, 1:-1] != inner
    edge |= padded[2:, 1:-1] != inner
    edge |= padded[1:-1, :-2] != inner
    edge |= padded[1:-1, 2:] != inner
    return np.where(edge, inner, -1)


def _count_matched(points: np.ndarray, other: np.ndarray, other_map: np.ndarray,
                   c: int, theta: float) -> int:
    """How many `points` of class c lie strictly closer than theta to a point of `other`."""
    if theta <= 0:
        return 0
    exact = other_map[points[:, 0], points[:, 1]] == c  # distance 0: no search needed
    rest = points[~exact]
    if not len(rest):
        return len(points)
    # A small margin on the search bound so rounding never drops a point with d < theta;
    # the strict test is on the exact Euclidean distance, as an EDT would give it.
    dist, _ = cKDTree(other).query(rest, k=1, distance_upper_bound=theta + 1e-6)
    return int(exact.sum()) + int((dist < theta).sum())


def _f1(matched_pred: int, n_pred: int, matched_target: int, n_target: int) -> float:
    """F1 of boundary precision and recall; 0 if a boundary is empty or both are 0."""
    precision = matched_pred / n_pred if n_pred else 0.0
    recall = matched_target / n_target if n_target else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def boundary_f1_image(pred, target, num_classes: int, ignore_index: int | None = 255,
                      tolerance: float = 0.0075) -> dict[int, float]:
    """Boundary F1 per class present in the target of one [H, W] label map pair.

    Per class c present in the target: the class mask is `label == c` restricted to
    pixels whose target is not the ignore index; its boundary is `mask & ~erode(mask)`
    (4-connected cross, border value 0, so the image frame counts as boundary).
    With theta = tolerance * sqrt(H^2 + W^2), precision is the share of predicted
    boundary pixels whose Euclidean distance to the nearest target boundary pixel of
    c is strictly below theta, recall the converse; F1 = 2PR/(P+R), 0 when either
    boundary is empty or P+R = 0. Returns {} when no target pixel is valid.
    """
    pred, target = _to_numpy(pred, "pred"), _to_numpy(target, "target")
    check_same(pred.shape, target.shape, "shapes")
    if target.ndim != 2:
        raise ValueError(f"expected [H, W] maps, got shape {target.shape}")
    if not target.size:
        return {}
    _check_labels(pred, target, num_classes, ignore_index)
    valid = np.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    theta = tolerance * math.hypot(*target.shape)
    t_map, p_map = (_boundary_map(x, valid, num_classes) for x in (target, pred))
    (t_rows, t_cols), (p_rows, p_cols) = np.nonzero(t_map >= 0), np.nonzero(p_map >= 0)
    t_pts, t_cls = np.stack([t_rows, t_cols], 1), t_map[t_rows, t_cols]
    p_pts, p_cls = np.stack([p_rows, p_cols], 1), p_map[p_rows, p_cols]
    scores = {}
    for c in np.unique(t_cls).tolist():  # every class present has boundary pixels
        tc, pc = t_pts[t_cls == c], p_pts[p_cls == c]
        matched_p = _count_matched(pc, tc, t_map, c, theta) if len(pc) else 0
        matched_t = _count_matched(tc, pc, p_map, c, theta) if len(pc) else 0
        scores[c] = _f1(matched_p, len(pc), matched_t, len(tc))
    return scores


class BoundaryF1:
    """Boundary F1 averaged over images (see `boundary_f1_image` for the definition).

    `update` takes one [H, W] map pair or a batch [N, H, W] (torch or numpy). The
    data-set bf1 is the mean of the image scores (mean over the classes present in
    each target); per-class bf1 is the mean over the images whose target holds the
    class (None if never present). Images without valid target pixels are skipped;
    with no image scored, bf1 is NaN.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = 255,
                 tolerance: float = 0.0075):
        self.num_classes, self.ignore_index, self.tolerance = num_classes, ignore_index, tolerance
        self.reset()

    def reset(self) -> None:
        self._image_sum, self._images = 0.0, 0
        self._class_sum = [0.0] * self.num_classes
        self._class_images = [0] * self.num_classes

    def update(self, pred, target) -> None:
        pred, target = _to_numpy(pred, "pred"), _to_numpy(target, "target")
        check_same(pred.shape, target.shape, "shapes")
        if target.ndim not in (2, 3):
            raise ValueError(f"expected [H, W] or [N, H, W] maps, got shape {target.shape}")
        for p, t in zip(*((pred, target) if target.ndim == 3 else ([pred], [target]))):
            scores = boundary_f1_image(p, t, self.num_classes, self.ignore_index, self.tolerance)
            if scores:
                self._add_image(scores)

    def _add_image(self, scores: dict[int, float]) -> None:
        self._image_sum += sum(scores.values()) / len(scores)
        self._images += 1
        for c, f1 in scores.items():
            self._class_sum[c] += f1
            self._class_images[c] += 1

    def add(self, other: "BoundaryF1") -> "BoundaryF1":
        """Add another accumulator's images (e.g. another rank's share of the data set); returns self."""
        if (other.num_classes, other.ignore_index, other.tolerance) != (self.num_classes, self.ignore_index,
                                                                        self.tolerance):
            raise ValueError("cannot add boundary F1 accumulators with different classes, ignore_index or tolerance")
        self._image_sum += other._image_sum
        self._images += other._images
        self._class_sum = [a + b for a, b in zip(self._class_sum, other._class_sum)]
        self._class_images = [a + b for a, b in zip(self._class_images, other._class_images)]
        return self

    def compute(self) -> dict:
        per_class = [s / k if k else None for s, k in zip(self._class_sum, self._class_images)]
        bf1 = self._image_sum / self._images if self._images else math.nan
        return {"bf1": bf1, "per_class_bf1": per_class, "images": self._images}
