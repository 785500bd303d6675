"""Data sets by name: `build(section, split)` returns a torch Dataset of (uint8 image [3, H, W], int64
target [H, W]) with an `info` (segbench.data.info.DatasetInfo), for the suite's `dataset:` section."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..dataconfig import ShapesConfig, expand_root
from .folder import build_folder, read_classes
from .info import Cached, DatasetInfo, Described
from .synthetic import SHAPES, ShapesDataset
from .transforms import Augmented, train_transform
from .voc import VOC, build_voc, build_voc_aug


@dataclass(frozen=True)
class DatasetKind:
    build: Callable[[Any, str], Described]   # (section, "train" | "val") -> that split
    info: Callable[[Any], DatasetInfo]       # the section's description, without reading any sample
    augmented: bool                          # training samples are randomly augmented: never cache them


def _shapes(config: ShapesConfig, split: str) -> ShapesDataset:
    samples = config.train_samples if split == "train" else config.val_samples
    return ShapesDataset(split, num_samples=samples, size=tuple(config.image_size), seed=config.seed,
                         void_border=config.void_border, scenes=config.scenes)


DATASETS: dict[str, DatasetKind] = {
    "shapes": DatasetKind(_shapes, lambda config: SHAPES, augmented=False),
    "voc2012": DatasetKind(build_voc, lambda config: VOC, augmented=True),
    "voc2012_aug": DatasetKind(build_voc_aug, lambda config: VOC, augmented=True),
    "folder": DatasetKind(build_folder, lambda config: read_classes(expand_root(config.root) / config.classes),
                          augmented=True),
}


def build(config: Any, split: str) -> Described:
    """The `split` ("train" or "val") of the data set a suite's `dataset` section describes."""
    return DATASETS[config.name].build(config, split)


def info(config: Any) -> DatasetInfo:
    """The data set's classes, colours and statistics."""
    return DATASETS[config.name].info(config)


def for_training(config: Any, dataset: Described, seed: int) -> Described:
    """The training split as the model sees it: randomly augmented per the section's `augment` (a function of
    `seed` and each sample's draw number), or as it is for a data set without augmentation."""
    if not DATASETS[config.name].augmented:
        return dataset
    return Augmented(dataset, train_transform(config.augment, dataset.info), seed)


def build_cached(config: Any, split: str) -> Described:
    """The split, its samples kept once produced where that is correct: every split of a data set without
    random augmentation, and the evaluation split of any."""
    dataset = build(config, split)
    return dataset if split == "train" and DATASETS[config.name].augmented else Cached(dataset)


__all__ = ["DATASETS", "DatasetKind", "DatasetInfo", "Described", "Cached", "Augmented", "build", "info",
           "for_training", "build_cached"]
