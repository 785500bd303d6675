"""segbench.data.synth: the VOC, SBD and folder trees load through torchvision / plain readers and hold
the scenes' labels exactly."""

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse
import yaml
from PIL import Image
from torchvision.datasets import SBDataset, VOCSegmentation

from segbench.data.synth import write_folder, write_sbd, write_voc
from segbench.data.synthetic import render_scene

SEED = 3
SIZES = [(64, 80), (72, 64), (64, 96)]
VOC_COUNTS = {"train": 4, "val": 3}
# VOC ids: "2007_%06d" % (2 * i + {train: 0, val: 1}); SBD-only ids the same in 2008, from scene 100000.
VOC_TRAIN = [f"2007_{2 * i:06d}" for i in range(VOC_COUNTS["train"])]
VOC_VAL = [f"2007_{2 * i + 1:06d}" for i in range(VOC_COUNTS["val"])]
OVERLAP = {"train": [VOC_VAL[0], VOC_TRAIN[0]], "val": [VOC_VAL[1], VOC_TRAIN[1]]}
SBD_COUNTS = {"train": 5, "val": 4}


def voc_colormap() -> np.ndarray:
    """PASCAL VOC's colour map, as the devkit's VOClabelcolormap.m builds it."""
    cmap = np.zeros((256, 3), np.uint8)
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        cmap[i] = (r, g, b)
    return cmap


def expected_scene(image_id: str, void_border: int):
    """The documented scene of an id, with SIZES."""
    year, number = image_id.split("_")
    split, index = ("train", "val")[int(number) % 2], int(number) // 2
    offset = 100_000 if year == "2008" else 0
    return render_scene(SEED, split, offset + index, SIZES[index % len(SIZES)], void_border)


def read_list(path: Path) -> list[str]:
    return path.read_text().split()


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    voc = write_voc(root, seed=SEED, sizes=SIZES, **VOC_COUNTS)
    sbd = write_sbd(root / "sbd", seed=SEED, sizes=SIZES, overlap_ids=OVERLAP, **SBD_COUNTS)
    return root, voc, sbd


def test_voc_layout_and_split_lists(trees):
    root, voc, _ = trees
    assert voc == root / "VOCdevkit" / "VOC2012"
    lists = voc / "ImageSets" / "Segmentation"
    assert read_list(lists / "train.txt") == VOC_TRAIN
    assert read_list(lists / "val.txt") == VOC_VAL
    assert read_list(lists / "trainval.txt") == sorted(set(VOC_TRAIN) | set(VOC_VAL))
    for split, n in [("train", 4), ("val", 3), ("trainval", 7)]:
        assert len(VOCSegmentation(root, year="2012", image_set=split, download=False)) == n
    assert sorted(p.stem for p in (voc / "JPEGImages").glob("*.jpg")) == sorted(VOC_TRAIN + VOC_VAL)


def test_voc_masks_are_palette_pngs_of_the_scene_labels(trees):
    root, voc, _ = trees
    cmap = voc_colormap()
    assert tuple(cmap[255]) == (224, 224, 192) and tuple(cmap[15]) == (192, 128, 128)
    for image_id in VOC_TRAIN + VOC_VAL:
        mask = Image.open(voc / "SegmentationClass" / f"{image_id}.png")
        assert mask.mode == "P"
        assert np.array_equal(np.array(mask.getpalette(), np.uint8).reshape(-1, 3), cmap)
        _, label = expected_scene(image_id, void_border=2)
        assert np.array_equal(np.array(mask), label)
        assert 255 in label and set(np.unique(label)) <= set(range(7)) | {255}
    ds = VOCSegmentation(root, year="2012", image_set="val", download=False)
    image, target = ds[0]
    assert image.mode == "RGB" and target.mode == "P"  # torchvision hands the PNG over as it is
    assert np.array_equal(np.array(target), expected_scene(VOC_VAL[0], 2)[1])


