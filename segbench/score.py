"""`segbench score`: the metrics of PNG label maps made by any model, matched by file name."""

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .errors import ScoreInputError
from .metrics import BoundaryF1, ConfusionMatrix


def read_label_map(path: Path) -> np.ndarray:
    """Class indices of a palette ('P') or greyscale ('L', 'I') PNG; colour images are refused."""
    try:
        with Image.open(path) as img:
            if img.mode not in ("P", "L", "I", "I;16"):
                raise ScoreInputError(f"{path}: a {img.mode} image is not a label map; save class indices as "
                                      "a palette (mode P) or greyscale (mode L) PNG")
            return np.array(img, dtype=np.int64)
    except OSError as exc:
        raise ScoreInputError(f"{path}: cannot read the image ({exc})") from None


def pair_files(pred_dir: Path, gt_dir: Path) -> list[tuple[Path, Path]]:
    """(prediction, ground truth) pairs by file name; every ground-truth file needs a prediction."""
    for d, what in ((pred_dir, "--pred"), (gt_dir, "--gt")):
        if not d.is_dir():
            raise ScoreInputError(f"{what} {d}: no such folder")
    gts = sorted(gt_dir.glob("*.png"))
    if not gts:
        raise ScoreInputError(f"--gt {gt_dir}: the folder holds no .png label maps")
    missing = [g.name for g in gts if not (pred_dir / g.name).is_file()]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ScoreInputError(f"--pred {pred_dir}: no prediction for {len(missing)} of {len(gts)} ground-truth "
                              f"files: {shown}")
    return [(pred_dir / g.name, g) for g in gts]


def score_dirs(pred_dir: Path, gt_dir: Path, num_classes: int | None = None, ignore_index: int = 255,
               tolerance: float = 0.0075) -> dict[str, Any]:
    """mIoU & co. (one confusion matrix over all files) and boundary F1 of a folder of predictions."""
    pairs = [(p, g, read_label_map(p), read_label_map(g)) for p, g in pair_files(pred_dir, gt_dir)]
    for p, g, pred, gt in pairs:
        if pred.shape != gt.shape:
            raise ScoreInputError(f"{p}: size {pred.shape[1]}x{pred.shape[0]} differs from the ground truth "
                                  f"{g} ({gt.shape[1]}x{gt.shape[0]})")
    if num_classes is None:
        num_classes = 1 + max(int(gt[gt != ignore_index].max(initial=0)) for _, _, _, gt in pairs)
    confusion, boundary = ConfusionMatrix(num_classes, ignore_index), BoundaryF1(num_classes, ignore_index, tolerance)
    for p, g, pred, gt in pairs:
        pred = np.where(gt == ignore_index, 0, pred)  # predictions at ignored pixels do not count
        try:
            confusion.update(pred, gt)
            boundary.update(pred, gt)
        except ValueError as exc:
            raise ScoreInputError(f"{p} / {g}: {exc} (--num-classes is {num_classes})") from None
    scores, bf = confusion.compute(), boundary.compute()
    return {"images": len(pairs), "num_classes": num_classes, "ignore_index": ignore_index,
            "boundary_tolerance": tolerance,
            "metrics": {k: scores[k] for k in ("miou", "pixel_acc", "mean_acc", "fwiou")} | {"bf1": bf["bf1"]},
            "per_class": {"iou": scores["per_class_iou"], "acc": scores["per_class_acc"],
                          "bf1": bf["per_class_bf1"]}}
