"""Object-centred crops (DeconvNet's first training stage): geometry checked on hand-built scenes."""

import numpy as np
import torch

from segbench import data
from segbench.dataconfig import ShapesConfig
from segbench.data import DatasetInfo
from segbench.data.crops import ObjectCrops, crop_window, object_box, resized_crop

IGNORE = 255


class Scene(torch.utils.data.Dataset):
    """One hand-built sample with the attributes segbench data sets carry."""

    info = DatasetInfo("scene", ("bg", "a", "b"), ((0, 0, 0),) * 3, (0.5,) * 3, (0.25,) * 3, IGNORE)

    def __init__(self, image: torch.Tensor, target: torch.Tensor):
        self.sample = image, target

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int):
        return self.sample


def scene_with(*boxes: tuple[int, int, int, int, int], size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """A size x size scene: a gradient image and a target with class c on each (c, top, left, bottom, right)."""
    target = torch.zeros(size, size, dtype=torch.int64)
    for c, top, left, bottom, right in boxes:
        target[top:bottom, left:right] = c
    ramp = torch.arange(size, dtype=torch.uint8) * 3
    image = torch.stack([ramp[:, None].expand(size, size), ramp[None, :].expand(size, size),
                         torch.full((size, size), 7, dtype=torch.uint8)])
    return image, target


def test_window_is_1_2_times_the_box_centred_on_it():
    # rows 16-47 (32 px), cols 8-31 (24 px): scale 1.2 * 32/64 = 0.6 -> a 38 x 38 crop around (32, 20)
    _, target = scene_with((2, 16, 8, 48, 32))
    box = object_box(target.numpy(), IGNORE, np.random.default_rng(0))
    assert box == (16, 8, 48, 32)
    assert crop_window(box, (64, 64)) == (13, 1, 38, 38)


def test_small_objects_get_at_least_a_quarter_of_the_image_and_keep_the_aspect_ratio():
    assert crop_window((30, 30, 34, 34), (64, 64)) == (24, 24, 16, 16)        # 4 px object: 0.25 floor
    assert crop_window((10, 20, 30, 40), (40, 80)) == (8, 6, 24, 48)          # 20/40 * 1.2 = 0.6 of 40 x 80


def test_resized_crop_centres_and_enlarges_the_object():
    image, target = scene_with((2, 16, 8, 48, 32))
    _, label = resized_crop(image, target, (13, 1, 38, 38), IGNORE)
    ys, xs = np.nonzero(label.numpy() == 2)
    assert abs(ys.mean() - 31.5) <= 1 and abs(xs.mean() - 31.5) <= 1
    assert 53 <= ys.max() - ys.min() + 1 <= 55          # 32 px * 64/38 = 53.9
    assert 39 <= xs.max() - xs.min() + 1 <= 42          # 24 px * 64/38 = 40.4
    assert set(np.unique(label.numpy())) == {0, 2}      # nearest: no blended labels


def test_outside_the_image_the_target_is_ignored_and_the_image_repeats_its_edge():
    # a 10 x 10 object in the corner: a 16 x 16 window from (-3, -3), 3 rows and columns outside
    image, target = scene_with((1, 0, 0, 10, 10))
    window = crop_window(object_box(target.numpy(), IGNORE, np.random.default_rng(0)), (64, 64))
    assert window == (-3, -3, 16, 16)
    img, label = resized_crop(image, target, window, IGNORE)
    assert (label[:12] == IGNORE).all() and (label[:, :12] == IGNORE).all()   # 3 source px * 4
    assert not (label[12:, 12:] == IGNORE).any()
    assert (img[:, :8, :8] == image[:, :1, :1]).all()


def test_ignored_pixels_are_not_objects_and_an_empty_scene_comes_back_whole():
    image, target = scene_with()
    target[5:9, 5:9] = IGNORE
    assert object_box(target.numpy(), IGNORE, np.random.default_rng(0)) is None
    crops = ObjectCrops(Scene(image, target), seed=0)
    got_image, got_target = crops[0]
    assert torch.equal(got_image, image) and torch.equal(got_target, target)


def test_the_object_is_picked_by_seed_and_index():
    sample = scene_with((1, 4, 4, 20, 20), (2, 40, 40, 60, 60))
    picked = set()
    for seed in range(8):
        _, a = ObjectCrops(Scene(*sample), seed)[0]
        _, b = ObjectCrops(Scene(*sample), seed)[0]
        assert torch.equal(a, b)
        picked.add(int(a[32, 32]))                      # the centre pixel is the chosen object's
    assert picked == {1, 2}


def test_crops_of_shapes_scenes_keep_size_types_and_statistics():
    ds = data.build(ShapesConfig(name="shapes", image_size=[48, 40], train_samples=4, val_samples=1, seed=0,
                                 void_border=1), "train")
    crops = ObjectCrops(ds, seed=0)
    assert (crops.mean, crops.std, crops.ignore_index, crops.num_classes) == (ds.mean, ds.std, 255, 7)
    for i in range(len(ds)):
        image, target = crops[i]
        assert image.shape == (3, 48, 40) and image.dtype == torch.uint8
        assert target.shape == (48, 40) and target.dtype == torch.int64
        assert (target != 255).any() and set(target.unique().tolist()) <= set(range(7)) | {255}


def test_past_the_bottom_right_border_too():
    # a 10 x 10 object in the bottom-right corner: a 16 x 16 window from (51, 51), 3 px past each edge
    image, target = scene_with((1, 54, 54, 64, 64))
    window = crop_window(object_box(target.numpy(), IGNORE, np.random.default_rng(0)), (64, 64))
    assert window == (51, 51, 16, 16)
    img, label = resized_crop(image, target, window, IGNORE)
    assert (label[-12:] == IGNORE).all() and (label[:, -12:] == IGNORE).all()
    assert not (label[:-12, :-12] == IGNORE).any()
    assert (img[:, -8:, -8:] == image[:, -1:, -1:]).all()


def test_a_window_larger_than_the_image_on_every_side_shrinks_it():
    # an object filling the image: 1.2 x 64 = 76.8 -> a 77 x 77 window from (-6, -6), 7 px past the
    # bottom and right. Output pixel i samples source floor((i + 0.5) * 77/64) - 6 (nearest-exact):
    # rows 0-4 fall before the image, rows 58-63 after it.
    image, target = scene_with((1, 0, 0, 64, 64))
    window = crop_window(object_box(target.numpy(), IGNORE, np.random.default_rng(0)), (64, 64))
    assert window == (-6, -6, 77, 77)
    _, label = resized_crop(image, target, window, IGNORE)
    inside = (label != IGNORE).numpy()
    assert inside.any(axis=1).tolist() == [False] * 5 + [True] * 53 + [False] * 6
    assert inside.any(axis=0).tolist() == [False] * 5 + [True] * 53 + [False] * 6
    assert (label[inside] == 1).all()


def test_image_and_target_stay_aligned():
    """An image that paints the target (255 on the object, 0 elsewhere) still paints it after the
    crop: thresholding the resized image gives the resized target but for rounding at the edge."""
    image, target = scene_with((2, 20, 12, 41, 27))
    image[0] = (target == 2).to(torch.uint8) * 255
    img, label = resized_crop(image, target, crop_window((20, 12, 41, 27), (64, 64)), IGNORE)
    painted, labelled = img[0] >= 128, label == 2
    assert labelled.sum() > 1000
    assert (painted != labelled).sum() <= 2 * 64       # at most a pixel-wide sliver on two sides


def test_shrinking_is_antialiased():
    # 1-px stripes shrunk by 77/64: the antialiasing triangle filter, stretched 1.2x, averages neighbouring stripes
    # (values near 128); plain bilinear sampling hits single stripes (values near 0 and 255)
    image, target = scene_with((1, 0, 0, 64, 64))
    image[:] = 0
    image[:, :, ::2] = 255
    img, _ = resized_crop(image, target, (-6, -6, 77, 77), IGNORE)
    inner = img[0, 10:54, 10:54]
    assert 40 <= inner.min() and inner.max() <= 215
