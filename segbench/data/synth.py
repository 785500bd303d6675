"""Small on-disk trees in the real formats, painted with `shapes` scenes: PASCAL VOC 2012, SBD and a
user's own folder. Tests and examples use them where the real data cannot be downloaded.

VOC and SBD ids are "YYYY_NNNNNN" and name their scene. Year 2007 holds the VOC scenes:
"2007_%06d" % (2 * i) is VOC train sample i and "2007_%06d" % (2 * i + 1) VOC val sample i, that is
`render_scene(seed, split, i, sizes[i % len(sizes)])`. Year 2008 holds the SBD-only scenes the same way,
from scene index 100000 + j, so they never meet a VOC one. Trees written with the same seed and sizes
therefore hold the same image (byte for byte) wherever they hold the same id.

As in the real VOC, two JPEGs are odd: `ODD_JPEGS` (VOC train sample 1 is greyscale, val sample 1 CMYK).
"""

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import yaml
from PIL import Image
from scipy import io as sio
from scipy import ndimage, sparse

from .voc import voc_colormap
from .synthetic import CLASS_NAMES, IGNORE_INDEX, PALETTE, SPLITS, render_scene

# The real VOC image sizes (375x500, 333x500, 500x375, 281x500) at about a quarter, as (height, width).
DEFAULT_SIZES: tuple[tuple[int, int], ...] = ((94, 125), (83, 125), (125, 94), (70, 125))
ODD_JPEGS: dict[str, str] = {"2007_000002": "L", "2007_000003": "CMYK"}
VOC_VOID_BORDER = 2      # VOC marks object borders 255; SBD has no void band
FOLDER_VOID_BORDER = 1
JPEG_QUALITY = 90
SBD_CLASSES = 20         # SBD's Boundaries cell holds one matrix per VOC object class
_VOC_YEAR, _SBD_YEAR = 2007, 2008
_YEAR_OFFSET = 100_000   # scene indices of one id year; SBD-only scenes start here
_SPLIT_NAMES = {code: name for name, code in SPLITS.items()}


def _voc_palette() -> list[int]:
    """The PASCAL VOC colour map as PIL's flat palette: 256 RGB triples, 768 ints."""
    return [v for colour in voc_colormap() for v in colour]


def _sizes(sizes: Sequence[Sequence[int]] | None) -> list[tuple[int, int]]:
    sizes = DEFAULT_SIZES if sizes is None else sizes
    if len(sizes) == 0:
        raise ValueError("sizes must hold at least one (height, width)")
    return [tuple(s) for s in sizes]


def _image_id(year: int, split: str, index: int) -> str:
    return f"{year}_{2 * index + SPLITS[split]:06d}"


def _parse_id(image_id: str) -> tuple[int, str, int]:
    """(year, split, index within the year) of an id written by this module; ValueError otherwise."""
    year, _, number = image_id.partition("_")
    if not (year in (str(_VOC_YEAR), str(_SBD_YEAR)) and len(number) == 6 and number.isdigit()):
        raise ValueError(f"{image_id!r} is not an id of this module (2007_NNNNNN or 2008_NNNNNN)")
    return int(year), _SPLIT_NAMES[int(number) % 2], int(number) // 2


def _scene(image_id: str, seed: int, sizes: list, void_border: int) -> tuple[np.ndarray, np.ndarray]:
    year, split, index = _parse_id(image_id)
    offset = (year - _VOC_YEAR) * _YEAR_OFFSET
    return render_scene(seed, split, offset + index, sizes[index % len(sizes)], void_border)


def _write_jpeg(path: Path, image: np.ndarray, mode: str = "RGB") -> None:
    Image.fromarray(image).convert(mode).save(path, "JPEG", quality=JPEG_QUALITY)


def _write_palette_png(path: Path, label: np.ndarray, palette: list[int]) -> None:
    """`label`'s values as the indices of a mode "P" PNG (never through RGB)."""
    mask = Image.frombytes("P", (label.shape[1], label.shape[0]), np.ascontiguousarray(label).tobytes())
    mask.putpalette(palette, "RGB")
    mask.save(path, "PNG")


def _write_list(path: Path, ids: Iterable[str]) -> None:
    path.write_text("".join(f"{i}\n" for i in ids))


def _dirs(base: Path, *names: str) -> None:
    for name in names:
        (base / name).mkdir(parents=True, exist_ok=True)


