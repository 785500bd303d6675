"""Point labels placed without overlaps: a deterministic greedy search over a few positions around each point.

Geometry only (display pixels, boxes as (x0, y0, x1, y1)); figures.py measures the texts and draws them.
"""

Box = tuple[float, float, float, float]

# directions tried around a point, in order of preference: right, above, left, below, then the diagonals
DIRECTIONS = ((1, 0), (0, 1), (-1, 0), (0, -1), (1, 1), (-1, 1), (1, -1), (-1, -1))
RINGS = (1.0, 2.0, 3.0)   # distances tried, in multiples of the gap


def place_labels(anchors: list[tuple[float, float]], sizes: list[tuple[float, float]], bounds: Box,
                 obstacles: list[Box], gap: float) -> list[Box]:
    """A box of each size beside its anchor, inside `bounds`, overlapping neither the obstacles nor the boxes
    placed before it where any candidate allows; otherwise the candidate that overlaps least."""
    placed: list[Box] = []
    for anchor, size in zip(anchors, sizes):
        candidates = [box for box in _candidates(anchor, size, gap) if _inside(box, bounds)]
        candidates = candidates or [_clamp(_candidates(anchor, size, gap)[0], bounds)]
        # min keeps the first of equals, so the preference order decides ties
        placed.append(min(candidates, key=lambda box: sum(overlap(box, o) for o in obstacles + placed)))
    return placed


def _candidates(anchor: tuple[float, float], size: tuple[float, float], gap: float) -> list[Box]:
    (x, y), (w, h) = anchor, size
    boxes = []
    for ring in RINGS:
        for dx, dy in DIRECTIONS:
            scale = ring * gap * (0.75 if dx and dy else 1.0)
            left = x + dx * scale - (w if dx < 0 else 0 if dx > 0 else w / 2)
            bottom = y + dy * scale - (h if dy < 0 else 0 if dy > 0 else h / 2)
            boxes.append((left, bottom, left + w, bottom + h))
    return boxes


def overlap(a: Box, b: Box) -> float:
    """The area two boxes share (0 when they only touch)."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _inside(box: Box, bounds: Box) -> bool:
    return box[0] >= bounds[0] and box[1] >= bounds[1] and box[2] <= bounds[2] and box[3] <= bounds[3]


def _clamp(box: Box, bounds: Box) -> Box:
    w, h = box[2] - box[0], box[3] - box[1]
    left = max(min(box[0], bounds[2] - w), bounds[0])   # a box wider than the bounds starts at their left
    bottom = max(min(box[1], bounds[3] - h), bounds[1])
    return left, bottom, left + w, bottom + h
