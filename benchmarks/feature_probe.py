"""How much of the class a trained model's intermediate features carry: linear probes, layer by layer.

Usage: python benchmarks/feature_probe.py RESULTS_DIR LABEL [--seed 0] [--layers fc7,decoder.4]

For the run of LABEL (a record's label, e.g. "DeconvNet" or "FCN skip=32") and seed in RESULTS_DIR, whose
checkpoint is in RESULTS_DIR/checkpoints (not committed: run the suite into a folder of your own first),
each named module's output is upsampled bilinearly to the image size, and a linear classifier (per pixel,
features standardised) is fitted on pixels of training images and scored by mIoU on pixels of the
validation images. A layer whose probe stays near the all-background score carries where objects are but
not what they are. Default layers: fc7 and each decoder stage for DeconvNet, fc7 for FCN.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from object_size import trained_model  # noqa: E402  (this folder: the script's own)
from segbench import data  # noqa: E402
from segbench.dataconfig import ShapesConfig  # noqa: E402
from segbench.data.transforms import normalise  # noqa: E402
from segbench.metrics import ConfusionMatrix  # noqa: E402

DEFAULT_LAYERS = {"deconvnet": ["fc7", "deconv_fc6", *(f"decoder.{k}" for k in range(5))], "fcn": ["fc7"]}


def pixel_features(model, dataset, layers: list[str], images: int, pixels: int, seed: int):
    """({layer: [images * pixels, channels]}, labels [images * pixels]) at random pixels of the first images."""
    found, modules = {}, dict(model.named_modules())
    hooks = [modules[name].register_forward_hook(lambda _m, _i, out, name=name: found.__setitem__(name, out))
             for name in layers]
    gen, feats, labels = torch.Generator().manual_seed(seed), {name: [] for name in layers}, []
    with torch.no_grad():
        for start in range(0, images, 25):
            batch = [dataset[i] for i in range(start, min(start + 25, images))]
            x, y = torch.stack([b[0] for b in batch]), torch.stack([b[1] for b in batch]).long()
            model(normalise(x, dataset.mean, dataset.std, torch.device("cpu")))
            where = torch.randint(0, y[0].numel(), (len(batch), pixels), generator=gen)
            labels.append(y.flatten(1).gather(1, where).flatten())
            for name in layers:
                up = F.interpolate(found[name], size=y.shape[-2:], mode="bilinear", align_corners=False).flatten(2)
                picked = up.gather(2, where[:, None].expand(-1, up.shape[1], -1))
                feats[name].append(picked.transpose(1, 2).reshape(-1, up.shape[1]))
    for hook in hooks:
        hook.remove()
    return {name: torch.cat(f) for name, f in feats.items()}, torch.cat(labels)


def probe_miou(train_x, train_y, val_x, val_y, num_classes: int, steps: int = 400) -> float:
    """mIoU on the validation pixels of a softmax regression fitted (Adam, full batch) on the training pixels."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-5
    linear = torch.nn.Linear(train_x.shape[1], num_classes)
    optimizer = torch.optim.Adam(linear.parameters(), lr=0.01)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(linear((train_x - mean) / std), train_y).backward()
        optimizer.step()
    confusion = ConfusionMatrix(num_classes, ignore_index=255)
    with torch.no_grad():
        confusion.update(linear((val_x - mean) / std).argmax(1)[None], val_y[None])
    return confusion.compute()["miou"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("label")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layers", help="comma-separated module names (default: by architecture)")
    args = parser.parse_args()
    torch.manual_seed(0)
    records = map(json.loads, map(Path.read_text, sorted((args.results / "runs").glob("*.json"))))
    record = next((r for r in records if r["spec"]["label"] == args.label and r["spec"]["seed"] == args.seed), None)
    if record is None:
        sys.exit(f"no record of {args.label!r} seed {args.seed} under {args.results}/runs")
    spec = record["spec"]
    config = ShapesConfig.model_validate(spec["dataset"])
    train, val = data.build(config, "train"), data.build(config, "val")
    model = trained_model(record, val.info.num_classes, args.results / "checkpoints").eval()
    layers = args.layers.split(",") if args.layers else DEFAULT_LAYERS[spec["arch"]]
    train_x, train_y = pixel_features(model, train, layers, 500, 400, seed=1)
    val_x, val_y = pixel_features(model, val, layers, len(val), 2000, seed=2)
    print(f"{args.label}, seed {args.seed}: the model's own mIoU {100 * record['metrics']['miou']:.1f}")
    print("| layer | channels | probe mIoU |\n|:---|---:|---:|")
    for name in layers:
        miou = probe_miou(train_x[name], train_y, val_x[name], val_y, val.info.num_classes)
        print(f"| {name} | {train_x[name].shape[1]} | {100 * miou:.1f} |")


if __name__ == "__main__":
    main()
