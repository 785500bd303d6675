"""Tests of the procedural `shapes` data set."""

import hashlib

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch.utils.data import DataLoader

from segbench.data.synthetic import (
    CLASS_NAMES, COMPOSITIONS, IGNORE_INDEX, PALETTE, ShapesDataset, render_scene,
)

SIZE = (48, 48)


def _stack(dataset, indices):
    images, targets = zip(*(dataset[i] for i in indices))
    return torch.stack(images), torch.stack(targets)


def _shifted_differs(label: np.ndarray, k: int) -> np.ndarray:
    """True where some pixel within Chebyshev distance k holds another label."""
    h, w = label.shape
    padded = np.pad(label, k, mode="edge")
    out = np.zeros_like(label, dtype=bool)
    for dy in range(-k, k + 1):
        for dx in range(-k, k + 1):
            out |= padded[k + dy:k + dy + h, k + dx:k + dx + w] != label
    return out


def _four_adjacent_pairs(label: np.ndarray):
    yield label[:, 1:], label[:, :-1]
    yield label[1:, :], label[:-1, :]


def test_render_is_deterministic():
    a = render_scene(3, "train", 7, SIZE, void_border=1)
    b = render_scene(3, "train", 7, SIZE, void_border=1)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


@pytest.mark.parametrize("other", [(3, "train", 8), (3, "val", 7), (4, "train", 7)])
def test_index_split_and_seed_change_the_sample(other):
    image, _ = render_scene(3, "train", 7, SIZE)
    other_image, _ = render_scene(*other, SIZE)
    assert not np.array_equal(image, other_image)


def test_render_types_and_shapes():
    image, label = render_scene(0, "val", 0, (67, 93))
    assert image.shape == (67, 93, 3) and image.dtype == np.uint8
    assert image.flags["C_CONTIGUOUS"]
    assert label.shape == (67, 93) and label.dtype == np.uint8


def test_dataset_item_types_and_attributes():
    ds = ShapesDataset("train", 4, (40, 56), seed=1)
    image, target = ds[0]
    assert image.dtype == torch.uint8 and image.shape == (3, 40, 56)
    assert target.dtype == torch.int64 and target.shape == (40, 56)
    assert len(ds) == 4
    assert ds.num_classes == len(ds.class_names) == len(ds.palette) == len(CLASS_NAMES)
    assert ds.ignore_index == IGNORE_INDEX == 255
    assert len(set(PALETTE)) == len(PALETTE)
    assert len(ds.mean) == len(ds.std) == 3 and min(ds.std) > 0


def test_dataset_matches_render_scene():
    ds = ShapesDataset("val", 3, SIZE, seed=5, void_border=2)
    image, label = render_scene(5, "val", 2, SIZE, void_border=2)
    got_image, got_target = ds[2]
    assert np.array_equal(got_image.permute(1, 2, 0).numpy(), image)
    assert np.array_equal(got_target.numpy(), label.astype(np.int64))
    assert torch.equal(ds[-1][1], got_target)


def test_access_order_does_not_matter():
    forward = _stack(ShapesDataset("train", 6, SIZE), range(6))
    backward = _stack(ShapesDataset("train", 6, SIZE), reversed(range(6)))
    assert torch.equal(forward[0], backward[0].flip(0))
    assert torch.equal(forward[1], backward[1].flip(0))


def test_dataloader_worker_count_does_not_matter():
    ds = ShapesDataset("train", 8, (32, 32), seed=2, void_border=1)
    batches = {}
    for workers in (0, 2):
        loader = DataLoader(ds, batch_size=3, num_workers=workers)
        images, targets = zip(*loader)
        batches[workers] = torch.cat(images), torch.cat(targets)
    assert torch.equal(batches[0][0], batches[2][0])
    assert torch.equal(batches[0][1], batches[2][1])


def test_label_values_in_range():
    for i in range(20):
        _, label = render_scene(0, "train", i, SIZE, void_border=i % 3)
        values = set(np.unique(label).tolist())
        assert values <= set(range(len(CLASS_NAMES))) | {IGNORE_INDEX}


def test_every_object_class_appears():
    seen = set()
    for i in range(40):
        seen |= set(np.unique(render_scene(0, "train", i, (64, 64))[1]).tolist())
    assert seen == set(range(len(CLASS_NAMES)))


def test_no_void_without_border():
    assert all(IGNORE_INDEX not in render_scene(0, "val", i, SIZE)[1] for i in range(10))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_void_band_is_the_chebyshev_neighbourhood_of_boundaries(k):
    for i in range(10):
        _, plain = render_scene(1, "train", i, (40, 52))
        _, voided = render_scene(1, "train", i, (40, 52), void_border=k)
        void = voided == IGNORE_INDEX
        assert np.array_equal(void, _shifted_differs(plain, k))
        assert np.array_equal(voided[~void], plain[~void])


def test_void_band_covers_boundaries_and_separates_labels():
    seen_void = False
    for i in range(10):
        _, plain = render_scene(2, "val", i, SIZE)
        _, voided = render_scene(2, "val", i, SIZE, void_border=1)
        for (a, b), (va, vb) in zip(_four_adjacent_pairs(plain), _four_adjacent_pairs(voided)):
            on_boundary = a != b
            assert np.all(va[on_boundary] == IGNORE_INDEX)
            assert np.all(vb[on_boundary] == IGNORE_INDEX)
            both_labelled = (va != IGNORE_INDEX) & (vb != IGNORE_INDEX)
            assert np.all(va[both_labelled] == vb[both_labelled])
        seen_void |= bool(np.any(voided == IGNORE_INDEX))
    assert seen_void


