"""Data sets by name: `build(config, split)` returns a torch Dataset of (uint8 image, int64 target).

Every data set carries `num_classes`, `class_names`, `palette`, `ignore_index`, `mean` and `std`.
"""

from typing import Any

from torch.utils.data import Dataset

from ..config import ShapesConfig
from .synthetic import ShapesDataset

# What every data set carries besides its samples; wrappers pass these on.
ATTRIBUTES = ("num_classes", "class_names", "palette", "ignore_index", "mean", "std")


def build(config: ShapesConfig, split: str) -> Dataset:
    """The `split` ("train" or "val") of the data set a suite's `dataset` section describes."""
    samples = config.train_samples if split == "train" else config.val_samples
    return ShapesDataset(split, num_samples=samples, size=tuple(config.image_size), seed=config.seed,
                         void_border=config.void_border)


class InMemory(Dataset):
    """A data set whose samples are kept once produced (procedural scenes are then rendered once)."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self._samples: dict[int, Any] = {}
        for attr in ATTRIBUTES:
            setattr(self, attr, getattr(dataset, attr))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        if index not in self._samples:
            self._samples[index] = self.dataset[index]
        return self._samples[index]
