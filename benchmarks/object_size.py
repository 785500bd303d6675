"""Which objects a trained model gets right, by their size: a diagnosis of a `shapes` results folder.

Usage: python benchmarks/object_size.py RESULTS_DIR [--bins 50,100,200,400]

For every successful run without CRF or TTA whose checkpoint is in RESULTS_DIR/checkpoints (checkpoints
are not committed: run the suite into a folder of your own first), the validation set is evaluated again
by segbench.evaluate at the run's evaluation batch size, and each object (a connected region of one class
in the ground truth) is put in a bin by its area in pixels. Per variant and bin it prints the share of an object's pixels predicted as its class ("right")
and as any object class ("found"), averaged over the objects and then over the variant's seeds. A model
that finds objects but names them wrong has "found" well above "right". As a check that the predictions
are the runs' own, it counts the records whose mIoU it recomputes exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from segbench import data, models  # noqa: E402
from segbench.dataconfig import ShapesConfig  # noqa: E402
from segbench.entries import EVAL_ONLY_OPTIONS  # noqa: E402
from segbench.evaluate import evaluate  # noqa: E402


def trained_model(record: dict, num_classes: int, checkpoints: Path) -> torch.nn.Module:
    """A run's network with its trained weights from `checkpoints` (the record's train key)."""
    spec = record["spec"]
    options = {k: v for k, v in spec["options"].items() if k not in EVAL_ONLY_OPTIONS}
    model = models.build(spec["arch"], num_classes, **options)
    model.load_state_dict(torch.load(checkpoints / f"{spec['train_key']}.pt", weights_only=True)["state_dict"])
    return model


def predictions(record: dict, val, checkpoints: Path) -> tuple[np.ndarray, float]:
    """(predicted labels, mIoU) of a run's checkpoint on its validation set, evaluated as the run evaluates."""
    spec = record["spec"]
    model = trained_model(record, val.info.num_classes, checkpoints)
    scores = evaluate(model, val, spec["eval"]["batch_size"], spec["eval"]["boundary_tolerance"],
                      torch.device("cpu"), keep=range(len(val)))
    return np.stack([scores["kept"][i] for i in range(len(val))]), scores["metrics"]["miou"]


def object_scores(pred: np.ndarray, target: np.ndarray, edges: list[int], background: int = 0) -> dict:
    """bin -> (list of per-object 'right' shares, list of 'found' shares)."""
    out: dict[int, tuple[list, list]] = defaultdict(lambda: ([], []))
    for p, t in zip(pred, target):
        for cls in np.unique(t):
            if cls in (background, 255):
                continue
            regions, n = ndimage.label(t == cls)
            for k in range(1, n + 1):
                mask = regions == k
                b = int(np.searchsorted(edges, mask.sum(), side="right")) - 1
                out[b][0].append((p[mask] == cls).mean())
                out[b][1].append((p[mask] != background).mean())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--bins", default="50,100,200,400", help="bin edges in pixels, comma-separated")
    args = parser.parse_args()
    edges = [0, *(int(e) for e in args.bins.split(",")), 10 ** 9]
    by_variant: dict[str, list] = defaultdict(list)
    exact, worst, val_sets = 0, 0.0, {}
    records = [json.loads(path.read_text(encoding="utf-8")) for path in (args.results / "runs").glob("*.json")]
    for record in sorted(records, key=lambda r: (r["spec"]["order"], r["spec"]["seed"])):
        spec = record["spec"]
        if (record["status"] != "ok" or spec["dataset"]["name"] != "shapes" or spec["options"].get("crf")
                or spec["options"].get("tta")
                or not (args.results / "checkpoints" / f"{spec['train_key']}.pt").exists()):
            continue
        key = json.dumps(spec["dataset"], sort_keys=True)
        if key not in val_sets:   # each data set once: (the split, its ground truth)
            val = data.build(ShapesConfig.model_validate(spec["dataset"]), "val")
            val_sets[key] = val, np.stack([val[i][1].numpy() for i in range(len(val))])
        val, target = val_sets[key]
        pred, miou = predictions(record, val, args.results / "checkpoints")
        by_variant[spec["label"]].append(object_scores(pred, target, edges))
        exact += miou == record["metrics"]["miou"]
        worst = max(worst, abs(miou - record["metrics"]["miou"]))
    if not by_variant:
        sys.exit(f"no run with a checkpoint under {args.results}/checkpoints (without CRF or TTA) on shapes")
    print_table(by_variant, edges)
    print(f"{exact} of {sum(map(len, by_variant.values()))} records: the mIoU recomputed here equals the record's "
          f"exactly; the largest difference is {worst * 100:.2g} points")


def print_table(by_variant: dict[str, list], edges: list[int]) -> None:
    names = [f"<{edges[1]} px", *(f"{lo}-{hi - 1} px" for lo, hi in zip(edges[1:-2], edges[2:-1])),
             f">={edges[-2]} px"]
    print("share of an object's pixels predicted as its class / as any object (%): mean over objects, then seeds")
    print("| variant | seeds | " + " | ".join(names) + " |")
    print("|:---|---:|" + "---:|" * len(names))
    for label, runs in by_variant.items():
        cells = []
        for b in range(len(names)):
            if not runs[0][b][0]:
                cells.append("–")
                continue
            right, found = (np.mean([np.mean(scores[b][k]) for scores in runs]) * 100 for k in (0, 1))
            cells.append(f"{right:.0f} / {found:.0f}")
        print(f"| {label} | {len(runs)} | " + " | ".join(cells) + " |")
    first = next(iter(by_variant.values()))[0]
    print("| objects in the bin | | " + " | ".join(str(len(first[b][0])) for b in range(len(names))) + " |")


if __name__ == "__main__":
    main()