@pytest.mark.parametrize("size", [(16, 16), (67, 93), (100, 17)])
def test_non_square_and_small_sizes(size):
    ds = ShapesDataset("train", 2, size, void_border=1)
    image, target = ds[1]
    assert image.shape == (3, *size) and target.shape == size


@pytest.mark.parametrize("kwargs", [
    dict(split="test"),
    dict(size=(15, 64)),
    dict(size=(64,)),
    dict(size=(64.0, 64)),
    dict(size="64"),
    dict(seed=-1),
    dict(num_samples=-1),
    dict(void_border=-1),
])
def test_bad_dataset_arguments_raise_value_error(kwargs):
    args = dict(split="train", num_samples=4, size=(32, 32)) | kwargs
    with pytest.raises(ValueError):
        ShapesDataset(**args)


@pytest.mark.parametrize("args", [
    (0, "training", 0, SIZE), (0, "train", -1, SIZE), (0, "train", 0, (8, 8)),
])
def test_bad_render_arguments_raise_value_error(args):
    with pytest.raises(ValueError):
        render_scene(*args)


@pytest.mark.parametrize("index", [4, -5, 100])
def test_index_out_of_range_raises_index_error(index):
    with pytest.raises(IndexError):
        ShapesDataset("train", 4, SIZE)[index]


def test_cluttered_scenes_are_those_of_earlier_releases():
    """The default composition draws exactly as before compositions existed (the committed results and
    baselines were made with it): a digest of the first ten 64x64 training scenes of seed 0."""
    digest = hashlib.sha256()
    for i in range(10):
        for array in render_scene(0, "train", i, (64, 64)):
            digest.update(array.tobytes())
    assert digest.hexdigest() == "3041110e782ef720900fdea38f537b1a7454ea72636b9579c54e49259d608b2f"


def _objects(label: np.ndarray) -> list[set[int]]:
    """The classes inside each 8-connected foreground region."""
    regions, n = ndimage.label(label > 0, structure=np.ones((3, 3)))
    return [set(np.unique(label[regions == k]).tolist()) for k in range(1, n + 1)]


def test_clear_objects_are_whole_and_apart_where_cluttered_ones_overlap():
    clear = [render_scene(0, "train", i, (64, 64), scenes="clear")[1] for i in range(40)]
    cluttered = [render_scene(0, "train", i, (64, 64))[1] for i in range(40)]
    border = np.ones((64, 64), bool)
    border[1:-1, 1:-1] = False
    assert all(not label[border].any() for label in clear)              # no object cut by the frame
    assert all(len(classes) == 1 for label in clear for classes in _objects(label))
    counts = [len(_objects(label)) for label in clear]
    assert 1 <= min(counts) and max(counts) <= 6 and np.mean(counts) > 2.3   # 3-6 drawn, some find no place
    assert sum(label[border].any() for label in cluttered) > 10
    assert any(len(classes) > 1 for label in cluttered for classes in _objects(label))


def _areas(labels: list[np.ndarray]) -> np.ndarray:
    """Each object's share of its image, over all scenes."""
    regions = [ndimage.label(label > 0, structure=np.ones((3, 3))) for label in labels]
    return np.concatenate([np.bincount(r.ravel())[1:] / r.size for r, _ in regions])


def test_scales_objects_are_whole_apart_and_spread_wider_in_size_than_clear_ones():
    scales = [render_scene(0, "train", i, (96, 96), scenes="scales")[1] for i in range(60)]
    clear = [render_scene(0, "train", i, (96, 96), scenes="clear")[1] for i in range(60)]
    border = np.ones((96, 96), bool)
    border[1:-1, 1:-1] = False
    cut = [set(np.unique(label[border]).tolist()) - {0} for label in scales]
    assert set().union(*cut) == {CLASS_NAMES.index("bar")} and sum(map(bool, cut)) < 6  # bars longer than the side
    assert all(len(classes) == 1 for label in scales for classes in _objects(label))
    # radii up to 0.32 of the side against clear's 0.22: the largest objects' areas 2.1x as large
    largest = [max(_areas([label]), default=0) for label in scales]
    assert np.median(largest) > 1.4 * np.median([max(_areas([label]), default=0) for label in clear])
    low, high = np.percentile(_areas(scales), [10, 90])
    clear_low, clear_high = np.percentile(_areas(clear), [10, 90])
    assert high > 1.6 * clear_high and high / low > clear_high / clear_low


def test_clear_scenes_hold_every_class_on_smooth_backgrounds():
    seen, rough = set(), {}
    for scenes in COMPOSITIONS:
        steps = []
        for i in range(40):
            image, label = render_scene(3, "val", i, SIZE, scenes=scenes)
            if scenes == "clear":
                seen |= set(np.unique(label).tolist())
            steps.append(np.percentile(np.abs(np.diff(image.astype(float), axis=1)), 90))
        rough[scenes] = np.mean(steps)
    assert seen == set(range(len(CLASS_NAMES)))
    assert rough["clear"] < rough["cluttered"] / 2    # no stripes or mottling, less noise: small pixel steps


def test_the_suite_field_offers_every_composition():
    from typing import get_args
    from segbench.dataconfig import ShapesConfig
    assert set(get_args(ShapesConfig.model_fields["scenes"].annotation)) == set(COMPOSITIONS)


def test_unknown_composition_is_refused():
    with pytest.raises(ValueError, match="scenes must be one of"):
        render_scene(0, "train", 0, SIZE, scenes="foggy")
    with pytest.raises(ValueError, match="scenes must be one of"):
        ShapesDataset("train", 4, SIZE, scenes="foggy")
