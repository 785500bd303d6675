"""What a failed run's record says: the error text, and a job's failed training carried back to the suite."""

from typing import Any

import torch

from .matrix import RunSpec


class TrainingFailed(Exception):
    """A training that failed in a job of --jobs; its record gives the job's error, traceback and time."""

    def __init__(self, outcome: dict[str, Any]):
        super().__init__(outcome["error"])
        self.job_traceback, self.wall_s = outcome["traceback"], outcome["wall_s"]


def failure_text(exc: Exception, spec: RunSpec) -> str:
    """What a failed record says: the exception, and for running out of memory the sizes that decide it."""
    if isinstance(exc, TrainingFailed):   # a job's own failure text
        return str(exc)
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, torch.OutOfMemoryError):
        augment = getattr(spec.dataset, "augment", None)
        size = f"training crop {augment.crop}" if augment else f"image size {getattr(spec.dataset, 'image_size', '?')}"
        text = (f"out of memory at batch {spec.train.batch_size} (eval batch {spec.eval.batch_size}), {size}: "
                f"lower the batch size or the image size. {text.splitlines()[0]}")
    return text
