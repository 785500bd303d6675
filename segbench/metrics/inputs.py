"""Label-map inputs shared by the metrics: integer tensors or arrays, checked with clear messages."""

import numpy as np
import torch


def as_label_tensor(x, name: str) -> torch.Tensor:
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


def check_same(pred_value, target_value, what: str) -> None:
    if pred_value != target_value:
        raise ValueError(f"pred and target {what} differ: {pred_value} vs {target_value}")


def bad_target_error(values, n: int, ignore) -> ValueError:
    return ValueError(f"target values {list(values)[:5]} are outside the class range "
                      f"[0, {n}) and are not the ignore index {ignore}")
