"""VOC 2012 and train_aug through the real loaders, on trees written in the real formats (segbench.data.synth)."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from segbench import data
from segbench.dataconfig import VOCAugConfig, VOCConfig
from segbench.data.synth import ODD_JPEGS, write_sbd, write_voc
from segbench.data.voc import VOC, voc_colormap
from segbench.errors import DatasetError
from segbench.evaluate import evaluate


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    voc = write_voc(root, train=6, val=5)
    sbd = write_sbd(root / "sbd_parent", train=5, val=4)
    return root, voc, sbd


def lines(path):
    return path.read_text().split()


def test_voc_splits_load_at_native_size_with_the_mask_indices(trees):
    root, voc, _ = trees
    cfg = VOCConfig(name="voc2012", root=str(root))
    train, val = data.build(cfg, "train"), data.build(cfg, "val")
    assert (len(train), len(val)) == (6, 5) and train.info is VOC and train.num_classes == 21
    sizes = set()
    for ds in (train, val):
        for i in range(len(ds)):
            image, target = ds[i]
            stem = ds.images[i].stem
            with Image.open(voc / "SegmentationClass" / f"{stem}.png") as png:
                assert png.mode == "P"
                indices = np.array(png)                      # the stored indices, independently read
            assert image.dtype == torch.uint8 and image.shape[0] == 3   # greyscale and CMYK come as RGB
            assert torch.equal(target, torch.from_numpy(indices.astype(np.int64)))
            assert tuple(image.shape[1:]) == tuple(target.shape) == ds.sizes()[i]
            sizes.add(tuple(target.shape))
            assert 255 in indices                            # the void band is kept, never resized away
    assert len(sizes) >= 3
    odd = {p.stem for p in train.images + val.images} & set(ODD_JPEGS)
    assert odd == set(ODD_JPEGS)


def test_voc_palette_is_the_standard_colour_map():
    cmap = voc_colormap()
    assert cmap[:4] == [(0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0)]
    assert cmap[15] == (192, 128, 128) and cmap[255] == (224, 224, 192)
    assert VOC.palette == tuple(cmap[:21])


class Constant(nn.Module):
    """Predicts class 0 everywhere, at the input's size."""

    def forward(self, x):
        logits = torch.zeros(x.shape[0], 21, *x.shape[2:])
        logits[:, 0] = 1
        return logits


def test_evaluation_counts_every_non_void_pixel_at_native_size(trees):
    root, voc, _ = trees
    val = data.build(VOCConfig(name="voc2012", root=str(root)), "val")
    masks = [np.array(Image.open(voc / "SegmentationClass" / f"{p.stem}.png")) for p in val.images]
    valid = sum(int((m != 255).sum()) for m in masks)
    background = sum(int((m == 0).sum()) for m in masks)
    scores = evaluate(Constant(), val, 4, 0.0075, torch.device("cpu"))
    assert scores["metrics"]["pixel_acc"] == pytest.approx(background / valid, rel=1e-12)
    assert scores["images"] == len(masks)


def test_train_aug_is_voc_train_and_sbd_minus_voc_val_sorted_with_voc_masks_for_voc_train(trees):
    root, voc, sbd = trees
    train = data.build(VOCAugConfig(name="voc2012_aug", root=str(root), sbd_root=str(sbd)), "train")
    split = voc / "ImageSets" / "Segmentation"
    expected = sorted((set(lines(split / "train.txt")) | set(lines(sbd / "train.txt")) | set(lines(sbd / "val.txt")))
                      - set(lines(split / "val.txt")))
    ids = [p.stem for p in train.images]
    assert ids == expected and not set(ids) & set(lines(split / "val.txt"))
    voc_train = set(lines(split / "train.txt"))
    for image, mask, i in zip(train.images, train.masks, range(len(train))):
        if image.stem in voc_train:
            assert mask == voc / "SegmentationClass" / f"{image.stem}.png"
        else:
            assert mask == sbd / "cls" / f"{image.stem}.mat"
        assert train[i][1].shape == tuple(train[i][0].shape[1:])
    assert any(m.suffix == ".mat" for m in train.masks) and any(m.suffix == ".png" for m in train.masks)
    val = data.build(VOCAugConfig(name="voc2012_aug", root=str(root), sbd_root=str(sbd)), "val")
    assert [p.stem for p in val.images] == lines(split / "val.txt")          # VOC val, never SBD val


def test_missing_data_says_what_where_and_how_to_get_it(tmp_path):
    with pytest.raises(DatasetError) as err:
        data.build(VOCConfig(name="voc2012", root=str(tmp_path)), "val")
    message = str(err.value)
    assert str(tmp_path / "VOCdevkit" / "VOC2012") in message and "segbench data download voc2012" in message
    write_voc(tmp_path, train=2, val=2)
    with pytest.raises(DatasetError, match=r"SBD .*not found.*segbench data download sbd"):
        data.build(VOCAugConfig(name="voc2012_aug", root=str(tmp_path), sbd_root=str(tmp_path / "nope")), "train")


def test_root_from_the_environment(trees, monkeypatch):
    root, _, _ = trees
    monkeypatch.setenv("SEGBENCH_TEST_VOC", str(root))
    cfg = VOCConfig(name="voc2012", root="${SEGBENCH_TEST_VOC}")
    assert cfg.root == "${SEGBENCH_TEST_VOC}" and len(data.build(cfg, "val")) == 5   # kept as written
    monkeypatch.delenv("SEGBENCH_TEST_VOC")
    with pytest.raises(ValueError, match="environment variable SEGBENCH_TEST_VOC is not set"):
        VOCConfig(name="voc2012", root="${SEGBENCH_TEST_VOC}")
    assert str(VOCConfig(name="voc2012", root=f"${{SEGBENCH_TEST_VOC:-{root}}}").root).startswith("${")


def test_image_decoding_gives_pils_rgb_pixels_for_rgb_greyscale_and_cmyk(trees):
    from segbench.data.files import read_image

    _, voc, _ = trees
    for path in sorted((voc / "JPEGImages").glob("*.jpg")):
        with Image.open(path) as image:
            expected = np.array(image.convert("RGB")).transpose(2, 0, 1)
        assert np.array_equal(read_image(path).numpy(), expected), path.name