def test_voc_images_are_the_scenes_with_two_odd_modes(trees):
    root, voc, _ = trees
    modes = {}
    for path in sorted((voc / "JPEGImages").glob("*.jpg")):
        with Image.open(path) as im:
            assert im.format == "JPEG"
            modes[path.stem] = im.mode
            rgb = np.asarray(im.convert("RGB"), np.float32)
            image, label = expected_scene(path.stem, 2)
            mask_size = Image.open(voc / "SegmentationClass" / f"{path.stem}.png").size
            assert im.size == mask_size == (label.shape[1], label.shape[0])
            if im.mode == "L":
                grey = np.asarray(Image.fromarray(image).convert("L"), np.float32)
                assert np.abs(np.asarray(im, np.float32) - grey).mean() < 25  # a wrong scene is ~60-90 off
            else:
                assert np.abs(rgb - image).mean() < 25
    assert [i for i, m in modes.items() if m == "L"] == ["2007_000002"]
    assert [i for i, m in modes.items() if m == "CMYK"] == ["2007_000003"]
    assert set(modes.values()) == {"RGB", "L", "CMYK"}
    ds = VOCSegmentation(root, year="2012", image_set="trainval", download=False)
    assert all(ds[k][0].mode == "RGB" for k in range(len(ds)))
    assert len({Image.open(p).size for p in (voc / "JPEGImages").glob("*.jpg")}) == len(SIZES)


def test_voc_defaults_vary_sizes_and_are_deterministic(tmp_path):
    a, b = write_voc(tmp_path / "a"), write_voc(tmp_path / "b")
    sizes = {Image.open(p).size for p in (a / "JPEGImages").glob("*.jpg")}
    assert len(sizes) >= 3 and min(min(s) for s in sizes) >= 64
    assert len(read_list(a / "ImageSets/Segmentation/train.txt")) == 8
    assert len(read_list(a / "ImageSets/Segmentation/val.txt")) == 6
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    with pytest.raises(ValueError, match="train >= 2"):
        write_voc(tmp_path / "c", train=1)


def test_sbd_loads_through_torchvision_without_void(trees):
    root, _, sbd = trees
    assert sbd == root / "sbd" / "benchmark_RELEASE" / "dataset"
    for split, n in SBD_COUNTS.items():
        ids = read_list(sbd / f"{split}.txt")
        assert ids == sorted(ids) and len(ids) == n and set(OVERLAP[split]) <= set(ids)
        ds = SBDataset(sbd, image_set=split, mode="segmentation", download=False)
        assert len(ds) == n
        for k, image_id in enumerate(ids):
            image, target = ds[k]
            _, label = expected_scene(image_id, void_border=0)
            assert np.array_equal(np.array(target), label) and 255 not in label
            assert image.mode == "RGB" and image.size == target.size
    boundaries = SBDataset(sbd, image_set="val", mode="boundaries", download=False)[0][1]
    assert boundaries.shape[0] == 20


def test_sbd_mat_files_have_the_real_structure(trees):
    _, _, sbd = trees
    for path in sorted((sbd / "cls").glob("*.mat")):
        gtcls = scipy.io.loadmat(path)["GTcls"]
        assert gtcls.shape == (1, 1)
        assert set(gtcls.dtype.names) == {"Segmentation", "Boundaries", "CategoriesPresent"}
        seg = gtcls[0]["Segmentation"][0]
        assert seg.dtype == np.uint8 and np.array_equal(seg, expected_scene(path.stem, 0)[1])
        present = sorted(set(np.unique(seg)) - {0})
        assert sorted(gtcls[0]["CategoriesPresent"][0].ravel().tolist()) == present
        cell = gtcls[0]["Boundaries"][0]
        assert cell.shape == (20, 1)
        for c in range(1, 21):
            edge = cell[c - 1][0]
            assert scipy.sparse.issparse(edge) and edge.shape == seg.shape
            edge = edge.toarray().astype(bool)
            assert not (edge & (seg != c)).any()
            assert edge.any() == (c in present)


