"""`shapes`: a procedural scene data set, the built-in segmentation benchmark.

Each scene is a background with objects painted largest first; the label map follows the painting
order. Objects are told apart by shape only (colours and textures are random) and include thin
structures (rings, bars), so receptive field, multi-scale context and fine resolution all matter.
Each object's colour is picked to contrast with what it covers, so label edges coincide with colour
edges. A Composition says how many objects, how large, whether they may be cut by the frame or
cover one another, and what backgrounds and interiors they get: COMPOSITIONS holds "cluttered"
(the original, and the default), "clear" and "scales".

Sample `i` of a split is a pure function of (seed, split, i, composition)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from scipy import ndimage

from .info import DatasetInfo, Described
from .paint import FIELDS, TEXTURES, background, pick_colour, shape_mask, texture

CLASS_NAMES: tuple[str, ...] = (
    "background", "disk", "rectangle", "triangle", "ring", "bar", "cross",
)
PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0),
    (0, 0, 128), (128, 0, 128), (0, 128, 128),
)
IGNORE_INDEX = 255
NUM_CLASSES = len(CLASS_NAMES)
MIN_SIDE = 16
SPLITS = {"train": 0, "val": 1}

# Per-channel statistics of pixel values scaled to [0, 1], measured once over
# 2000 train samples (seed 0) at 64x64 and rounded; they vary little with size.
MEAN: tuple[float, float, float] = (0.49, 0.51, 0.50)
STD: tuple[float, float, float] = (0.30, 0.31, 0.31)

# Sampling weights of the object classes (disk .. cross); thin classes are
# drawn more often so that every class covers a useful share of pixels.
_CLASS_WEIGHTS = np.array([0.7, 0.9, 1.1, 1.2, 1.4, 1.1])
_CLASS_P = _CLASS_WEIGHTS / _CLASS_WEIGHTS.sum()
# Thin classes are drawn larger so that they are not vanishingly rare.
_RADIUS_SCALE = np.array([1.0, 1.0, 1.0, 1.0, 1.25, 1.6, 1.0])


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_size(size) -> tuple[int, int]:
    """Return `size` as (height, width) or raise ValueError."""
    ok = (isinstance(size, (tuple, list)) and len(size) == 2
          and all(_is_int(s) and s >= MIN_SIDE for s in size))
    if not ok:
        raise ValueError(
            f"size must be (height, width) with integers >= {MIN_SIDE}, got {size!r}")
    return int(size[0]), int(size[1])


def _split_code(split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    return SPLITS[split]


def _check_nonneg(name: str, value) -> int:
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Composition:
    """What a scene holds and how it is painted (see COMPOSITIONS)."""

    objects: tuple[int, int]            # fewest and most objects per scene
    radius: tuple[float, float]         # circumradius range, as a fraction of the shorter side
    framed: bool                        # each object's circle lies inside the image (when it fits)
    overlap: bool                       # objects may cover one another
    backgrounds: tuple[str, ...] = FIELDS
    textures: tuple[str, ...] = TEXTURES
    noise: float = 8.0                  # largest standard deviation of the pixel noise


# 3-6 whole objects side by side (fewer where no free place is left), sizes spread 3.7x, smooth
# backgrounds, flat or smooth interiors.
_CLEAR = Composition(objects=(3, 6), radius=(0.06, 0.22), framed=True, overlap=False,
                     backgrounds=("noise", "gradient"), textures=("flat", "noise"), noise=4.0)
COMPOSITIONS: dict[str, Composition] = {
    # 1-6 objects anywhere (cut by the border), covering one another, sizes spread 7.5x, any texture.
    "cluttered": Composition(objects=(1, 6), radius=(0.04, 0.30), framed=False, overlap=True),
    "clear": _CLEAR,
    # As clear, but 2-5 objects whose sizes spread 5.3x: often one large object (which a stride-32 map
    # can name at 96x96) and, where it leaves room, small ones (which need fine resolution).
    "scales": replace(_CLEAR, objects=(2, 5), radius=(0.06, 0.32)),
}
_PLACEMENT_TRIES = 50
_GAP = 2.0   # px between the circles of objects that may not overlap: more than a diagonal step


def _centre(rng: np.random.Generator, h: int, w: int, r: float, comp: Composition,
            placed: list[tuple[float, float, float]]) -> tuple[float, float] | None:
    """Where an object of circumradius r goes: (cy, cx), or None when no free place was found."""
    for _ in range(1 if comp.overlap else _PLACEMENT_TRIES):
        if comp.framed:   # a pixel's margin to the frame; pixel centres run from 0 to side - 1
            cy = rng.uniform(min(r + 1, h / 2), max(h - 2 - r, h / 2))
            cx = rng.uniform(min(r + 1, w / 2), max(w - 2 - r, w / 2))
        else:
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        if comp.overlap or all(np.hypot(cy - y, cx - x) >= r + q + _GAP for y, x, q in placed):
            return cy, cx
    return None


def _paint_object(rng, image: np.ndarray, label: np.ndarray, cls: int, r: float, centre: tuple[float, float],
                  comp: Composition) -> None:
    """Draw one object of class `cls` with circumradius r at `centre` over image and label."""
    h, w = label.shape
    cy, cx = centre
    theta = rng.uniform(0, 2 * np.pi)
    y0, y1 = max(int(cy - r) - 1, 0), min(int(cy + r) + 2, h)
    x0, x1 = max(int(cx - r) - 1, 0), min(int(cx + r) + 2, w)
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] - cy
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] - cx
    c, s = np.float32(np.cos(theta)), np.float32(np.sin(theta))
    mask = shape_mask(rng, CLASS_NAMES[cls], dx * c + dy * s, dy * c - dx * s, r)
    patch = image[y0:y1, x0:x1]
    covered = patch[mask]
    if len(covered) == 0:
        return
    colour = pick_colour(rng, covered)
    tex = texture(rng, y1 - y0, x1 - x0, comp.textures)[mask]
    tint = rng.uniform(-1, 1, 3).astype(np.float32) * rng.uniform(0, 30)
    patch[mask] = colour + tex[:, None] * tint
    label[y0:y1, x0:x1][mask] = cls


def void_band(label: np.ndarray, k: int) -> np.ndarray:
    """Set to IGNORE_INDEX every pixel whose (2k+1)^2 Chebyshev window holds two labels.

    Both sides of each boundary are voided, so the band is 2k pixels wide.
    """
    if k <= 0:
        return label
    size = 2 * k + 1
    lo = ndimage.minimum_filter(label, size=size, mode="nearest")
    hi = ndimage.maximum_filter(label, size=size, mode="nearest")
    out = label.copy()
    out[lo != hi] = IGNORE_INDEX
    return out


def _sample_objects(rng: np.random.Generator, side: int, comp: Composition) -> list[tuple[int, float]]:
    """(class, circumradius in px) of each object, in painting order."""
    n = int(rng.integers(comp.objects[0], comp.objects[1] + 1))
    classes = rng.choice(len(_CLASS_P), n, p=_CLASS_P) + 1
    lo, hi = comp.radius
    # Density rising linearly with radius keeps background from swamping the
    # pixel statistics; larger objects go first, so small ones stay visible.
    radii = lo + (hi - lo) * np.sqrt(np.sort(rng.random(n))[::-1])
    return [(int(c), float(r * side * _RADIUS_SCALE[c])) for c, r in zip(classes, radii)]


def _composition(name: str) -> Composition:
    if name not in COMPOSITIONS:
        raise ValueError(f"scenes must be one of {sorted(COMPOSITIONS)}, got {name!r}")
    return COMPOSITIONS[name]


def render_scene(seed: int, split: str, index: int, size: tuple[int, int],
                 void_border: int = 0, scenes: str = "cluttered") -> tuple[np.ndarray, np.ndarray]:
    """Render sample `index` of `split`: (image uint8 HxWx3, label uint8 HxW), composed as COMPOSITIONS[scenes].

    With `void_border` k > 0, pixels within Chebyshev distance k of a pixel
    with another label are set to IGNORE_INDEX (see `void_band`).
    """
    h, w = _check_size(size)
    code = _split_code(split)
    seed, index = _check_nonneg("seed", seed), _check_nonneg("index", index)
    void_border = _check_nonneg("void_border", void_border)
    comp = _composition(scenes)
    rng = np.random.default_rng(np.random.SeedSequence([seed, code, index]))
    image = background(rng, h, w, comp.backgrounds)
    label = np.zeros((h, w), np.uint8)
    placed: list[tuple[float, float, float]] = []
    for cls, r in _sample_objects(rng, min(h, w), comp):
        centre = _centre(rng, h, w, r, comp, placed)
        if centre is not None:
            _paint_object(rng, image, label, cls, r, centre, comp)
            placed.append((*centre, r))
    image += rng.standard_normal((h, w, 1), dtype=np.float32) * rng.uniform(0, comp.noise)
    image = np.ascontiguousarray(np.clip(image, 0, 255).astype(np.uint8))
    return image, void_band(label, void_border)


SHAPES = DatasetInfo("shapes", CLASS_NAMES, PALETTE, MEAN, STD, IGNORE_INDEX, background=0)


class ShapesDataset(Described):
    """`num_samples` procedurally rendered scenes of one split.

    Items are (image uint8 [3, H, W], target int64 [H, W]).
    """

    info = SHAPES

    def __init__(self, split: str, num_samples: int, size: tuple[int, int],
                 seed: int = 0, void_border: int = 0, scenes: str = "cluttered") -> None:
        _split_code(split)
        _composition(scenes)
        self.scenes = scenes
        self.split = split
        self.num_samples = _check_nonneg("num_samples", num_samples)
        self.size = _check_size(size)
        self.seed = _check_nonneg("seed", seed)
        self.void_border = _check_nonneg("void_border", void_border)

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not _is_int(i):
            raise TypeError(f"index must be an integer, got {type(i).__name__}")
        if not -self.num_samples <= i < self.num_samples:
            raise IndexError(f"index {i} out of range for {self.num_samples} samples")
        image, label = render_scene(self.seed, self.split, int(i) % self.num_samples,
                                    self.size, self.void_border, self.scenes)
        return (torch.from_numpy(image).permute(2, 0, 1).contiguous(),
                torch.from_numpy(label).long())

    def __repr__(self) -> str:
        return (f"ShapesDataset(split={self.split!r}, num_samples={self.num_samples}, "
                f"size={self.size}, seed={self.seed}, void_border={self.void_border}, "
                f"scenes={self.scenes!r})")
