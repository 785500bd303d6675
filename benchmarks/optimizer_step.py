"""Optimizer step time: torch's per-parameter loop, its foreach path, and the fused kernel that
segbench.train uses.

Usage: python benchmarks/optimizer_step.py [--rounds 7] [--steps 50] [--threads N]

For the quick suite's heaviest optimizer states (FCN-8s and DeconvNet at width 0.125, 21 classes),
each implementation of AdamW and SGD (momentum, weight decay) steps on the same fixed gradients;
the implementations alternate round by round. Figures are median ms per step and the loop's time
over each path's (higher = faster than the loop).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from segbench import models  # noqa: E402

MODELS = {"FCN-8s": ("fcn", {"skip": 8, "batch_norm": True}), "DeconvNet": ("deconvnet", {})}
OPTIMIZERS = {"adamw": lambda params, **kw: torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-4, **kw),
              "sgd": lambda params, **kw: torch.optim.SGD(params, lr=1e-2, momentum=0.9, weight_decay=1e-4, **kw)}
PATHS = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def ms_per_step(optimizer: torch.optim.Optimizer, steps: int) -> float:
    optimizer.step()  # creates the state (moments) outside the timed steps
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.step()
    return 1e3 * (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.rounds} rounds of {args.steps} steps")
    for label, (arch, options) in MODELS.items():
        torch.manual_seed(0)
        params = list(models.build(arch, 21, width=0.125, **options).parameters())
        for p in params:
            p.grad = torch.randn_like(p) * 1e-3
        for opt_name, make in OPTIMIZERS.items():
            times: dict[str, list[float]] = {path: [] for path in PATHS}
            for r in range(args.rounds):
                for path in (list(PATHS) if r % 2 == 0 else list(PATHS)[::-1]):
                    times[path].append(ms_per_step(make(params, **PATHS[path]), args.steps))
            loop = statistics.median(times["loop"])
            figures = ", ".join(f"{path} {statistics.median(t):.2f} ms ({loop / statistics.median(t):.2f}x)"
                                for path, t in times.items())
            print(f"  {label} ({sum(p.numel() for p in params) / 1e6:.2f}M params, {len(params)} tensors), "
                  f"{opt_name}: {figures}")


if __name__ == "__main__":
    main()
