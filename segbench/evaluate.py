"""Inference over a validation set with metric accumulation and optional post-processing."""

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .data.transforms import normalise
from .metrics import BoundaryF1, ConfusionMatrix

# (logits [N, C, H, W], uint8 images [N, 3, H, W]) -> labels [N, H, W]
PostProcess = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@torch.inference_mode()
def evaluate(model: nn.Module, dataset: Dataset, batch_size: int, tolerance: float, device: torch.device,
             postprocess: PostProcess | None = None,
             on_batch: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """mIoU & co. over one confusion matrix for the whole set, and boundary F1 per image."""
    model.to(device).eval()
    n, ignore = dataset.num_classes, dataset.ignore_index
    confusion = ConfusionMatrix(n, ignore_index=ignore)
    boundary = BoundaryF1(n, ignore_index=ignore, tolerance=tolerance)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    start = time.perf_counter()
    for i, (images_u8, target) in enumerate(loader):
        logits = model(normalise(images_u8, dataset.mean, dataset.std, device))
        pred = postprocess(logits, images_u8) if postprocess else logits.argmax(1)
        confusion.update(pred, target.to(pred.device))
        boundary.update(pred.cpu(), target)
        if on_batch:
            on_batch(i + 1, len(loader))
    scores = confusion.compute()
    bf = boundary.compute()
    return {"metrics": {k: scores[k] for k in ("miou", "pixel_acc", "mean_acc", "fwiou")} | {"bf1": bf["bf1"]},
            "per_class": {"iou": scores["per_class_iou"], "acc": scores["per_class_acc"],
                          "bf1": bf["per_class_bf1"]},
            "images": len(dataset), "wall_s": time.perf_counter() - start}
