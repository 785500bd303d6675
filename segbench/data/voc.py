"""PASCAL VOC 2012 segmentation and the SBD "train_aug" set, through torchvision's VOCSegmentation and
SBDataset (which find the files; segbench reads them at native resolution).

train_aug is formed as mmsegmentation's converter forms it: (VOC 2012 train ∪ SBD train ∪ SBD val) −
VOC 2012 val, sorted by image id (10,582 images on the real data). An image in VOC train keeps its VOC
mask (with the void band); the others use SBD's mask. Evaluation is on VOC 2012 val (1,449 images),
never on SBD val, part of which is in train_aug.
"""

from pathlib import Path

import numpy as np
from torchvision.datasets import SBDataset, VOCSegmentation

from ..dataconfig import VOCAugConfig, VOCConfig, expand_root
from ..errors import DatasetError
from .download import ensure_sbd, ensure_voc
from .files import LabelledImages, read_png_mask
from .info import DatasetInfo

CLASS_NAMES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
               "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
               "train", "tvmonitor")
IMAGENET_MEAN = (0.485, 0.456, 0.406)   # the statistics the ImageNet backbones were trained with
IMAGENET_STD = (0.229, 0.224, 0.225)
SPLIT_SIZES = {"train": 1464, "val": 1449, "trainval": 2913, "train_aug": 10582}   # on the real data


def voc_colormap(n: int = 256) -> list[tuple[int, int, int]]:
    """The PASCAL VOC palette: the bits of each index spread over R, G and B (index 255 is (224, 224, 192))."""
    colours = []
    for i in range(n):
        r = g = b = 0
        for shift in range(8):
            r |= ((i >> 0) & 1) << (7 - shift)
            g |= ((i >> 1) & 1) << (7 - shift)
            b |= ((i >> 2) & 1) << (7 - shift)
            i >>= 3
        colours.append((r, g, b))
    return colours


VOC = DatasetInfo("voc2012", CLASS_NAMES, tuple(voc_colormap()[:len(CLASS_NAMES)]), IMAGENET_MEAN, IMAGENET_STD)


def voc_files(root: Path, split: str) -> tuple[list[Path], list[Path]]:
    """(images, masks) of a VOC 2012 split under `root` (the folder holding VOCdevkit/)."""
    try:
        found = VOCSegmentation(str(root), year="2012", image_set=split, download=False)
    except (RuntimeError, OSError):
        raise DatasetError(missing_voc(root, split)) from None
    return [Path(p) for p in found.images], [Path(p) for p in found.masks]


def missing_voc(root: Path, split: str) -> str:
    layout = root / "VOCdevkit" / "VOC2012"
    return (f"PASCAL VOC 2012 not found: looked for {layout}/ImageSets/Segmentation/{split}.txt with JPEGImages/ "
            f"and SegmentationClass/ beside it. Get it with `segbench data download voc2012 --root {root}` "
            f"(the 2 GB VOCtrainval_11-May-2012.tar, extracted there), or set `download: true` in the suite's "
            f"dataset section, or point `root:` at the folder that holds VOCdevkit/")


def sbd_split(sbd_root: Path, split: str) -> SBDataset:
    try:
        return SBDataset(str(sbd_root), image_set=split, mode="segmentation", download=False)
    except (RuntimeError, OSError):
        raise DatasetError(
            f"SBD (the Semantic Boundaries Dataset) not found: looked for {sbd_root}/{split}.txt with img/ and cls/ "
            f"beside it. Get it with `segbench data download sbd --root {sbd_root}` (benchmark.tgz, 1.4 GB, whose "
            f"benchmark_RELEASE/dataset/ is moved there), or set `download: true`, or point `sbd_root:` at the "
            f"folder that holds img/ and cls/") from None


def read_sbd_mask(path: Path) -> np.ndarray:
    """An SBD class mask (its .mat file's GTcls.Segmentation), uint8 [H, W]; SBD has no void band."""
    from scipy.io import loadmat

    try:
        return np.asarray(loadmat(str(path))["GTcls"][0]["Segmentation"][0], dtype=np.uint8)
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise DatasetError(f"{path}: not an SBD class mask (.mat with GTcls.Segmentation): {exc}") from None


def read_voc_or_sbd_mask(path: Path) -> np.ndarray:
    """train_aug's masks: VOC's palette PNGs and SBD's .mat files."""
    return read_sbd_mask(path) if path.suffix == ".mat" else read_png_mask(path)


def train_aug_files(voc_root: Path, sbd_root: Path) -> tuple[list[Path], list[Path]]:
    """(images, masks) of train_aug, sorted by image id: VOC's files for VOC-train ids, SBD's for the rest."""
    train_images, train_masks = voc_files(voc_root, "train")
    val_ids = {p.stem for p in voc_files(voc_root, "val")[0]}
    files = {i.stem: (i, m) for i, m in zip(train_images, train_masks)}
    for split in ("train", "val"):
        sbd = sbd_split(sbd_root, split)
        for image, mask in zip(sbd.images, sbd.masks):
            files.setdefault(Path(image).stem, (Path(image), Path(mask)))
    ids = sorted(files.keys() - val_ids)
    return [files[i][0] for i in ids], [files[i][1] for i in ids]


def build_voc(config: VOCConfig, split: str) -> LabelledImages:
    root = expand_root(config.root)
    if config.download:
        ensure_voc(root, config.url, config.md5)
    return LabelledImages(VOC, *voc_files(root, config.train_split if split == "train" else "val"))


def build_voc_aug(config: VOCAugConfig, split: str) -> LabelledImages:
    root, sbd_root = expand_root(config.root), expand_root(config.sbd_root)
    if config.download:
        ensure_voc(root, config.url, config.md5)
        ensure_sbd(sbd_root, config.sbd_url, config.sbd_md5)
    if split == "train":
        return LabelledImages(VOC, *train_aug_files(root, sbd_root), read_mask=read_voc_or_sbd_mask)
    return LabelledImages(VOC, *voc_files(root, "val"))
