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


def first_names(names: list[str], shown: int = 5) -> str:
    """'a.png, b.png and 3 more': the first few of a list of file names."""
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def count(n: int, noun: str) -> str:
    """'1 file', '2 files'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _refuse_jpeg(folder: Path, what: str) -> None:
    """A folder of JPEG label maps and no PNG gets the reason it cannot be scored."""
    if any(folder.glob("*.png")):
        return
    jpegs = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    if jpegs:
        raise ScoreInputError(f"{what} {folder}: the folder holds {count(len(jpegs), 'JPEG file')} "
                              f"({first_names(jpegs)}) and no PNG; label maps must be lossless PNG, because JPEG "
                              "compression changes label values (around every class edge) and the scores would be "
                              "wrong. Save the class indices as palette (mode P) or greyscale (mode L) PNG files.")


def pair_files(pred_dir: Path, gt_dir: Path) -> list[tuple[Path, Path]]:
    """(prediction, ground truth) pairs by file name; every ground-truth file needs a prediction."""
    for d, what in ((pred_dir, "--pred"), (gt_dir, "--gt")):
        if not d.is_dir():
            raise ScoreInputError(f"{what} {d}: no such folder")
        _refuse_jpeg(d, what)
    gts = sorted(gt_dir.glob("*.png"))
    if not gts:
        raise ScoreInputError(f"--gt {gt_dir}: the folder holds no .png label maps")
    missing = [g.name for g in gts if not (pred_dir / g.name).is_file()]
    if missing:
        raise ScoreInputError(f"--pred {pred_dir}: no prediction for {len(missing)} of {len(gts)} ground-truth "
                              f"files: {first_names(missing)}")
    return [(pred_dir / g.name, g) for g in gts]


def unmatched_predictions(pred_dir: Path, gt_dir: Path) -> list[str]:
    """Names of the .png predictions that have no ground-truth file (they are not scored)."""
    return sorted(p.name for p in pred_dir.glob("*.png") if not (gt_dir / p.name).is_file())


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
