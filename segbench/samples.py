"""A fixed handful of validation images kept in each run record for the report's qualitative grid.

Images, ground truth and predictions are stored as base64 PNG (lossless, a few KB each), so that the
report stays a function of the results folder alone.
"""

import base64
import io
from typing import Any

import numpy as np
from PIL import Image

SAMPLES = 4      # validation images per record
MAX_SIDE = 128   # larger images are stored shrunk to this longest side (a grid tile, not the data)


def sample_indices(num_images: int, count: int = SAMPLES) -> list[int]:
    """`count` validation indices spread evenly over the split, first and last included."""
    if num_images <= 0:
        return []
    return sorted({int(i) for i in np.linspace(0, num_images - 1, min(count, num_images)).round()})


def encode_png(array: np.ndarray, labels: bool = True) -> str:
    """A uint8 [H, W] label map or [H, W, 3] RGB image as base64 PNG text, at most MAX_SIDE pixels a side
    (label maps shrink by nearest neighbour, images by area averaging)."""
    image = Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8))
    if max(image.size) > MAX_SIDE:
        scale = MAX_SIDE / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.NEAREST if labels else Image.Resampling.BOX)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_png(text: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(text))))


def samples_block(dataset: Any, predictions: dict[int, np.ndarray]) -> dict[str, Any]:
    """The record's `samples`: for each kept index, the image, its ground truth and the prediction."""
    indices = sorted(predictions)
    images, targets = [], []
    for i in indices:
        image, target = dataset[i]
        images.append(encode_png(np.asarray(image).transpose(1, 2, 0), labels=False))
        targets.append(encode_png(np.asarray(target)))   # ignore_index 255 fits in uint8
    return {"indices": indices, "images": images, "targets": targets,
            "predictions": [encode_png(predictions[i]) for i in indices]}


def colourise(labels: np.ndarray, palette: list[list[int]], ignore_index: int) -> np.ndarray:
    """RGB rendering of a label map; ignored pixels are white, labels beyond the palette black."""
    table = np.zeros((256, 3), dtype=np.uint8)
    table[:len(palette)] = np.asarray(palette, dtype=np.uint8)[:256]
    if 0 <= ignore_index < 256:
        table[ignore_index] = 255
    return table[labels.astype(np.uint8)]
