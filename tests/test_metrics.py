"""Tests for segbench.metrics: hand-computed cases and agreement with metrics_reference."""

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from segbench.metrics import (
    DEFINITIONS,
    HIGHER_IS_BETTER,
    BoundaryF1,
    ConfusionMatrix,
    boundary_f1_image,
)
from segbench.metrics_reference import ReferenceConfusionMatrix, reference_boundary_f1_image

# ------------------------------------------------------------------ confusion matrix

# n = 4, ignore 255. Class 3 is predicted only on ignored pixels, so it is absent
# from both maps; class 2 is predicted once but never in the target.
HAND_TARGET = [[0, 0, 0, 1], [1, 1, 255, 255]]
HAND_PRED = [[0, 0, 2, 1], [0, 1, 3, 1]]
# Valid (target, pred) pairs: (0,0) (0,0) (0,2) (1,1) (1,0) (1,1) -> rows = target:
HAND_MATRIX = [[2, 0, 1, 0], [1, 2, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_metric_tables_cover_every_metric():
    assert set(HIGHER_IS_BETTER) == set(DEFINITIONS) == {
        "miou", "pixel_acc", "mean_acc", "fwiou", "bf1"}
    assert all(HIGHER_IS_BETTER.values())


def test_hand_computed_scores():
    cm = ConfusionMatrix(4)
    cm.update(torch.tensor(HAND_PRED), torch.tensor(HAND_TARGET))
    assert cm.matrix.tolist() == HAND_MATRIX
    assert cm.matrix.dtype == torch.int64
    s = cm.compute()
    # IoU: c0 = 2/(3+3-2) = 1/2, c1 = 2/(3+2-2) = 2/3, c2 = 0/(0+1-0) = 0, c3 absent.
    assert s["per_class_iou"] == pytest.approx([0.5, 2 / 3, 0.0, None])
    assert s["miou"] == pytest.approx((0.5 + 2 / 3 + 0) / 3)  # 7/18
    assert s["pixel_acc"] == pytest.approx(4 / 6)
    # Recall over classes in the target: c0 = 2/3, c1 = 2/3.
    assert s["per_class_acc"] == pytest.approx([2 / 3, 2 / 3, None, None])
    assert s["mean_acc"] == pytest.approx(2 / 3)
    # Target frequencies 3/6 and 3/6: 0.5 * 1/2 + 0.5 * 2/3 = 7/12.
    assert s["fwiou"] == pytest.approx(7 / 12)


def test_empty_matrix_gives_nan():
    cm = ConfusionMatrix(3)
    cm.update(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    cm.update(torch.ones(2, 2, dtype=torch.long), torch.full((2, 2), 255))
    s = cm.compute()
    assert all(math.isnan(s[k]) for k in ("miou", "pixel_acc", "mean_acc", "fwiou"))
    assert s["per_class_iou"] == [None, None, None]


@pytest.mark.parametrize("pred, target, match", [
    ([[0, 4]], [[0, 1]], "prediction value 4"),
    ([[0, -1]], [[0, 1]], "prediction value -1"),
    ([[0, 1]], [[0, 7]], r"target values \[7\]"),
    ([[0, 1]], [[-1, 1]], r"target values \[-1\]"),
    ([[0, 1]], [[0, 1, 1]], "shapes differ"),
])
def test_invalid_input_raises(pred, target, match):
    with pytest.raises(ValueError, match=match):
        ConfusionMatrix(4).update(torch.tensor(pred), torch.tensor(target))


def test_prediction_on_ignored_pixel_is_still_checked():
    with pytest.raises(ValueError, match="prediction value 255"):
        ConfusionMatrix(4).update(torch.tensor([255, 1]), torch.tensor([255, 1]))


def test_non_integer_and_bad_settings_raise():
    with pytest.raises(ValueError, match="integer"):
        ConfusionMatrix(4).update(torch.zeros(3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="class id"):
        ConfusionMatrix(4, ignore_index=2)
    with pytest.raises(ValueError, match="not the ignore index None"):
        ConfusionMatrix(4, ignore_index=None).update(torch.tensor([0]), torch.tensor([255]))


def _random_maps(seed, shape, n, ignore=255, ignore_share=0.05):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, n, shape, generator=g)
    target[torch.rand(shape, generator=g) < ignore_share] = ignore
    return torch.randint(0, n, shape, generator=g), target


def _reference_matrix(pred, target, n):
    ref = ReferenceConfusionMatrix(n)
    ref.update(pred.reshape(1, -1), target.reshape(1, -1))
    return ref.matrix


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.int16, torch.uint8])
@pytest.mark.parametrize("seed, shape, n", [(0, (4, 33, 47), 21), (1, (2, 64, 64), 2),
                                            (2, (3, 5), 1), (3, (1, 200, 9), 150)])
def test_agrees_with_reference(dtype, seed, shape, n):
    pred, target = _random_maps(seed, shape, n)
    cm = ConfusionMatrix(n)
    cm.update(pred.to(dtype), target.to(dtype))
    assert torch.equal(cm.matrix, _reference_matrix(pred, target, n))


def test_large_batch_agrees_with_reference():
    # Over 2**20 pixels with 2 threads, bincount is split over two threads.
    pred, target = _random_maps(9, (5, 512, 512), 21)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        cm = ConfusionMatrix(21)
        cm.update(pred, target)
    finally:
        torch.set_num_threads(threads)
    ref = ReferenceConfusionMatrix(21)
    ref.update(pred, target)
    assert torch.equal(cm.matrix, ref.matrix)


@pytest.mark.parametrize("ignore", [-1, -100, 20, 70000])
def test_other_ignore_indices(ignore):
    pred, target = _random_maps(4, (2, 30, 40), 20, ignore=ignore)
    cm = ConfusionMatrix(20, ignore_index=ignore)
    cm.update(pred, target)
    assert torch.equal(cm.matrix, _reference_matrix(pred, target, 20))
    target[0, 0, 0] = 99
    with pytest.raises(ValueError, match=r"\[99\]"):
        cm.update(pred, target)


def test_large_ignore_index_does_not_wrap_small_dtypes():
    # 2000 % 256 == 208: a uint8 target value 208 is invalid, not the ignore index.
    target = torch.tensor([0, 1, 208], dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"\[208\]"):
        ConfusionMatrix(30, ignore_index=2000).update(torch.zeros(3, dtype=torch.long), target)


def test_no_ignore_index():
    pred, target = _random_maps(8, (2, 30, 40), 6, ignore_share=0.0)
    cm = ConfusionMatrix(6, ignore_index=None)
    cm.update(pred, target)
    assert torch.equal(cm.matrix, _reference_matrix(pred, target, 6))


def test_batch_equals_per_image_and_merge():
    pred, target = _random_maps(5, (6, 20, 30), 7)
    batch, per_image, half = ConfusionMatrix(7), ConfusionMatrix(7), ConfusionMatrix(7)
    batch.update(pred, target)
    for p, t in zip(pred, target):
        per_image.update(p, t)
    half.update(pred[:3], target[:3])
    other = ConfusionMatrix(7)
    other.update(pred[3:], target[3:])
    half += other
    assert torch.equal(batch.matrix, per_image.matrix)
    assert torch.equal(batch.matrix, half.matrix)
    assert batch.compute() == per_image.compute()
    with pytest.raises(ValueError):
        batch.add(ConfusionMatrix(8))
    batch.reset()
    assert batch.matrix.sum() == 0


def test_numpy_input():
    pred, target = _random_maps(6, (2, 16, 24), 5)
    expected = _reference_matrix(pred, target, 5)
    for dtype in (np.uint8, np.uint16, np.int32, np.int64):
        p, t = pred.numpy().astype(dtype), target.numpy().astype(dtype)
        t.flags.writeable = False
        cm = ConfusionMatrix(5)
        cm.update(p[:, :, ::-1], t[:, :, ::-1])  # non-contiguous, read-only
        assert torch.equal(cm.matrix, expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_input_matches_cpu():
    pred, target = _random_maps(7, (3, 50, 60), 21)
    cm = ConfusionMatrix(21)
    cm.update(pred.cuda(), target.cuda())
    assert cm.matrix.device.type == "cpu"
    assert torch.equal(cm.matrix, _reference_matrix(pred, target, 21))


# ------------------------------------------------------------------ boundary F1

def _square(shape, rows, cols, value=1, background=0):
    label = np.full(shape, background, dtype=np.int64)
    label[rows[0]:rows[1] + 1, cols[0]:cols[1] + 1] = value
    return label


# 6 x 8 images have a diagonal of exactly 10, so theta = 10 * tolerance.
SHAPE = (6, 8)


def test_identical_maps_score_one():
    target = _square(SHAPE, (1, 4), (1, 4))
    assert boundary_f1_image(target, target.copy(), 2) == {0: 1.0, 1: 1.0}


def test_missing_class_scores_zero():
    target = _square(SHAPE, (1, 4), (1, 4))
    assert boundary_f1_image(np.zeros(SHAPE, np.int64), target, 2)[1] == 0.0


# Square rows 1-4, cols 1-4 shifted right by one: of each 12-pixel boundary ring,
# 6 pixels lie on the other ring (d = 0) and 6 at d = 1, so F1 = 1/2 when theta <= 1
# (strict test) and 1 when theta > 1.
@pytest.mark.parametrize("tolerance, expected", [(0.095, 0.5), (0.1, 0.5), (0.105, 1.0)])
def test_shifted_square(tolerance, expected):
    target = _square(SHAPE, (1, 4), (1, 4))
    pred = _square(SHAPE, (1, 4), (2, 5))
    assert boundary_f1_image(pred, target, 2, tolerance=tolerance)[1] == expected


# Square shifted by (1, 1): 2 pixels of each ring at d = 0, 9 at d = 1 and one corner
# at d = sqrt(2): F1 = 2/12, 11/12, 11/12 and 1 for theta = 0.95, 1.05, 1.4, 1.415.
@pytest.mark.parametrize("tolerance, expected",
                         [(0.095, 2 / 12), (0.105, 11 / 12), (0.14, 11 / 12), (0.1415, 1.0)])
def test_diagonally_shifted_square(tolerance, expected):
    target = _square(SHAPE, (1, 4), (1, 4))
    pred = _square(SHAPE, (2, 5), (2, 5))
    assert boundary_f1_image(pred, target, 2, tolerance=tolerance)[1] == pytest.approx(expected)


@pytest.mark.parametrize("tolerance, expected", [(0.14, 0.0), (0.1415, 1.0)])
def test_diagonal_neighbour_pixel(tolerance, expected):
    target = _square(SHAPE, (2, 2), (2, 2))
    pred = _square(SHAPE, (3, 3), (3, 3))
    assert boundary_f1_image(pred, target, 2, tolerance=tolerance)[1] == expected


def test_ignored_pixels_belong_to_no_class():
    # The target's square has an ignored outer ring; the prediction fills the ring
    # with class 1, which does not count, so both maps have the same valid masks.
    target = _square(SHAPE, (1, 4), (1, 4), value=255)
    target[2:4, 2:4] = 1
    pred = _square(SHAPE, (1, 4), (1, 4))
    assert boundary_f1_image(pred, target, 2, tolerance=0.095) == {0: 1.0, 1: 1.0}
    all_ignored = np.full(SHAPE, 255)
    assert boundary_f1_image(pred, all_ignored, 2) == {}
    assert boundary_f1_image(np.zeros((0, 5), int), np.zeros((0, 5), int), 2) == {}


def test_dataset_averages():
    square = _square(SHAPE, (1, 4), (1, 4))
    bf = BoundaryF1(4)
    bf.update(square, square)  # {0: 1, 1: 1}
    bf.update(torch.zeros(SHAPE, dtype=torch.long), torch.full(SHAPE, 2))  # {2: 0}
    bf.update(square, np.full(SHAPE, 255))  # skipped: nothing valid
    assert bf.compute() == {"bf1": 0.5, "per_class_bf1": [1.0, 1.0, 0.0, None], "images": 2}
    bf.reset()
    assert math.isnan(bf.compute()["bf1"]) and bf.compute()["images"] == 0


def test_batch_update_equals_image_mean():
    preds, targets = zip(*(_blob_pair(np.random.default_rng(s), (40, 50), 4) for s in range(3)))
    bf = BoundaryF1(4)
    bf.update(np.stack(preds), torch.from_numpy(np.stack(targets)))
    scores = [boundary_f1_image(p, t, 4) for p, t in zip(preds, targets)]
    image_means = [np.mean(list(s.values())) for s in scores]
    assert bf.compute()["bf1"] == pytest.approx(np.mean(image_means))
    in_class_0 = [s[0] for s in scores if 0 in s]
    assert bf.compute()["per_class_bf1"][0] == pytest.approx(np.mean(in_class_0))


@pytest.mark.parametrize("pred, target, match", [
    (np.zeros((2, 2), int), np.zeros((2, 3), int), "shapes differ|expected"),
    (np.full((2, 2), 3), np.zeros((2, 2), int), "prediction value 3"),
    (np.zeros((2, 2), int), np.full((2, 2), 9), r"target values \[9\]"),
    (np.zeros((2, 2)), np.zeros((2, 2), int), "integer"),
    (np.zeros((1, 1, 2, 2), int), np.zeros((1, 1, 2, 2), int), r"\[N, H, W\]"),
])
def test_bf1_invalid_input_raises(pred, target, match):
    with pytest.raises(ValueError, match=match):
        BoundaryF1(3).update(pred, target)


def _blob_pair(rng, shape, n, ignore=255):
    """Random smooth blobs; prediction = target with moved borders, noise and ignore bands."""
    def blobs(field):
        return np.argmax(ndimage.gaussian_filter(field, (0, *sigma)), axis=0)
    sigma = [max(1.0, s / rng.uniform(3, 10)) for s in shape]
    field = rng.normal(size=(n, *shape))
    target = blobs(field)
    pred = blobs(field + rng.normal(scale=rng.uniform(0.01, 0.3), size=field.shape))
    noise = rng.random(shape) < rng.uniform(0, 0.05)
    pred[noise] = rng.integers(0, n, noise.sum())
    if rng.random() < 0.6:
        band = ndimage.grey_dilation(target, size=3) != ndimage.grey_erosion(target, size=3)
        target[band & (rng.random(shape) < 0.9)] = ignore
    return pred, target


SIZES = [(1, 1), (1, 9), (1, 140), (9, 1), (2, 3), (5, 5), (17, 40), (64, 48), (100, 100)]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("ignore", [255, -1, None])
def test_bf1_agrees_with_reference(size, ignore):
    rng = np.random.default_rng([*size, {255: 0, -1: 1, None: 2}[ignore]])
    for _ in range(6):
        n = int(rng.integers(1, 6))
        pred, target = _blob_pair(rng, size, n, ignore=255 if ignore is None else ignore)
        if ignore is None:
            target[target == 255] = 0
        tolerance = float(rng.choice([0.0, 0.0075, 0.03, 0.1, 0.3]))
        fast = boundary_f1_image(pred, target, n, ignore, tolerance)
        assert fast == reference_boundary_f1_image(pred, target, n, ignore, tolerance)
