"""Training augmentation of real images (torchvision.transforms.v2 with tv_tensors.Mask) and turning a
batch of uint8 images into the model's input.

Augmentation is a pure function of (seed, draw): the training sampler numbers every sample it draws
(`NumberedSampler`, in the main process), and `Augmented` seeds torch's generator from that number
around the transform, so the crops and flips do not depend on the number of loader workers.
"""

import itertools
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import RandomSampler
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from ..dataconfig import Augment
from .info import DatasetInfo, Described


class RandomScaleCrop:
    """Random scale by a factor from [low, high], then a random `crop` (padded where the scaled image is
    smaller: image with `fill`, mask with `ignore`), computed crop first: only the source region that lands in
    the crop is resized, so the cost follows the crop's area, not the scaled image's. The image is resampled
    bilinearly with antialiasing, the mask by nearest neighbour (v2 resizes a tv_tensors.Mask so); both from
    the same integer source region, so they stay aligned."""

    def __init__(self, scale: tuple[float, float], crop: tuple[int, int], fill: tuple[int, ...], ignore: int):
        self.scale, self.crop, self.fill, self.ignore = scale, crop, fill, ignore

    def __call__(self, image: tv_tensors.Image, mask: tv_tensors.Mask) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
        factor = float(torch.empty(()).uniform_(*self.scale))
        (h, w), (ch, cw) = image.shape[-2:], self.crop
        sh, sw = max(1, round(h * factor)), max(1, round(w * factor))    # the scaled image's size
        oh, ow = min(ch, sh), min(cw, sw)                                 # the part of the crop it fills
        top, left = _randint(sh - oh), _randint(sw - ow)                  # in scaled coordinates
        y0, x0 = min(h - 1, round(top / factor)), min(w - 1, round(left / factor))
        region = (y0, x0, max(1, min(h - y0, round(oh / factor))), max(1, min(w - x0, round(ow / factor))))
        image = TF.resized_crop(image, *region, [oh, ow], antialias=True)
        mask = TF.resized_crop(mask, *region, [oh, ow])
        if (oh, ow) == (ch, cw):
            return image, mask
        y, x = _randint(ch - oh), _randint(cw - ow)                       # where the content sits in the crop
        padding = [x, y, cw - ow - x, ch - oh - y]
        return TF.pad(image, padding, fill=list(self.fill)), TF.pad(mask, padding, fill=self.ignore)


def _randint(high: int) -> int:
    """Uniform in 0..high, from torch's generator (seeded per draw by `Augmented`)."""
    return int(torch.randint(high + 1, ())) if high > 0 else 0


def train_transform(augment: Augment, info: DatasetInfo) -> v2.Compose:
    """Random scale and crop (padding with the image's mean colour and the ignore index), optional horizontal flip."""
    fill = tuple(round(255 * m) for m in info.mean)
    steps = [RandomScaleCrop(augment.scale, tuple(augment.crop), fill, info.ignore_index)]
    return v2.Compose(steps + ([v2.RandomHorizontalFlip()] if augment.flip else []))


class Augmented(Described):
    """`dataset` through `transform`; item (index, draw) is augmented with the generator seeded by (seed,
    draw), a plain index as draw 0. Items are (uint8 [3, h, w], uint8 [h, w]) at the crop size: labels and the
    ignore index fit in a byte (DatasetInfo keeps ignore_index <= 255), and training takes them as long."""

    numbered = True   # train_loader draws (index, draw) pairs for it

    def __init__(self, dataset: Described, transform, seed: int):
        self.dataset, self.transform, self.seed, self.info = dataset, transform, seed, dataset.info

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, draw = item if isinstance(item, tuple) else (item, 0)
        image, target = self.dataset[index]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(np.random.SeedSequence((self.seed, draw)).generate_state(1)[0]))
            image, target = self.transform(tv_tensors.Image(image), tv_tensors.Mask(target.to(torch.uint8)))
        return image.as_subclass(torch.Tensor), target.as_subclass(torch.Tensor)   # uint8 mask: 1/8 of the bytes


class NumberedSampler(RandomSampler):
    """RandomSampler's order, each index paired with the number of its draw (0, 1, 2, ... across epochs)."""

    def __init__(self, data_source, generator: torch.Generator):
        super().__init__(data_source, generator=generator)
        self._draws = itertools.count()

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for index in super().__iter__():
            yield index, next(self._draws)


def normalise(images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...],
              device: torch.device) -> torch.Tensor:
    """uint8 [N, C, H, W] → float32 on `device`, scaled to [0, 1] then standardised per channel.

    The uint8 batch is moved first: a quarter of the bytes of a float batch cross to the GPU.
    """
    x = images.to(device, non_blocking=True).float().div_(255)
    m = torch.as_tensor(mean, device=device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, device=device).view(1, -1, 1, 1)
    return x.sub_(m).div_(s)
