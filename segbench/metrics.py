"""Segmentation metrics to call from your own evaluation loop.

`ConfusionMatrix` gives mIoU, pixel accuracy, mean accuracy and frequency-weighted
IoU from one matrix accumulated over the whole data set (the VOC protocol);
`BoundaryF1` gives the boundary F1 score (BF score) of Csurka et al., BMVC 2013.
All scores are fractions in [0, 1]; see `DEFINITIONS` and `HIGHER_IS_BETTER`.
"""

from __future__ import annotations

import functools
import math
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from scipy.spatial import cKDTree

HIGHER_IS_BETTER = {"miou": True, "pixel_acc": True, "mean_acc": True, "fwiou": True, "bf1": True}

DEFINITIONS: dict[str, str] = {
    "miou": "Mean over classes of TP/(TP+FP+FN) from one confusion matrix summed over the "
    "data set; classes absent from both target and prediction are excluded.",
    "pixel_acc": "Share of non-ignored pixels whose predicted class equals the target class.",
    "mean_acc": "Mean over classes present in the target of per-class recall TP/(TP+FN).",
    "fwiou": "Sum over classes of (share of target pixels of the class) x (IoU of the class).",
    "bf1": "Boundary F1 (Csurka et al. 2013): per image and target class, F1 of boundary "
    "pixels matched within 0.75% of the image diagonal; mean over classes, then images.",
}

# Targets needing more rows than the classes' plus this many (a huge or very
# negative ignore index) have their ignore pixels remapped first: one more pass.
_MAX_EXTRA_ROWS = 1024
_SPREAD = 4  # copies of the histogram that neighbouring pixels are spread over


def _to_tensor(x, name: str) -> torch.Tensor:
    """An integer label map as a torch tensor (numpy input shares memory when it can)."""
    if isinstance(x, np.ndarray):
        if x.dtype.kind == "u" and x.dtype.itemsize > 1:
            x = x.astype(np.int64)  # torch has few kernels for uint16/32/64
        x = np.ascontiguousarray(x, dtype=x.dtype.newbyteorder("="))
        x = torch.from_numpy(x if x.flags.writeable else x.copy())
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch tensor or numpy array, got {type(x).__name__}")
    if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer class labels, got dtype {x.dtype}")
    return x


def _check_same(pred_value, target_value, what: str) -> None:
    if pred_value != target_value:
        raise ValueError(f"pred and target {what} differ: {pred_value} vs {target_value}")


def _bad_target(values, n: int, ignore) -> ValueError:
    return ValueError(f"target values {list(values)[:5]} are outside the class range "
                      f"[0, {n}) and are not the ignore index {ignore}")


class ConfusionMatrix:
    """Confusion matrix accumulated over a data set (rows = target, cols = prediction).

    `update` takes integer label maps of any matching shape (a batch in one call is
    fastest), as torch tensors on any device or numpy arrays. Pixels whose target is
    `ignore_index` (None: no ignore value) are dropped. Other target values must lie
    in [0, num_classes) and every prediction, ignored pixels included, too; otherwise
    ValueError. Counting runs on the input's device; `matrix`, an int64 [n, n]
    tensor, always lives on the CPU.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = 255):
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if ignore_index is not None and 0 <= ignore_index < num_classes:
            raise ValueError(f"ignore_index {ignore_index} is a class id (< {num_classes})")
        self.num_classes, self.ignore_index = num_classes, ignore_index
        with torch.inference_mode(False):  # so updates work inside and outside the mode
            self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def reset(self) -> None:
        self.matrix.zero_()

    def update(self, pred, target) -> None:
        """Add the pixels of one label map or of a batch of them."""
        pred, target = _to_tensor(pred, "pred"), _to_tensor(target, "target")
        _check_same(tuple(pred.shape), tuple(target.shape), "shapes")
        _check_same(pred.device, target.device, "devices")
        if target.numel():
            self.matrix += _pair_counts(pred.reshape(-1), target.reshape(-1), self).cpu()

    def add(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add another matrix's counts (e.g. from another worker); returns self."""
        if (other.num_classes, other.ignore_index) != (self.num_classes, self.ignore_index):
            raise ValueError("cannot add confusion matrices with different classes or ignore_index")
        self.matrix += other.matrix.cpu()
        return self

    __iadd__ = add

    def compute(self) -> dict:
        """Scores from the accumulated matrix; scalars are NaN when no pixel was counted."""
        return scores_from_matrix(self.matrix)


def _pair_counts(pred: torch.Tensor, target: torch.Tensor, cm: ConfusionMatrix) -> torch.Tensor:
    """[n, n] counts of (target, pred) pairs of flat maps, ignored pixels dropped."""
    n, ignore = cm.num_classes, cm.ignore_index
    pmin, pmax = (int(v) for v in torch.aminmax(pred))
    if pmin < 0 or pmax >= n:
        raise ValueError(f"prediction value {pmin if pmin < 0 else pmax} is outside the "
                         f"class range [0, {n})")
    tmin, tmax = (int(v) for v in torch.aminmax(target))
    if max(tmax, n - 1) - min(tmin, 0) + 1 > n + _MAX_EXTRA_ROWS:
        if ignore is not None:
            target = target.long()  # comparing uint8 with a large scalar would wrap
            target, ignore = torch.where(target == ignore, n, target), n
        tmin, tmax = (int(v) for v in torch.aminmax(target))
        if tmin < 0 or tmax > n:
            raise _bad_target([tmin if tmin < 0 else tmax], n, cm.ignore_index)
    offset = min(tmin, 0)
    counts = _count_pairs(pred, target, offset, max(tmax, n - 1) - offset + 1, n)
    # Rows other than the classes' hold ignored pixels or invalid target values.
    values = (torch.nonzero(counts.sum(1)).flatten().cpu() + offset).tolist()
    bad = [v for v in values if not 0 <= v < n and v != ignore]
    if bad:
        raise _bad_target(bad, n, cm.ignore_index)
    return counts[-offset : n - offset]


