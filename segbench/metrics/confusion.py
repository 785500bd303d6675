"""`ConfusionMatrix`: mIoU, pixel accuracy, mean accuracy and frequency-weighted IoU from one matrix
accumulated over the whole data set (the PASCAL VOC protocol)."""

from __future__ import annotations

import functools
import math
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from .inputs import as_label_tensor, bad_target_error, check_same

# Targets needing more rows than the classes' plus this many (a huge or very
# negative ignore index) have their ignore pixels remapped first: one more pass.
_MAX_EXTRA_ROWS = 1024
_SPREAD = 4  # copies of the histogram that neighbouring pixels are spread over


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
        pred, target = as_label_tensor(pred, "pred"), as_label_tensor(target, "target")
        check_same(tuple(pred.shape), tuple(target.shape), "shapes")
        check_same(pred.device, target.device, "devices")
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
            raise bad_target_error([tmin if tmin < 0 else tmax], n, cm.ignore_index)
    offset = min(tmin, 0)
    counts = _count_pairs(pred, target, offset, max(tmax, n - 1) - offset + 1, n)
    # Rows other than the classes' hold ignored pixels or invalid target values.
    values = (torch.nonzero(counts.sum(1)).flatten().cpu() + offset).tolist()
    bad = [v for v in values if not 0 <= v < n and v != ignore]
    if bad:
        raise bad_target_error(bad, n, cm.ignore_index)
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
