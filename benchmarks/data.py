"""Real-data pipeline speed on a synthesized VOC tree at VOC's image sizes, in one run:

1. training pipeline images/s in one process (decode, random scale, pad, crop 321, flip, collate):
   segbench's (`Augmented` over `LabelledImages`, transforms.v2 on uint8 tensors) against a straightforward
   PIL joint-transform pipeline like torchvision's segmentation reference scripts;
2. evaluation throughput on variable-sized images: segbench's same-size batches against batch 1, with the
   metrics compared for equality.

    python benchmarks/data.py [--images 96] [--rounds 3] [--threads 2]
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from segbench import models  # noqa: E402
from segbench.dataconfig import Augment  # noqa: E402
from segbench.data.files import LabelledImages  # noqa: E402
from segbench.data.synth import write_voc  # noqa: E402
from segbench.data.transforms import Augmented, train_transform  # noqa: E402
from segbench.data.voc import VOC, voc_files  # noqa: E402
from segbench.evaluate import evaluate  # noqa: E402
from segbench.train import train_loader  # noqa: E402

VOC_SIZES = ((375, 500), (333, 500), (500, 375), (281, 500), (375, 500), (500, 333))
CROP, BATCH = 321, 10


class PILJoint(Dataset):
    """The straightforward pipeline: PIL image and mask through random resize, pad, crop and flip, then tensors."""

    def __init__(self, images, masks, seed):
        self.images, self.masks, self.rng = images, masks, random.Random(seed)
        self.fill = tuple(round(255 * m) for m in VOC.mean)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        image, mask = Image.open(self.images[i]).convert("RGB"), Image.open(self.masks[i])
        s = self.rng.uniform(0.5, 2.0)
        size = (max(1, round(image.width * s)), max(1, round(image.height * s)))
        image, mask = image.resize(size, Image.BILINEAR), mask.resize(size, Image.NEAREST)
        w, h = max(CROP, size[0]), max(CROP, size[1])
        if (w, h) != size:
            padded_image, padded_mask = Image.new("RGB", (w, h), self.fill), Image.new("L", (w, h), 255)
            padded_image.paste(image), padded_mask.paste(mask)
            image, mask = padded_image, padded_mask
        x, y = self.rng.randint(0, w - CROP), self.rng.randint(0, h - CROP)
        image, mask = image.crop((x, y, x + CROP, y + CROP)), mask.crop((x, y, x + CROP, y + CROP))
        if self.rng.random() < 0.5:
            image, mask = image.transpose(Image.FLIP_LEFT_RIGHT), mask.transpose(Image.FLIP_LEFT_RIGHT)
        return (torch.from_numpy(np.array(image)).permute(2, 0, 1).contiguous(),
                torch.from_numpy(np.array(mask, dtype=np.int64)))


def images_per_s(loader: DataLoader, images: int) -> float:
    start = time.perf_counter()
    seen = 0
    for x, _ in loader:
        seen += x.shape[0]
    assert seen == images
    return seen / (time.perf_counter() - start)


def training(root: Path, rounds: int) -> None:
    images, masks = voc_files(root, "train")
    n = len(images) // BATCH * BATCH
    ours = Augmented(LabelledImages(VOC, images, masks), train_transform(Augment(crop=CROP), VOC), seed=0)
    loaders = {"segbench (v2, uint8 tensors)": train_loader(ours, BATCH, 0, 0, torch.device("cpu")),
               "PIL joint transforms": DataLoader(PILJoint(images, masks, 0), batch_size=BATCH, shuffle=True,
                                                  drop_last=True)}
    rates = {name: [] for name in loaders}
    for r in range(rounds):
        for name in (list(loaders) if r % 2 == 0 else list(loaders)[::-1]):   # alternate the order each round
            rates[name].append(images_per_s(loaders[name], n))
    base = statistics.median(rates["PIL joint transforms"])
    print(f"training pipeline, 1 process, crop {CROP}, batch {BATCH}, {n} images x {rounds} rounds:")
    for name, rs in rates.items():
        print(f"  {name:30s} median {statistics.median(rs):6.1f} images/s  (rounds: "
              f"{', '.join(f'{x:.1f}' for x in rs)})  ratio {statistics.median(rs) / base:.2f}x")


def evaluation(root: Path, rounds: int) -> None:
    val = LabelledImages(VOC, *voc_files(root, "val"))
    cached = [val[i] for i in range(len(val))]   # decoded once: time the network and the batching only

    class Decoded(Dataset):
        info = VOC
        num_classes, ignore_index, mean, std = VOC.num_classes, VOC.ignore_index, VOC.mean, VOC.std

        def __len__(self):
            return len(cached)

        def __getitem__(self, i):
            return cached[i]

        def sizes(self):
            return val.sizes()
    torch.manual_seed(0)
    model = models.build("fcn", 21, skip=8, width=0.25, batch_norm=True).eval()
    results, times = {}, {8: [], 1: []}
    for r in range(rounds):
        for batch in ((8, 1) if r % 2 == 0 else (1, 8)):
            start = time.perf_counter()
            results[batch] = evaluate(model, Decoded(), batch, 0.0075, torch.device("cpu"))["metrics"]
            times[batch].append(len(cached) / (time.perf_counter() - start))
    same = results[8] == results[1]
    b8, b1 = statistics.median(times[8]), statistics.median(times[1])
    print(f"evaluation, FCN-8s width 0.25, {len(cached)} images of {len(set(val.sizes()))} sizes, {rounds} rounds:")
    print(f"  same-size batches of 8  median {b8:6.2f} images/s; batch 1 {b1:6.2f} images/s; ratio {b8 / b1:.2f}x; "
          f"metrics identical: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=96, help="training images (val: half as many)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        write_voc(tmp, train=args.images, val=args.images // 2, sizes=VOC_SIZES)
        print(f"{os.cpu_count()} CPUs, {args.threads} torch threads, torch {torch.__version__}")
        training(Path(tmp), args.rounds)
        evaluation(Path(tmp), args.rounds)


if __name__ == "__main__":
    main()
