"""How well a model can score at all when its output is a coarse score map upsampled bilinearly.

Usage: python benchmarks/stride_ceiling.py [--scenes clear] [--sizes 64,128] [--samples 200] [--steps 300]
(the quick suite: --scenes scales --sizes 96)

FCN-32s/16s/8s end in a fixed bilinear deconvolution of a score map at output stride 32, 16 or 8. On the
`shapes` validation scenes, for each image the score map itself (C x H/s x W/s numbers, no network) is
fitted to the ground truth by Adam on the cross-entropy after that same upsampling, then scored with
segbench's confusion matrix. The result is near the best mIoU that any model of that output stride can
reach on those scenes (the fit minimises the cross-entropy, not mIoU directly). The all-background
predictor is printed beside it, for the quick suite's target of 3x its mIoU.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from segbench.data.synthetic import CLASS_NAMES, render_scene  # noqa: E402
from segbench.metrics import ConfusionMatrix  # noqa: E402
from segbench.models.fcn import FixedBilinearUpsample  # noqa: E402

STRIDES = (32, 16, 8)


def miou(pred: torch.Tensor, target: torch.Tensor) -> float:
    matrix = ConfusionMatrix(len(CLASS_NAMES))
    matrix.update(pred, target)
    return matrix.compute()["miou"]


def fitted_scores(target: torch.Tensor, stride: int, steps: int) -> torch.Tensor:
    """The stride-`stride` score maps whose bilinear upsampling best fits `target` (N x H x W)."""
    n, h, w = target.shape
    upsample = FixedBilinearUpsample(len(CLASS_NAMES), stride)
    rows, cols = -(-h // 32) * 32 // stride, -(-w // 32) * 32 // stride   # FCN pads to a multiple of 32
    scores = torch.zeros(n, len(CLASS_NAMES), rows, cols, requires_grad=True)
    optimizer = torch.optim.Adam([scores], lr=0.5)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(upsample(scores)[..., :h, :w], target).backward()
        optimizer.step()
    with torch.no_grad():
        return upsample(scores)[..., :h, :w].argmax(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", default="clear")
    parser.add_argument("--sizes", default="64,128", help="image sides, comma-separated")
    parser.add_argument("--samples", type=int, default=200, help="validation scenes (the quick suite's 200)")
    parser.add_argument("--steps", type=int, default=300, help="Adam steps of each fit")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"scenes: {args.scenes}, {args.samples} validation scenes of dataset seed 0; mIoU (%)")
    print("| image | all background | " + " | ".join(f"best at stride {s}" for s in STRIDES) + " |")
    print("|---:|---:|" + "---:|" * len(STRIDES))
    for side in (int(s) for s in args.sizes.split(",")):
        labels = np.stack([render_scene(0, "val", i, (side, side), scenes=args.scenes)[1]
                           for i in range(args.samples)])
        target = torch.from_numpy(labels).long()
        ceilings = [miou(fitted_scores(target, s, args.steps), target) for s in STRIDES]
        background = miou(torch.zeros_like(target), target)
        print(f"| {side}×{side} | {background * 100:.1f} | " + " | ".join(f"{c * 100:.1f}" for c in ceilings) + " |")


if __name__ == "__main__":
    main()
