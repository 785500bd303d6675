"""Object-centred crops: the first of DeconvNet's two training stages (Noh, Hong & Han, ICCV 2015).

The paper trains first on crops centred on one ground-truth object, 1.2 times its bounding box, so that
the network learns object shapes on easy, centred examples before it sees harder ones.
"""

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from .info import Described

ENLARGE = 1.2          # the crop spans this multiple of the object's bounding box, as in the paper
MIN_SCALE = 0.25       # nor less than this fraction of the image's sides: tiny objects are not blown up past 4x


def object_box(target: np.ndarray, ignore_index: int, rng: np.random.Generator,
               background: int | None = 0) -> tuple[int, int, int, int] | None:
    """The bounding box (top, left, bottom, right; exclusive) of one object picked at random: a
    4-connected region of one class other than the background. None when the target holds no object."""
    classes = [c for c in np.unique(target) if c not in (background, ignore_index)]
    if not classes:
        return None
    regions, count = ndimage.label(target == rng.choice(classes))
    ys, xs = np.nonzero(regions == rng.integers(1, count + 1))
    return int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1


def crop_window(box: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The crop (top, left, height, width) centred on `box`, with the image's aspect ratio, covering
    ENLARGE times the box and at least MIN_SCALE of the image; it may reach past the image."""
    top, left, bottom, right = box
    h, w = size
    scale = max(ENLARGE * max((bottom - top) / h, (right - left) / w), MIN_SCALE)
    ch, cw = max(1, round(scale * h)), max(1, round(scale * w))
    return round((top + bottom - ch) / 2), round((left + right - cw) / 2), ch, cw


def resized_crop(image: torch.Tensor, target: torch.Tensor, window: tuple[int, int, int, int],
                 ignore_index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut `window` out of a uint8 CHW image and its HW target and resize both to the image's size:
    bilinear for the image (edge pixels repeated past the border), nearest for the target (ignored
    past the border)."""
    top, left, ch, cw = window
    h, w = target.shape
    pad = (max(0, -left), max(0, left + cw - w), max(0, -top), max(0, top + ch - h))
    y0, x0 = top + pad[2], left + pad[0]
    img = F.pad(image[None].float(), pad, mode="replicate")[..., y0:y0 + ch, x0:x0 + cw]
    lab = F.pad(target[None, None].float(), pad, value=ignore_index)[..., y0:y0 + ch, x0:x0 + cw]
    img = F.interpolate(img, size=(h, w), mode="bilinear", align_corners=False, antialias=ch > h)
    lab = F.interpolate(lab, size=(h, w), mode="nearest-exact")
    return img[0].round().clamp(0, 255).to(torch.uint8), lab[0, 0].to(target.dtype)


class ObjectCrops(Described):
    """Sample i of `dataset`, cropped around one of its objects and resized back to the sample's size;
    a sample without foreground is returned whole. The object is a function of (`seed`, i): every pass
    over the data set crops the same one."""

    def __init__(self, dataset: Described, seed: int):
        self.dataset, self.seed, self.info = dataset, seed, dataset.info
        self.numbered = getattr(dataset, "numbered", False)   # an augmented set draws (index, draw) pairs

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = item[0] if isinstance(item, tuple) else item
        image, target = self.dataset[item]
        box = object_box(target.numpy(), self.ignore_index, np.random.default_rng((self.seed, index)),
                         self.info.background)
        if box is None:
            return image, target
        return resized_crop(image, target, crop_window(box, tuple(target.shape)), self.ignore_index)
