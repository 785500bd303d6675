"""Inference over a validation set with metric accumulation and optional post-processing."""

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .data.transforms import normalise
from .distributed import World, combined, merged
from .metrics import BoundaryF1, ConfusionMatrix

# (logits [N, C, H, W], uint8 images [N, 3, H, W]) -> labels [N, H, W]; one with a `pipeline`
# method (segbench.crf.CRFPostProcess) is driven through it so that it overlaps the network.
PostProcess = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def size_batches(dataset: Dataset, batch_size: int) -> list[list[int]]:
    """Batches of indices whose images share one size (`dataset.sizes()`), each size's in index order; plain
    consecutive batches when the data set's samples are all of one size. Images are never resized or padded,
    so a batch gives exactly the predictions of its images one by one."""
    sizes = getattr(dataset, "sizes", lambda: None)()
    groups: dict[tuple, list[int]] = {}
    for i in range(len(dataset)):
        groups.setdefault(tuple(sizes[i]) if sizes else (), []).append(i)
    return [group[k:k + batch_size] for group in groups.values() for k in range(0, len(group), batch_size)]


@torch.inference_mode()
def evaluate(model: nn.Module, dataset: Dataset, batch_size: int, tolerance: float, device: torch.device,
             postprocess: PostProcess | None = None,
             on_batch: Callable[[int, int], None] | None = None, keep: Sequence[int] = (),
             world: World = World()) -> dict[str, Any]:
    """mIoU & co. over one confusion matrix for the whole set, and boundary F1 per image, at each image's
    own size (images of one size are batched together). With several processes each evaluates every
    world.size-th batch and the metrics are added up: each image counts once.

    `keep`: validation indices whose predicted label maps are returned under "kept" (uint8 arrays).
    """
    model.to(device).eval()
    n, ignore = dataset.num_classes, dataset.ignore_index
    confusion = ConfusionMatrix(n, ignore_index=ignore)
    boundary = BoundaryF1(n, ignore_index=ignore, tolerance=tolerance)
    batches = size_batches(dataset, batch_size)[world.rank::world.size]
    loader = DataLoader(dataset, batch_sampler=batches)
    start = time.perf_counter()

    def network():
        for indices, (images_u8, target) in zip(batches, loader):
            yield model(normalise(images_u8, dataset.mean, dataset.std, device)), images_u8, (target, indices)

    if postprocess is None:
        predictions = ((logits.argmax(1), extra) for logits, _, extra in network())
    elif hasattr(postprocess, "pipeline"):  # the CRF works on batch k while the network computes k+1
        predictions = postprocess.pipeline(network())
    else:
        predictions = ((postprocess(logits, images), extra) for logits, images, extra in network())
    kept, wanted = {}, set(keep)
    for b, (pred, (target, indices)) in enumerate(predictions):
        confusion.update(pred, target.to(pred.device))
        boundary.update(pred.cpu(), target)
        kept |= {i: pred[j].cpu().numpy().astype(np.uint8) for j, i in enumerate(indices) if i in wanted}
        if on_batch:
            on_batch(b + 1, len(batches))
    confusion, boundary, kept = combined(confusion, world), combined(boundary, world), merged(kept, world)
    scores = confusion.compute()
    bf = boundary.compute()
    return {"metrics": {k: scores[k] for k in ("miou", "pixel_acc", "mean_acc", "fwiou")} | {"bf1": bf["bf1"]},
            "per_class": {"iou": scores["per_class_iou"], "acc": scores["per_class_acc"],
                          "bf1": bf["per_class_bf1"]},
            "images": len(dataset), "wall_s": time.perf_counter() - start, "kept": kept}
