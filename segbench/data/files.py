"""Labelled images on disk at native resolution: decoding, reading masks as class indices, and the data
set of (image file, mask file) pairs that VOC, SBD and users' folders all are."""

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import DatasetError
from .info import DatasetInfo, Described

MASK_MODES = ("P", "L")   # palette or greyscale PNG: pixel values are the class indices


def read_image(path: Path) -> torch.Tensor:
    """RGB uint8 [3, H, W]; greyscale and CMYK JPEGs (VOC has both) come as RGB. torchvision.io decodes
    JPEG and PNG (a VOC JPEG in 0.9 ms against PIL's 1.5 ms here, the same pixels); PIL the other formats."""
    decoded = _torchvision_decode(path)
    if decoded is not None:
        return decoded
    try:
        with Image.open(path) as image:
            rgb = np.array(image.convert("RGB"))   # writable: torch shares its memory
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the image ({exc})") from None
    return torch.from_numpy(rgb).permute(2, 0, 1).contiguous()


def _torchvision_decode(path: Path) -> torch.Tensor | None:
    """torchvision.io's decoding, or None where it has none: a format it does not read, a broken file (PIL then
    says what is wrong), or a torchvision without the decoders (0.29 deprecates them for TorchCodec)."""
    try:
        from torchvision.io import ImageReadMode, decode_image, read_file
    except ImportError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # PIL is the fallback when they go
        try:
            image = decode_image(read_file(str(path)), mode=ImageReadMode.RGB)
        except RuntimeError:
            return None
    if image.dtype != torch.uint8:   # a 16-bit PNG: scaled to 8 bits, as the models' statistics expect
        image = (image.to(torch.int32) * 255 // torch.iinfo(image.dtype).max).to(torch.uint8)
    return image


def read_png_mask(path: Path) -> np.ndarray:
    """The class indices of a palette or greyscale PNG, uint8 [H, W]: read as stored, never through RGB."""
    try:
        with Image.open(path) as mask:
            if mask.mode not in MASK_MODES:
                raise DatasetError(f"{path}: a {mask.mode} image is not a label mask; masks are palette (mode P) "
                                   "or greyscale (mode L) PNGs whose pixel values are the class indices")
            return np.asarray(mask, dtype=np.uint8)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the mask ({exc})") from None


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the file's header, without decoding it."""
    try:
        with Image.open(path) as image:
            return image.height, image.width
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the image ({exc})") from None


def size_mismatch(mask: Path, mask_shape: tuple, image: Path, image_shape: tuple) -> DatasetError:
    return DatasetError(f"{mask}: mask size {mask_shape[1]}x{mask_shape[0]} differs from its image {image} "
                        f"({image_shape[1]}x{image_shape[0]})")


def checked_mask(image: Path, mask: Path, read_mask: Callable[[Path], np.ndarray] = read_png_mask) -> np.ndarray:
    """The mask's class indices; a DatasetError when their size is not the image's (read from its header)."""
    labels, size = read_mask(mask), image_size(image)
    if labels.shape != size:
        raise size_mismatch(mask, labels.shape, image, size)
    return labels


def outside_classes(labels: np.ndarray, info: DatasetInfo, mask: Path | str) -> str | None:
    """Why a mask's labels do not fit the classes (a value neither a class nor the ignore index), or None."""
    bad = np.setdiff1d(np.unique(labels), [*range(info.num_classes), info.ignore_index])
    if not bad.size:
        return None
    return (f"{mask}: label value {int(bad[0])} is neither a class (0-{info.num_classes - 1}) nor the ignore index "
            f"{info.ignore_index}")


class LabelledImages(Described):
    """(uint8 image [3, H, W], uint8 target [H, W]) for each (image, mask) file pair, at native size (labels and
    the ignore index fit in a byte: a quarter of an int64's memory for a cached VOC val).

    `read_mask` turns a mask file into class indices (PNG by default; SBD's are .mat files).
    """

    def __init__(self, info: DatasetInfo, images: list[Path], masks: list[Path],
                 read_mask: Callable[[Path], np.ndarray] = read_png_mask):
        if len(images) != len(masks):
            raise ValueError(f"{len(images)} images but {len(masks)} masks")
        self.info, self.images, self.masks, self.read_mask = info, list(images), list(masks), read_mask

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = read_image(self.images[index]), self.read_mask(self.masks[index])
        if tuple(image.shape[1:]) != mask.shape:
            raise size_mismatch(self.masks[index], mask.shape, self.images[index], tuple(image.shape[1:]))
        return image, torch.from_numpy(np.array(mask, dtype=np.uint8))   # a writable copy

    def sizes(self) -> list[tuple[int, int]]:
        """(height, width) of every image, from the file headers: what evaluation batches images by."""
        return [image_size(p) for p in self.images]
