"""`shapes`: a procedural scene data set, the built-in segmentation benchmark.

Each scene is a textured background with 1-6 overlapping objects, painted
largest first; the label map follows the painting order. Objects are told
apart by shape only (colours and textures are random), span about 8% to 60%
of the shorter image side (bars up to ~95%), and include thin structures
(rings, bars), so receptive field, multi-scale context and fine resolution all
matter. Each object's colour is picked to contrast with what it covers, so
label edges coincide with colour edges.

Sample `i` of a split is a pure function of (seed, split, i)."""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from .info import DatasetInfo, Described

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
_MAX_OBJECTS = 6
_RADIUS_RANGE = (0.04, 0.30)  # circumradius as a fraction of the shorter side
# Thin classes are drawn larger so that they are not vanishingly rare.
_RADIUS_SCALE = np.array([1.0, 1.0, 1.0, 1.0, 1.25, 1.6, 1.0])
_MIN_HALF_WIDTH = 0.75  # px; keeps rotated thin strokes 4-connected
_COLOUR_CANDIDATES = 16
_CONTRAST_SAMPLES = 64


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


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Bilinearly upsampled random grid: a smooth field in [0, 1] of shape (h, w)."""
    grid = rng.random((cells + 1, cells + 1), dtype=np.float32)
    ys = np.linspace(0, cells, h, dtype=np.float32)
    xs = np.linspace(0, cells, w, dtype=np.float32)
    y0 = np.minimum(ys.astype(np.int64), cells - 1)
    x0 = np.minimum(xs.astype(np.int64), cells - 1)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    top = grid[np.ix_(y0, x0)] * (1 - fx) + grid[np.ix_(y0, x0 + 1)] * fx
    bottom = grid[np.ix_(y0 + 1, x0)] * (1 - fx) + grid[np.ix_(y0 + 1, x0 + 1)] * fx
    return top * (1 - fy) + bottom * fy


def _stripes(rng: np.random.Generator, h: int, w: int, period: float) -> np.ndarray:
    """Straight stripes at a random angle, soft or hard: a field in [0, 1]."""
    theta = rng.uniform(0, np.pi)
    yy, xx = np.ogrid[:h, :w]
    proj = (xx * np.cos(theta) + yy * np.sin(theta)).astype(np.float32)
    t = 0.5 + 0.5 * np.sin(proj * (2 * np.pi / period) + rng.uniform(0, 2 * np.pi))
    return (t > 0.5).astype(np.float32) if rng.random() < 0.5 else t


def _gradient(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Linear ramp in a random direction: a field in [0, 1]."""
    theta = rng.uniform(0, 2 * np.pi)
    yy, xx = np.ogrid[:h, :w]
    proj = (xx * np.cos(theta) + yy * np.sin(theta)).astype(np.float32)
    proj = proj - proj.min()
    return proj / max(float(proj.max()), 1.0)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A float32 (h, w, 3) background blending two random colours by a field."""
    kind = rng.integers(3)
    if kind == 0:
        t = _smooth_noise(rng, h, w, int(rng.integers(2, 7)))
    elif kind == 1:
        t = _stripes(rng, h, w, rng.uniform(0.08, 0.3) * min(h, w))
    else:
        t = _gradient(rng, h, w)
    c1 = rng.uniform(0, 255, 3).astype(np.float32)
    c2 = np.clip(c1 + rng.uniform(-90, 90, 3), 0, 255).astype(np.float32)
    return c1 + t[..., None] * (c2 - c1)


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Object interior texture: flat, smooth noise or stripes, in [-1, 1]."""
    kind = rng.integers(3)
    if kind == 0:
        return np.zeros((h, w), np.float32)
    if kind == 1:
        return 2 * _smooth_noise(rng, h, w, int(rng.integers(2, 5))) - 1
    return 2 * _stripes(rng, h, w, rng.uniform(3, 8)) - 1


def _half_planes(u, v, angles: np.ndarray, r: float) -> np.ndarray:
    """Inside of the convex polygon whose vertices lie at `angles` on radius r."""
    px, py = r * np.cos(angles), r * np.sin(angles)
    inside = True
    for k in range(len(angles)):
        ax, ay, bx, by = px[k - 1], py[k - 1], px[k], py[k]
        inside = inside & ((bx - ax) * (v - ay) - (by - ay) * (u - ax) >= 0)
    return inside