def write_voc(root, train: int = 8, val: int = 6, seed: int = 0,
              sizes: Sequence[Sequence[int]] | None = None) -> Path:
    """Write `root/VOCdevkit/VOC2012` as `torchvision.datasets.VOCSegmentation` reads it; return that folder.

    JPEGImages/<id>.jpg (quality 90; `ODD_JPEGS` greyscale and CMYK, the rest RGB), SegmentationClass/
    <id>.png (mode "P", the VOC colour map, class indices with 255 on a 2-pixel void band each side of
    every border) and ImageSets/Segmentation/{train,val,trainval}.txt (sorted ids). Ids: the module's
    docstring; `sizes` (default `DEFAULT_SIZES`) cycle with the sample index. train, val >= 2, so that
    both odd JPEGs are there.
    """
    if train < 2 or val < 2:
        raise ValueError(f"write_voc needs train >= 2 and val >= 2 (the odd JPEGs), got {train} and {val}")
    sizes, base = _sizes(sizes), Path(root) / "VOCdevkit" / "VOC2012"
    _dirs(base, "JPEGImages", "SegmentationClass", "ImageSets/Segmentation")
    ids = {split: [_image_id(_VOC_YEAR, split, i) for i in range(n)] for split, n in (("train", train), ("val", val))}
    palette = _voc_palette()
    for image_id in ids["train"] + ids["val"]:
        image, label = _scene(image_id, seed, sizes, VOC_VOID_BORDER)
        _write_jpeg(base / "JPEGImages" / f"{image_id}.jpg", image, ODD_JPEGS.get(image_id, "RGB"))
        _write_palette_png(base / "SegmentationClass" / f"{image_id}.png", label, palette)
    lists = base / "ImageSets" / "Segmentation"
    for split, split_ids in ids.items():
        _write_list(lists / f"{split}.txt", sorted(split_ids))
    _write_list(lists / "trainval.txt", sorted(ids["train"] + ids["val"]))
    return base


def _boundaries(label: np.ndarray) -> np.ndarray:
    """SBD's `Boundaries`: a (20, 1) cell of sparse masks, class c's pixels 4-adjacent to another label."""
    cell = np.empty((SBD_CLASSES, 1), dtype=object)
    for c in range(1, SBD_CLASSES + 1):
        mask = label == c
        edge = mask & ~ndimage.binary_erosion(mask, border_value=1)
        cell[c - 1, 0] = sparse.csc_matrix(edge)
    return cell


def _write_gtcls(path: Path, label: np.ndarray) -> None:
    """cls/<id>.mat: the MATLAB struct GTcls with Boundaries, Segmentation and CategoriesPresent."""
    present = np.unique(label[label > 0]).astype(np.uint8).reshape(-1, 1)
    gtcls = {"Boundaries": _boundaries(label), "Segmentation": label, "CategoriesPresent": present}
    sio.savemat(path, {"GTcls": gtcls}, do_compression=True)


def _overlap(overlap_ids: Mapping[str, Iterable[str]] | None) -> dict[str, list[str]]:
    if overlap_ids is None:  # VOC train 0, 1 and val 0 in SBD train; VOC train 2 and val 1 in SBD val
        overlap_ids = {"train": ["2007_000000", "2007_000001", "2007_000002"],
                       "val": ["2007_000003", "2007_000004"]}
    if set(overlap_ids) - set(SPLITS):
        raise ValueError(f"overlap_ids keys must be among {sorted(SPLITS)}, got {sorted(overlap_ids)}")
    out = {split: list(overlap_ids.get(split, ())) for split in SPLITS}
    every = out["train"] + out["val"]
    if len(set(every)) != len(every):
        raise ValueError("an overlap id is given twice")
    for image_id in every:
        if _parse_id(image_id)[0] != _VOC_YEAR:
            raise ValueError(f"overlap id {image_id!r} is not a VOC id (2007_NNNNNN)")
    return out


