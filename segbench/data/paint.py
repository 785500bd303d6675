"""Painting for `shapes` scenes: backgrounds, object textures, shape masks and contrasting colours.

Each function draws from the generator it is given in a fixed order, so a scene stays a pure function of its
seed."""

import numpy as np

FIELDS = ("noise", "stripes", "gradient")   # background kinds, in the order the generator picks them
TEXTURES = ("flat", "noise", "stripes")     # object interiors, likewise
MIN_HALF_WIDTH = 0.75  # px; keeps rotated thin strokes 4-connected
_COLOUR_CANDIDATES = 16
_CONTRAST_SAMPLES = 64


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


def background(rng: np.random.Generator, h: int, w: int, kinds: tuple[str, ...] = FIELDS) -> np.ndarray:
    """A float32 (h, w, 3) background blending two random colours by a field of one of `kinds` (FIELDS)."""
    kind = kinds[rng.integers(len(kinds))]
    if kind == "noise":
        t = _smooth_noise(rng, h, w, int(rng.integers(2, 7)))
    elif kind == "stripes":
        t = _stripes(rng, h, w, rng.uniform(0.08, 0.3) * min(h, w))
    else:
        t = _gradient(rng, h, w)
    c1 = rng.uniform(0, 255, 3).astype(np.float32)
    c2 = np.clip(c1 + rng.uniform(-90, 90, 3), 0, 255).astype(np.float32)
    return c1 + t[..., None] * (c2 - c1)


def texture(rng: np.random.Generator, h: int, w: int, kinds: tuple[str, ...] = TEXTURES) -> np.ndarray:
    """Object interior texture in [-1, 1], one of `kinds` (TEXTURES): flat, smooth noise or stripes."""
    kind = kinds[rng.integers(len(kinds))]
    if kind == "flat":
        return np.zeros((h, w), np.float32)
    if kind == "noise":
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


def shape_mask(rng: np.random.Generator, name: str, u, v, r: float) -> np.ndarray:
    """Mask of an object of class `name` in rotated local coordinates (u, v), within radius r."""
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
        thick = max(2 * MIN_HALF_WIDTH, r * rng.uniform(0.12, 0.25))
        rho2 = u * u + v * v
        return (rho2 <= r * r) & (rho2 >= max(r - thick, 0.0) ** 2)
    half = max(MIN_HALF_WIDTH, r * rng.uniform(0.06, 0.12 if name == "bar" else 0.25))
    arm1 = (np.abs(u) <= r) & (np.abs(v) <= half)
    if name == "bar":
        return arm1
    return arm1 | ((np.abs(v) <= r) & (np.abs(u) <= half))  # cross


def pick_colour(rng: np.random.Generator, covered: np.ndarray) -> np.ndarray:
    """Of random candidate colours, the one farthest from the covered pixels (N, 3)."""
    if len(covered) > _CONTRAST_SAMPLES:
        covered = covered[rng.integers(0, len(covered), _CONTRAST_SAMPLES)]
    cand = rng.uniform(0, 255, (_COLOUR_CANDIDATES, 3)).astype(np.float32)
    dist = np.abs(cand[:, None, :] - covered[None, :, :]).sum(axis=2)
    return cand[np.argmax(dist.min(axis=1))]
