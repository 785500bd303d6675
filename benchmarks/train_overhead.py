"""Harness overhead: segbench's training loop against a bare PyTorch loop.

Usage: python benchmarks/train_overhead.py [--rounds 9] [--steps 30] [--threads N] [--quick]

Both loops train the same model (the same initial weights every time) on the same pre-rendered
data, with the same batch size and optimizer, in this process, alternating round by round (the
order flips each round). segbench.train.fit runs as `segbench run` calls it: with the progress
display's step callback (plain lines, written to memory), poly schedule, loss logging and
divergence checks. Figures are images/s of whole calls, by the wall clock and by the process's
CPU time; target overhead <= 5%.
"""

from __future__ import annotations

import argparse
import copy
import io
import os
import statistics
import sys
import time
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from rich.console import Console
from torch.utils.data import DataLoader

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from segbench import data, models  # noqa: E402
from segbench.config import TrainConfig  # noqa: E402
from segbench.dataconfig import ShapesConfig  # noqa: E402
from segbench.progress import Progress  # noqa: E402
from segbench.train import fit  # noqa: E402

TARGET_OVERHEAD = 0.05
# the smoke suite's training settings
TRAIN = {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4, "batch_size": 16,
         "iterations": None, "epochs": None, "poly_power": 0.9, "amp": True, "deterministic": False,
         "num_workers": 0, "object_crops": 0}


def bare_loop(model: torch.nn.Module, dataset, steps: int) -> None:
    """What a user writes: shuffled batches, normalise, forward, cross-entropy, backward, (fused) SGD step."""
    loader = DataLoader(dataset, batch_size=TRAIN["batch_size"], shuffle=True, drop_last=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=TRAIN["lr"], momentum=TRAIN["momentum"],
                                weight_decay=TRAIN["weight_decay"], fused=True)  # as fit's, so as to time the loop
    mean = torch.tensor(dataset.mean).view(1, -1, 1, 1)
    std = torch.tensor(dataset.std).view(1, -1, 1, 1)
    model.train()
    step = 0
    while step < steps:
        for images, target in loader:
            x = (images.float() / 255 - mean) / std
            loss = F.cross_entropy(model(x), target, ignore_index=dataset.ignore_index)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            if step == steps:
                break


def segbench_loop(model: torch.nn.Module, dataset, steps: int) -> None:
    progress = Progress(Console(file=io.StringIO()))
    progress.training(SimpleNamespace(label="fcn", seed=0), steps)
    fit(model, dataset, TrainConfig(**TRAIN | {"iterations": steps}), seed=0, device=torch.device("cpu"),
        on_step=progress.train_step)


def alternate(loops: dict, template: torch.nn.Module, dataset, rounds: int, steps: int) -> dict:
    """{(loop, clock): [images/s per round]} for the wall clock and the process's CPU time; the order of
    the loops flips each round, and one untimed round of each comes first (allocator, caches)."""
    clocks = {"wall": time.perf_counter, "cpu": time.process_time}
    rates: dict[tuple[str, str], list[float]] = {(name, c): [] for name in loops for c in clocks}
    for r in range(-1, rounds):
        for name in (list(loops) if r % 2 == 0 else list(loops)[::-1]):
            model = copy.deepcopy(template)
            start = {c: clock() for c, clock in clocks.items()}
            loops[name](model, dataset, steps)
            for c, clock in clocks.items():
                if r >= 0:
                    rates[name, c].append(steps * TRAIN["batch_size"] / (clock() - start[c]))
    return rates


def report(rates: dict) -> None:
    for clock in ("wall", "cpu"):
        for name in ("segbench fit", "bare loop"):
            values = rates[name, clock]
            print(f"  {name:13s} {clock:4s} median {statistics.median(values):7.1f} images/s  "
                  f"(rounds: {', '.join(f'{v:.1f}' for v in values)})")
        overhead = statistics.median(rates["bare loop", clock]) / statistics.median(rates["segbench fit", clock]) - 1
        met = "met" if overhead <= TARGET_OVERHEAD else "NOT met"
        print(f"  overhead of segbench's loop, {clock} clock: {100 * overhead:+.1f}% "
              f"(target <= {100 * TARGET_OVERHEAD:.0f}%: {met})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=30, help="training steps per call")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--quick", action="store_true", help="2 rounds of 15 steps")
    args = parser.parse_args()
    rounds, steps = (2, 15) if args.quick else (args.rounds, args.steps)
    torch.set_num_threads(args.threads)
    dataset = data.Cached(data.build(ShapesConfig(name="shapes", image_size=64, train_samples=512, val_samples=1),
                                     "train"))
    for i in range(len(dataset)):
        dataset[i]  # render every scene now, outside the timed calls
    torch.manual_seed(0)
    template = models.build("fcn", dataset.num_classes, skip=8, width=0.125, batch_norm=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}; "
          f"FCN-8s width 0.125 BN, 64x64, batch {TRAIN['batch_size']}, SGD; {rounds} rounds of {steps} steps "
          f"(cpu = the process's CPU time: less sensitive to other processes; with 1 thread, no spin-waits)")
    report(alternate({"segbench fit": segbench_loop, "bare loop": bare_loop}, template, dataset, rounds, steps))


if __name__ == "__main__":
    main()