def _shape_mask(rng: np.random.Generator, cls: int, u, v, r: float) -> np.ndarray:
    """Mask of object class `cls` in rotated local coordinates, within radius r."""
    name = CLASS_NAMES[cls]
    if name == "disk":
        return u * u + v * v <= r * r
    if name == "rectangle":
        ratio = rng.uniform(0.35, 1.0)
        a = r / np.sqrt(1 + ratio * ratio)
        b = a * ratio
        return (np.abs(u) <= a) & (np.abs(v) <= b)
    if name == "triangle":
        angles = np.arange(3) * (2 * np.pi / 3) + rng.uniform(-0.3, 0.3, 3)
        return _half_planes(u, v, angles, r)
    if name == "ring":
        thick = max(2 * _MIN_HALF_WIDTH, r * rng.uniform(0.12, 0.25))
        rho2 = u * u + v * v
        return (rho2 <= r * r) & (rho2 >= max(r - thick, 0.0) ** 2)
    half = max(_MIN_HALF_WIDTH, r * rng.uniform(0.06, 0.12 if name == "bar" else 0.25))
    arm1 = (np.abs(u) <= r) & (np.abs(v) <= half)
    if name == "bar":
        return arm1
    return arm1 | ((np.abs(v) <= r) & (np.abs(u) <= half))  # cross


def _pick_colour(rng: np.random.Generator, covered: np.ndarray) -> np.ndarray:
    """Of random candidate colours, the one farthest from the covered pixels (N, 3)."""
    if len(covered) > _CONTRAST_SAMPLES:
        covered = covered[rng.integers(0, len(covered), _CONTRAST_SAMPLES)]
    cand = rng.uniform(0, 255, (_COLOUR_CANDIDATES, 3)).astype(np.float32)
    dist = np.abs(cand[:, None, :] - covered[None, :, :]).sum(axis=2)
    return cand[np.argmax(dist.min(axis=1))]


def _paint_object(rng, image: np.ndarray, label: np.ndarray, cls: int, r: float) -> None:
    """Draw one object of class `cls` with circumradius r over image and label."""
    h, w = label.shape
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    theta = rng.uniform(0, 2 * np.pi)
    y0, y1 = max(int(cy - r) - 1, 0), min(int(cy + r) + 2, h)
    x0, x1 = max(int(cx - r) - 1, 0), min(int(cx + r) + 2, w)
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] - cy
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] - cx
    c, s = np.float32(np.cos(theta)), np.float32(np.sin(theta))
    mask = _shape_mask(rng, cls, dx * c + dy * s, dy * c - dx * s, r)
    patch = image[y0:y1, x0:x1]
    covered = patch[mask]
    if len(covered) == 0:
        return
    colour = _pick_colour(rng, covered)
    tex = _texture(rng, y1 - y0, x1 - x0)[mask]
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


def _sample_objects(rng: np.random.Generator, side: int) -> list[tuple[int, float]]:
    """(class, circumradius in px) of each object, in painting order."""
    n = int(rng.integers(1, _MAX_OBJECTS + 1))
    classes = rng.choice(len(_CLASS_P), n, p=_CLASS_P) + 1
    lo, hi = _RADIUS_RANGE
    # Density rising linearly with radius keeps background from swamping the
    # pixel statistics; larger objects go first, so small ones stay visible.
    radii = lo + (hi - lo) * np.sqrt(np.sort(rng.random(n))[::-1])
    return [(int(c), float(r * side * _RADIUS_SCALE[c])) for c, r in zip(classes, radii)]


def render_scene(seed: int, split: str, index: int, size: tuple[int, int],
                 void_border: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Render sample `index` of `split`: (image uint8 HxWx3, label uint8 HxW).

    With `void_border` k > 0, pixels within Chebyshev distance k of a pixel
    with another label are set to IGNORE_INDEX (see `void_band`).
    """
    h, w = _check_size(size)
    code = _split_code(split)
    seed, index = _check_nonneg("seed", seed), _check_nonneg("index", index)
    void_border = _check_nonneg("void_border", void_border)
    rng = np.random.default_rng(np.random.SeedSequence([seed, code, index]))
    image = _background(rng, h, w)
    label = np.zeros((h, w), np.uint8)
    for cls, r in _sample_objects(rng, min(h, w)):
        _paint_object(rng, image, label, cls, r)
    image += rng.standard_normal((h, w, 1), dtype=np.float32) * rng.uniform(0, 8)
    image = np.ascontiguousarray(np.clip(image, 0, 255).astype(np.uint8))
    return image, void_band(label, void_border)


SHAPES = DatasetInfo("shapes", CLASS_NAMES, PALETTE, MEAN, STD, IGNORE_INDEX, background=0)


class ShapesDataset(Described):
    """`num_samples` procedurally rendered scenes of one split.

    Items are (image uint8 [3, H, W], target int64 [H, W]).
    """

    info = SHAPES

    def __init__(self, split: str, num_samples: int, size: tuple[int, int],
                 seed: int = 0, void_border: int = 0) -> None:
        _split_code(split)
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
                                    self.size, self.void_border)
        return (torch.from_numpy(image).permute(2, 0, 1).contiguous(),
                torch.from_numpy(label).long())

    def __repr__(self) -> str:
        return (f"ShapesDataset(split={self.split!r}, num_samples={self.num_samples}, "
                f"size={self.size}, seed={self.seed}, void_border={self.void_border})")
