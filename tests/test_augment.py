"""Training augmentation of real images: image and mask stay aligned, and a seed gives the same batches with
0 and 2 loader workers."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from segbench.dataconfig import Augment
from segbench.data.info import DatasetInfo, Described
from segbench.data.transforms import Augmented, NumberedSampler, train_transform
from segbench.train import train_loader

INFO = DatasetInfo("toy", ("a", "b", "c", "d"), ((0, 0, 0),) * 4, (0.5, 0.25, 0.75), (0.2, 0.2, 0.2))


class Stripes(Described):
    """Images whose colour encodes the label: pixel value = 40 * label + 20, so alignment can be read back."""

    info = INFO

    def __init__(self, n=6, size=(68, 90)):
        self.n, self.size = n, size

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        h, w = self.size
        yy, xx = np.mgrid[:h, :w]
        label = ((xx // 21 + yy // 17 + i) % 4).astype(np.int64)
        image = np.repeat((40 * label + 20)[None], 3, 0).astype(np.uint8)
        return torch.from_numpy(image), torch.from_numpy(label)


def aligned(image: torch.Tensor, mask: torch.Tensor) -> bool:
    """Inside each label region (7x7 neighbourhood of one label, away from the crop's edge, beyond which the
    neighbours are unseen: where bilinear resampling does not blend labels), the image shows that label's
    colour; padding (mask 255) shows the mean colour."""
    img, m = image[0].numpy().astype(int), mask.numpy()
    pad = m == 255
    interior = (ndimage.maximum_filter(m, 7) == ndimage.minimum_filter(m, 7)) & ~pad
    interior[:3], interior[-3:], interior[:, :3], interior[:, -3:] = False, False, False, False   # unseen outside
    return (np.all(np.abs(img[interior] - (40 * m[interior] + 20)) <= 1) and np.all(img[pad] == round(255 * 0.5))
            and interior.sum() > 0.1 * (~pad).sum())


@pytest.mark.parametrize("scale", [(1.0, 1.0), (0.5, 2.0)])
def test_image_and_mask_stay_aligned_through_scale_pad_crop_flip(scale):
    ds = Augmented(Stripes(), train_transform(Augment(scale=scale, crop=(48, 64)), INFO), seed=3)
    for draw in range(12):
        image, mask = ds[(draw % len(ds), draw)]
        assert image.shape == (3, 48, 64) and mask.shape == (48, 64) and image.dtype == torch.uint8
        assert aligned(image, mask), draw
        assert mask.dtype == torch.uint8 and set(np.unique(mask.numpy())) <= {0, 1, 2, 3, 255}


def test_the_alignment_check_catches_a_shifted_mask():
    image, mask = Augmented(Stripes(), train_transform(Augment(scale=(1, 1), crop=(32, 48)), INFO), 0)[(0, 0)]
    assert aligned(image, mask)
    assert not aligned(image, torch.roll(mask, 6, dims=1))      # a crop window 6 px off
    assert not aligned(image, torch.flip(mask, dims=[1]))       # a flip of the image alone


def test_draws_differ_and_repeat_exactly():
    ds = Augmented(Stripes(), train_transform(Augment(crop=(32, 32)), INFO), seed=1)
    assert torch.equal(ds[(0, 5)][0], ds[(0, 5)][0])
    assert not all(torch.equal(ds[(0, 0)][0], ds[(0, k)][0]) for k in range(1, 6))
    other = Augmented(Stripes(), train_transform(Augment(crop=(32, 32)), INFO), seed=2)
    assert not all(torch.equal(ds[(0, k)][0], other[(0, k)][0]) for k in range(6))


def test_same_batches_with_0_and_2_workers_across_epochs():
    def batches(workers):
        ds = Augmented(Stripes(n=8), train_transform(Augment(crop=(24, 24)), INFO), seed=7)
        loader = train_loader(ds, 4, 7, workers, torch.device("cpu"))
        assert isinstance(loader.batch_sampler.batches.batches.sampler, NumberedSampler)   # RankShare, SkipFirst, BatchSampler
        return [(x.clone(), y.clone()) for _ in range(2) for x, y in loader]   # two epochs: draws go on
    first, second = batches(0), batches(2)
    assert len(first) == 4 and not torch.equal(first[0][0], first[2][0])
    for (a, b), (c, d) in zip(first, second):
        assert torch.equal(a, c) and torch.equal(b, d)


class Labelled12(Described):
    """A VOC-sized image whose labels are 1 and 2 only and whose pixels are never black."""

    info = INFO

    def __len__(self):
        return 3

    def __getitem__(self, i):
        yy, xx = np.mgrid[:333, :500]
        label = (1 + ((xx // 50 + yy // 40 + i) % 2)).astype(np.int64)
        return torch.from_numpy(np.repeat((60 * label + 30)[None], 3, 0).astype(np.uint8)), torch.from_numpy(label)


def test_crops_never_read_past_the_image():
    """A source region rounded past the image's edge would bring in zero pixels and label 0."""
    ds = Augmented(Labelled12(), train_transform(Augment(scale=(0.5, 1.05), crop=(321, 321)), INFO), seed=0)
    for draw in range(60):
        image, mask = ds[(draw % 3, draw)]
        labels = set(np.unique(mask.numpy()))
        assert labels <= {1, 2, 255}, (draw, labels)
        assert image[:, mask != 255].min() >= 80, draw


def test_object_crops_of_augmented_data_pass_the_draws_on():
    from segbench.data.crops import ObjectCrops

    ds = Augmented(Labelled12(), train_transform(Augment(scale=(0.5, 2.0), crop=(64, 64)), INFO), seed=0)
    crops = ObjectCrops(ds, seed=0)
    loader = train_loader(crops, 3, 0, 0, torch.device("cpu"))
    assert isinstance(loader.batch_sampler.batches.batches.sampler, NumberedSampler)
    first, second = (x.clone() for x, _ in loader), None
    epochs = [torch.cat([x for x, _ in loader]) for _ in range(2)]
    assert not torch.equal(epochs[0], epochs[1])     # new draws each epoch: new scales and flips
    del first, second
