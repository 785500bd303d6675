"""`segbench data check`: is a data set usable? Its layout, its split counts against the real data's, and
every mask (palette or greyscale PNG or SBD .mat, values among the classes or the ignore index, the size
of its image); a summary of images per split and class pixel frequencies."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DatasetError
from . import build
from .files import LabelledImages, checked_mask, outside_classes
from .folder import build_folder
from .voc import SPLIT_SIZES

# the split each data set's training and evaluation come from, as the real data counts them
EXPECTED = {"voc2012": {"train": None, "val": "val"}, "voc2012_aug": {"train": "train_aug", "val": "val"}}


@dataclass
class SplitReport:
    split: str
    images: int
    expected: int | None                     # on the full real data set, where known
    sizes: int                               # distinct image sizes
    pixels: np.ndarray                       # per class, non-ignored pixels
    ignored: int
    problems: list[str] = field(default_factory=list)


def check_split(config: Any, split: str) -> SplitReport:
    """Read every mask of one split; each unusable file is a problem line naming it."""
    dataset = build_folder(config, split, check=False) if config.name == "folder" else build(config, split)
    info = dataset.info
    pixels, ignored, problems, sizes = np.zeros(info.num_classes, dtype=np.int64), 0, [], set()
    for i in range(len(dataset)):
        try:
            labels = _mask(dataset, i)
        except DatasetError as exc:
            problems.append(str(exc))
            continue
        sizes.add(labels.shape)
        reason = outside_classes(labels, info, _mask_path(dataset, i))
        if reason:
            problems.append(reason)
            continue
        values, counts = np.unique(labels, return_counts=True)
        for v, c in zip(values, counts):
            if v == info.ignore_index:
                ignored += int(c)
            else:
                pixels[v] += int(c)
    return SplitReport(split, len(dataset), _expected(config, split), len(sizes), pixels, ignored, problems)


def _mask(dataset: Any, i: int) -> np.ndarray:
    if isinstance(dataset, LabelledImages):
        return checked_mask(dataset.images[i], dataset.masks[i], dataset.read_mask)
    return dataset[i][1].numpy()


def _mask_path(dataset: Any, i: int) -> str:
    return str(dataset.masks[i]) if isinstance(dataset, LabelledImages) else f"sample {i}"


def _expected(config: Any, split: str) -> int | None:
    if config.name == "voc2012":
        return SPLIT_SIZES[config.train_split if split == "train" else "val"]
    named = EXPECTED.get(config.name, {}).get(split)
    return SPLIT_SIZES[named] if named else None


def count_note(report: SplitReport) -> str:
    """'' when the count is the real data's; else what the difference means."""
    if report.expected is None or report.images == report.expected:
        return ""
    return (f"{report.images} images where the full data set has {report.expected:,} "
            f"({report.images - report.expected:+,}): a partial tree (such as `segbench data synth` writes), another "
            f"release, or missing files")


def check(config: Any) -> list[SplitReport]:
    """Both splits; a missing data set raises its DatasetError (what is missing, where, how to get it)."""
    return [check_split(config, split) for split in ("train", "val")]
