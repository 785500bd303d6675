"""Run-to-run stability of the latency probe: the same model profiled in separate processes.

Usage: python benchmarks/probe_stability.py [--runs 10] [--threads 1] [--quick]

Each run is a fresh `python -m segbench profile ... --json` process (new allocator, new thread
pool, new caches); the figure is the coefficient of variation (std / mean) of the runs' median
latencies. Target: CV < 5% on CPU with a fixed thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TARGET_CV = 0.05


def profile_once(args: argparse.Namespace) -> dict:
    cmd = [sys.executable, "-m", "segbench", "profile", "fcn", "--set", f"width={args.width}", "--set", "skip=8",
           "--input", f"1x3x{args.size}x{args.size}", "--device", "cpu", "--threads", str(args.threads),
           "--repeats", str(args.repeats), "--warmup", str(args.warmup), "--throughput-batch", "2", "--json"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["results"][0]["probe"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="separate processes (default 10)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, fixed by the probe (default 1)")
    parser.add_argument("--width", type=float, default=0.125, help="FCN-8s channel multiplier (default 0.125)")
    parser.add_argument("--size", type=int, default=128, help="input height and width (default 128)")
    parser.add_argument("--repeats", type=int, default=30, help="timed passes per run (the probe's default)")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up passes per run (the probe's default)")
    parser.add_argument("--quick", action="store_true", help="3 runs")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; FCN-8s width {args.width} at "
          f"1x3x{args.size}x{args.size}, {runs} separate processes")
    probes = [profile_once(args) for _ in range(runs)]
    print("what the probe does:", probes[0]["method"]["latency"])
    medians = [p["latency_ms"]["median"] for p in probes]
    mins = [p["latency_ms"]["min"] for p in probes]
    for i, p in enumerate(probes):
        lat = p["latency_ms"]
        print(f"  run {i + 1:2d}: median {lat['median']:8.3f} ms  p90 {lat['p90']:8.3f}  min {lat['min']:8.3f}  "
              f"std {lat['std']:6.3f}")
    cv = statistics.stdev(medians) / statistics.fmean(medians)
    cv_min = statistics.stdev(mins) / statistics.fmean(mins)
    print(f"CV of the median over {runs} processes: {100 * cv:.2f}% (target < {100 * TARGET_CV:.0f}%: "
          f"{'met' if cv < TARGET_CV else 'NOT met'}); CV of the min: {100 * cv_min:.2f}%; "
          f"median of medians {statistics.median(medians):.3f} ms; load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