def test_sbd_overlap_shares_images_and_builds_train_aug(trees):
    _, voc, sbd = trees
    sbd_ids = {split: read_list(sbd / f"{split}.txt") for split in SBD_COUNTS}
    for image_id in OVERLAP["train"] + OVERLAP["val"]:
        assert (sbd / "img" / f"{image_id}.jpg").read_bytes() == (voc / "JPEGImages" / f"{image_id}.jpg").read_bytes()
        voc_mask = np.array(Image.open(voc / "SegmentationClass" / f"{image_id}.png"))
        sbd_mask = scipy.io.loadmat(sbd / "cls" / f"{image_id}.mat")["GTcls"][0]["Segmentation"][0]
        scored = voc_mask != 255
        assert np.array_equal(voc_mask[scored], sbd_mask[scored]) and 255 not in sbd_mask
    sbd_only = (set(sbd_ids["train"]) | set(sbd_ids["val"])) - set(VOC_TRAIN) - set(VOC_VAL)
    assert len(sbd_only) == 5 and all(i.startswith("2008_") for i in sbd_only)
    train_aug = (set(VOC_TRAIN) | set(sbd_ids["train"]) | set(sbd_ids["val"])) - set(VOC_VAL)
    assert train_aug == set(VOC_TRAIN) | sbd_only and len(train_aug) == 9
    noval = read_list(sbd / "train_noval.txt")
    assert noval == [i for i in sbd_ids["train"] if i not in VOC_VAL]
    assert len(SBDataset(sbd, image_set="train_noval", mode="segmentation")) == len(noval) == 4


def test_sbd_rejects_bad_overlaps(tmp_path):
    with pytest.raises(ValueError, match="holds only"):
        write_sbd(tmp_path, train=1, val=1, overlap_ids={"train": VOC_TRAIN[:2]})
    with pytest.raises(ValueError, match="not a VOC id"):
        write_sbd(tmp_path, train=2, val=1, overlap_ids={"train": ["2008_000000"]})
    with pytest.raises(ValueError, match="twice"):
        write_sbd(tmp_path, overlap_ids={"train": VOC_TRAIN[:1], "val": VOC_TRAIN[:1]})


def test_folder_files_match_the_classes_file(tmp_path):
    root = write_folder(tmp_path / "mine", count=7, seed=SEED, sizes=SIZES)
    assert root == tmp_path / "mine"
    classes = yaml.safe_load((root / "classes.yaml").read_text())
    names, colors, ignore = classes["names"], classes["colors"], classes["ignore_index"]
    assert ignore == 255 and len(colors) == len(names) == 7 and names[0] == "background"
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in colors)
    images = {p.stem: p for p in (root / "images").iterdir()}
    masks = {p.stem: p for p in (root / "masks").iterdir()}
    assert sorted(images) == sorted(masks) and len(images) == 7
    assert {p.suffix for p in images.values()} == {".png", ".jpg"}
    assert {p.suffix for p in masks.values()} == {".png"}
    modes = set()
    for i, stem in enumerate(sorted(images)):
        mask = Image.open(masks[stem])
        modes.add(mask.mode)
        assert mask.mode in ("P", "L") and mask.size == Image.open(images[stem]).size
        values = np.array(mask)
        assert set(np.unique(values)) <= set(range(len(names))) | {ignore}
        assert np.array_equal(values, render_scene(SEED, "train", i, SIZES[i % len(SIZES)], 1)[1])
        if mask.mode == "P":
            palette = np.array(mask.getpalette(), np.uint8).reshape(-1, 3)
            assert palette[:len(names)].tolist() == colors
    assert modes == {"P", "L"}
    train, val = read_list(root / "train.txt"), read_list(root / "val.txt")
    assert train and val and not set(train) & set(val) and sorted(train + val) == sorted(images)


def test_folder_without_lists_and_bad_split(tmp_path):
    root = write_folder(tmp_path, count=2, split="none")
    assert not (root / "train.txt").exists() and not (root / "val.txt").exists()
    assert len(list((root / "masks").glob("*.png"))) == 2
    with pytest.raises(ValueError, match="split"):
        write_folder(tmp_path, split="folders")