def _count_pairs(pred: torch.Tensor, target: torch.Tensor, offset: int, rows: int,
                 n: int) -> torch.Tensor:
    """[rows, n] counts of (target - offset, pred) pairs: one bincount, no masking."""
    bins = rows * n
    # Neighbouring pixels mostly share one (target, pred) pair, and bincount's serial
    # loop then stalls on one counter; adding (position % spread) * bins spreads them
    # over copies of the histogram, which counts real label maps ~1.7x faster.
    spread = _SPREAD if bins <= 1 << 18 else 1
    dtype = torch.int16 if bins * spread <= 1 << 15 else torch.int32
    idx = torch.add(_narrow(pred, dtype), _narrow(target, dtype), alpha=n)
    shifts = _spread_offsets(idx.numel(), bins, spread, -offset * n, dtype, idx.device)
    idx.add_(shifts[: idx.numel()])
    return _bincount(idx, bins * spread).reshape(spread, rows, n).sum(0)


def _bincount(idx: torch.Tensor, size: int) -> torch.Tensor:
    """torch.bincount; with 2+ torch threads a large CPU input is counted in two halves
    at once, because bincount's loop is serial (and releases the GIL)."""
    if idx.is_cuda or torch.get_num_threads() < 2 or idx.numel() < 1 << 20:
        return torch.bincount(idx, minlength=size)
    first, second = idx.chunk(2)
    other = _worker().submit(torch.bincount, first, minlength=size)
    return torch.bincount(second, minlength=size) + other.result()


@functools.lru_cache(maxsize=1)
def _worker() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="segbench-bincount")


def _narrow(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """x (flat, values known to fit) as `dtype`, without a copy for wider integers.

    On little-endian machines the low bytes of each element are its value in the
    narrower type, so a strided view replaces a conversion pass over the input.
    """
    ratio = x.element_size() // torch.empty(0, dtype=dtype).element_size()
    if ratio <= 1 or sys.byteorder != "little" or not x.is_contiguous():
        return x.to(dtype)
    return x.view(dtype).view(-1, ratio)[:, 0]


@functools.lru_cache(maxsize=4)
def _spread_offsets(length: int, bins: int, spread: int, shift: int, dtype: torch.dtype,
                    device: torch.device) -> torch.Tensor:
    """(position % spread) * bins + shift for at least `length` positions (cached)."""
    length = 1 << max(length - 1, 1).bit_length()  # few sizes, so the cache hits
    return (torch.arange(length, device=device) % spread * bins + shift).to(dtype)


def scores_from_matrix(matrix: torch.Tensor) -> dict:
    """miou, pixel_acc, mean_acc, fwiou and per-class IoU/recall of a confusion matrix.

    A class absent from both target and prediction is None per class and left out
    of the means; a class only predicted has IoU 0. Empty matrix: NaN scalars.
    """
    m = matrix.detach().cpu().double().numpy()
    tp, in_target, in_pred = np.diag(m), m.sum(1), m.sum(0)
    total, union = in_target.sum(), in_target + in_pred - tp
    present, has_target = union > 0, in_target > 0
    iou = np.divide(tp, union, out=np.zeros_like(tp), where=present)
    acc = np.divide(tp, in_target, out=np.zeros_like(tp), where=has_target)
    return {
        "miou": float(iou[present].mean()) if present.any() else math.nan,
        "pixel_acc": float(tp.sum() / total) if total else math.nan,
        "mean_acc": float(acc[has_target].mean()) if has_target.any() else math.nan,
        "fwiou": float((in_target * iou).sum() / total) if total else math.nan,
        "per_class_iou": [float(v) if ok else None for v, ok in zip(iou, present)],
        "per_class_acc": [float(v) if ok else None for v, ok in zip(acc, has_target)],
    }


# ---------------------------------------------------------------- boundary F1


def _to_numpy(x, name: str) -> np.ndarray:
    """An integer label map as a numpy array (CUDA tensors are copied to the CPU)."""
    x = np.asarray(_to_tensor(x, name).cpu() if isinstance(x, torch.Tensor) else x)
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
        raise _bad_target(np.unique(target[bad]).tolist(), n, ignore)


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
    _check_same(pred.shape, target.shape, "shapes")
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
        _check_same(pred.shape, target.shape, "shapes")
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

    def compute(self) -> dict:
        per_class = [s / k if k else None for s, k in zip(self._class_sum, self._class_images)]
        bf1 = self._image_sum / self._images if self._images else math.nan
        return {"bf1": bf1, "per_class_bf1": per_class, "images": self._images}