def write_sbd(root, train: int = 8, val: int = 6, seed: int = 0, sizes: Sequence[Sequence[int]] | None = None,
              overlap_ids: Mapping[str, Iterable[str]] | None = None) -> Path:
    """Write `root/benchmark_RELEASE/dataset` as `torchvision.datasets.SBDataset` reads it; return that folder.

    img/<id>.jpg, cls/<id>.mat (struct GTcls: Segmentation uint8 class indices without a void band,
    Boundaries, CategoriesPresent) and sorted train.txt, val.txt and train_noval.txt (train less the VOC
    val ids). `train` and `val` count all ids of each split; `overlap_ids` {"train": [...], "val": [...]}
    names VOC ids (of `write_voc` with the same seed and sizes) the split holds, with the same image; the
    rest are SBD-only 2008 ids. Default: VOC train 0, 1 and val 0 in train, VOC train 2 and val 1 in val.
    """
    sizes, overlap, base = _sizes(sizes), _overlap(overlap_ids), Path(root) / "benchmark_RELEASE" / "dataset"
    ids = {}
    for split, n in (("train", train), ("val", val)):
        extra = n - len(overlap[split])
        if extra < 0:
            raise ValueError(f"{len(overlap[split])} overlap ids for SBD {split}, which holds only {n}")
        ids[split] = sorted(overlap[split] + [_image_id(_SBD_YEAR, split, j) for j in range(extra)])
    _dirs(base, "img", "cls")
    for image_id in ids["train"] + ids["val"]:
        image, label = _scene(image_id, seed, sizes, 0)
        _write_jpeg(base / "img" / f"{image_id}.jpg", image, ODD_JPEGS.get(image_id, "RGB"))
        _write_gtcls(base / "cls" / f"{image_id}.mat", label)
    for split, split_ids in ids.items():
        _write_list(base / f"{split}.txt", split_ids)
    voc_val = [i for i in ids["train"] if _parse_id(i)[:2] == (_VOC_YEAR, "val")]
    _write_list(base / "train_noval.txt", [i for i in ids["train"] if i not in voc_val])
    return base


def _folder_palette() -> list[int]:
    palette = [v for colour in PALETTE for v in colour]
    palette += [0] * (768 - len(palette))
    palette[3 * IGNORE_INDEX:3 * IGNORE_INDEX + 3] = [255, 255, 255]
    return palette


def _write_classes(path: Path) -> None:
    text = yaml.safe_dump({"names": list(CLASS_NAMES), "colors": [list(c) for c in PALETTE],
                           "ignore_index": IGNORE_INDEX}, default_flow_style=None, sort_keys=False)
    path.write_text("# Mask value i is class names[i], drawn in colors[i]; ignore_index is not scored.\n" + text)


def write_folder(root, count: int = 10, seed: int = 0, sizes: Sequence[Sequence[int]] | None = None,
                 split: str = "lists") -> Path:
    """Write a user's own data set under `root`; return `root`.

    Stem scene_NNN (i = NNN) is `render_scene(seed, "train", i, sizes[i % len(sizes)], 1)`:
    images/<stem>.png for even i, .jpg for odd i; masks/<stem>.png with the class indices (255 on a
    1-pixel void band), mode "P" with the classes' colours where i // 2 is even, greyscale "L" otherwise;
    classes.yaml (names, colors as [r, g, b], ignore_index: 255). With split="lists", train.txt and
    val.txt hold the stems (val: every fifth from the second); with split="none", no lists.
    """
    if split not in ("lists", "none"):
        raise ValueError(f"split must be 'lists' or 'none', got {split!r}")
    if count < (2 if split == "lists" else 1):
        raise ValueError(f"count must be at least {2 if split == 'lists' else 1}, got {count}")
    sizes, root, palette = _sizes(sizes), Path(root), _folder_palette()
    _dirs(root, "images", "masks")
    stems = [f"scene_{i:03d}" for i in range(count)]
    for i, stem in enumerate(stems):
        image, label = render_scene(seed, "train", i, sizes[i % len(sizes)], FOLDER_VOID_BORDER)
        if i % 2 == 0:
            Image.fromarray(image).save(root / "images" / f"{stem}.png")
        else:
            _write_jpeg(root / "images" / f"{stem}.jpg", image)
        if (i // 2) % 2 == 0:
            _write_palette_png(root / "masks" / f"{stem}.png", label, palette)
        else:
            Image.fromarray(label).save(root / "masks" / f"{stem}.png")
    _write_classes(root / "classes.yaml")
    if split == "lists":
        val = set(stems[1::5])
        _write_list(root / "train.txt", [s for s in stems if s not in val])
        _write_list(root / "val.txt", [s for s in stems if s in val])
    return root
