"""A user's own data: `images/` and `masks/` with matching file stems, a classes file, and split lists or a
seeded split. Every pair is checked when the data set is built, so a bad file stops the run before any
training, with an error that names it.

The classes file (YAML):

    names: [background, road, car]    # class i is names[i]
    colors: [[0, 0, 0], [128, 64, 128], [0, 0, 142]]   # optional: one [r, g, b] per class (default: VOC's)
    ignore_index: 255                 # optional: the label that is not scored (default 255)
    background: 0                     # optional: the background class, or null (default 0)
"""

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..dataconfig import FolderConfig, expand_root
from ..errors import DatasetError
from .files import LabelledImages, checked_mask, outside_classes
from .info import DatasetInfo
from .voc import voc_colormap

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def read_classes(path: Path) -> DatasetInfo:
    """The DatasetInfo a classes file describes (statistics: ImageNet's, as for any natural images)."""
    from .voc import IMAGENET_MEAN, IMAGENET_STD

    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DatasetError(f"{path}: cannot read the classes file ({exc})") from None
    names = spec.get("names") if isinstance(spec, dict) else None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise DatasetError(f"{path}: the classes file needs `names:`, a list of class names (class i is the i-th)")
    colours = spec.get("colors") or voc_colormap(len(names))
    if len(colours) != len(names) or not all(_is_colour(c) for c in colours):
        raise DatasetError(f"{path}: `colors:` needs one [r, g, b] (0-255) per class: {len(names)} of them")
    ignore, background = spec.get("ignore_index", 255), spec.get("background", 0)
    if not isinstance(ignore, int) or not len(names) <= ignore <= 255:
        raise DatasetError(f"{path}: `ignore_index: {ignore}` must be a label from {len(names)} to 255")
    if background is not None and not (isinstance(background, int) and 0 <= background < len(names)):
        raise DatasetError(f"{path}: `background: {background}` must be a class index below {len(names)}, or null")
    return DatasetInfo(f"folder:{path.parent.name}", tuple(names), tuple(tuple(c) for c in colours),
                       IMAGENET_MEAN, IMAGENET_STD, ignore, background)


def _is_colour(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 3 and all(
        isinstance(v, int) and 0 <= v <= 255 for v in value)


def stems(config: FolderConfig, split: str) -> list[str]:
    """The split's file stems: from its list file, or a seeded share of all stems for val_fraction."""
    root = expand_root(config.root)
    if config.val_fraction is None:
        listing = root / (config.train_list if split == "train" else config.val_list)
        try:
            return [line.strip() for line in listing.read_text(encoding="utf-8").splitlines() if line.strip()]
        except OSError as exc:
            raise DatasetError(f"{listing}: cannot read the {split} list ({exc.strerror})") from None
    everything = sorted(image_files(root / config.images))
    order = np.random.default_rng(config.split_seed).permutation(len(everything))
    n_val = max(1, round(config.val_fraction * len(everything)))
    chosen = sorted(order[:n_val]) if split == "val" else sorted(order[n_val:])
    return [everything[i] for i in chosen]


def image_files(folder: Path) -> dict[str, Path]:
    """stem → image file of a folder (suffixes .jpg, .jpeg, .png in any case); two images of one stem are an error."""
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such image folder")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            if path.stem in found:
                raise DatasetError(f"{path}: a second image of stem {path.stem!r} ({found[path.stem].name}); "
                                   "a mask belongs to one image: rename or remove one of them")
            found[path.stem] = path
    return found


def _image_of(files: dict[str, Path], folder: Path, stem: str) -> Path:
    if stem not in files:
        raise DatasetError(f"{folder}/{stem}: no image with that stem ({', '.join(IMAGE_SUFFIXES)}, any case)")
    return files[stem]


def check_pair(image: Path, mask: Path, info: DatasetInfo) -> None:
    """A clear error for a missing or unreadable mask, a size mismatch or a label outside the classes."""
    if not mask.is_file():
        raise DatasetError(f"{mask}: missing: every image needs a mask with its stem ({image.name})")
    reason = outside_classes(checked_mask(image, mask), info, mask)
    if reason:
        raise DatasetError(reason + " (the classes file names the classes)")


def build_folder(config: FolderConfig, split: str, check: bool = True) -> LabelledImages:
    """The split; with `check`, every pair is checked first (`segbench data check` checks them itself, to
    report every bad file rather than the first)."""
    root = expand_root(config.root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder (the folder data set's root: {config.root})")
    info = read_classes(root / config.classes)
    names = stems(config, split)
    if not names:
        raise DatasetError(f"{root}: the {split} split is empty")
    files = image_files(root / config.images)
    images = [_image_of(files, root / config.images, s) for s in names]
    masks = [root / config.masks / f"{s}.png" for s in names]
    for image, mask in zip(images, masks) if check else ():
        check_pair(image, mask, info)
    return LabelledImages(info, images, masks)
