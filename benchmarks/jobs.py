"""Why `segbench run --jobs`: one training with every core against one single-threaded training per core.

Usage: python benchmarks/jobs.py [--suite suites/quick.yaml] [--steps 60] [--cores N]

For each training of the suite's first seed, segbench.train.fit runs `--steps` steps (the suite's batch,
data and recipe, pinned AVX2 kernels, deterministic algorithms) in fresh processes: once alone with N threads,
then as N single-threaded processes at the same time, as `--jobs N` runs them. Figures are ms per step; the
ratio is the steps per second of the N processes together over those of the one with N threads (above 1:
the jobs train more per second).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

HERE = os.path.abspath(__file__)


def trainings(suite_file: str) -> list:
    from segbench.matrix import expand
    from segbench.suitefile import load_suite

    specs = expand(load_suite(suite_file))
    firsts: dict[str, object] = {}
    for spec in specs:
        if spec.seed == specs[0].seed:
            firsts.setdefault(spec.train_key, spec)   # the CRF variants share their run's training
    return list(firsts.values())


def child(suite_file: str, index: int, threads: int, steps: int) -> None:
    """Time `steps` steps of training `index` at `threads` threads; print the seconds as JSON."""
    import torch

    from segbench import data, models
    from segbench.config import Reproducible
    from segbench.determinism import pin
    from segbench.train import fit

    pin(Reproducible(threads=threads))
    spec = trainings(suite_file)[index]
    train_set = data.for_training(spec.dataset, data.build_cached(spec.dataset, "train"), spec.seed)
    torch.manual_seed(spec.seed)
    model = models.build(spec.arch, train_set.num_classes, **spec.model_options)
    info = fit(model, train_set, spec.train.model_copy(update={"iterations": steps, "deterministic": True}),
               spec.seed, torch.device("cpu"))
    print(json.dumps({"wall_s": info["wall_s"]}))


def timed(args: argparse.Namespace, index: int, threads: int, copies: int) -> list[float]:
    command = [sys.executable, HERE, "--suite", args.suite, "--child", str(index), str(threads), str(args.steps)]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(copies)]
    return [1e3 * json.loads(p.communicate()[0])["wall_s"] / args.steps for p in procs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="suites/quick.yaml")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--child", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.suite, *args.child)
        return
    print(f"{args.suite}, {args.steps} steps per training, {args.cores} cores")
    ratios = []
    for index, spec in enumerate(trainings(args.suite)):
        alone = timed(args, index, args.cores, 1)[0]
        side_by_side = timed(args, index, 1, args.cores)
        ratio = (args.cores / max(side_by_side)) / (1 / alone)
        ratios.append(ratio)
        print(f"{spec.label:<40} {args.cores} threads {alone:6.1f} ms/step | {args.cores} x 1 thread "
              + " ".join(f"{t:6.1f}" for t in side_by_side) + f" ms/step | {ratio:.2f}x the steps per second")
    print(f"geometric mean {statistics.geometric_mean(ratios):.2f}x")


if __name__ == "__main__":
    main()
