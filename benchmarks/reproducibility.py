"""What makes a CPU run of a suite bit-identical, in one session: the suite run in fresh processes under
settings that differ as machines of one kind differ (thread count, the instruction-set level oneDNN picks),
without and with the suite's `reproducible: true` switch.

For each setting it prints each variant's mIoU, whether the records' metrics equal those of the reference
setting bit for bit, the largest mIoU and BF1 change against it (points), and the training time as a ratio
to the reference's (the same machine, minutes apart).

    python benchmarks/reproducibility.py [--suite suites/smoke.yaml] [--keep DIR]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from segbench import results  # noqa: E402

# name, environment, reproducible switch; the first of each switch state is that state's reference
SETTINGS = [
    ("default", {}, False),
    ("default, again", {}, False),
    ("1 thread", {"OMP_NUM_THREADS": "1"}, False),
    ("oneDNN at AVX2", {"ONEDNN_MAX_CPU_ISA": "AVX2"}, False),
    ("oneDNN at AVX", {"ONEDNN_MAX_CPU_ISA": "AVX"}, False),
    ("oneDNN at AVX2, 1 thread", {"ONEDNN_MAX_CPU_ISA": "AVX2", "OMP_NUM_THREADS": "1"}, False),
    ("ATen and MKL at AVX2", {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"}, False),
    ("reproducible", {}, True),
    ("reproducible, again", {}, True),
    ("reproducible, OMP_NUM_THREADS=1 and oneDNN at AVX-512 asked", {"OMP_NUM_THREADS": "1",
                                                                     "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, True),
]


def run(suite: Path, env: dict[str, str], folder: Path) -> tuple[dict, float]:
    """Run the suite in a fresh process; (variant → (miou, bf1)), training seconds."""
    done = subprocess.run([sys.executable, "-m", "segbench", "run", str(suite), "--results", str(folder / "results"),
                           "--reports", str(folder / "reports")], env=os.environ | env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"the suite failed under {env}:\n{done.stderr[-2000:]}")
    runs = results.load(next((folder / "results").iterdir()))
    metrics = {f"{v} seed {s}": (m, b) for v, s, m, b in zip(runs["variant"], runs["seed"], runs["miou"], runs["bf1"])}
    return metrics, float(runs["train_wall_s"].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", type=Path, default=Path("suites/smoke.yaml"))
    parser.add_argument("--keep", type=Path, help="keep the results folders here")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="segbench-repro-"))
    work.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_load(args.suite.read_text())
    suites = {switch: work / f"reproducible-{switch}.yaml".lower() for switch in (False, True)}
    for switch, path in suites.items():
        path.write_text(yaml.safe_dump(text | {"reproducible": switch}))
    print(f"suite {args.suite}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}\n")
    print("| setting | mIoU per variant | metrics equal to the reference | max ΔmIoU | max ΔBF1 | training time |")
    print("|:---|:---|:---|---:|---:|---:|")
    reference: dict[bool, tuple[dict, float]] = {}
    for i, (name, env, switch) in enumerate(SETTINGS):
        metrics, seconds = run(suites[switch], env, work / f"setting{i}")
        ref, ref_s = reference.setdefault(switch, (metrics, seconds))
        same = "reference" if ref is metrics else "yes" if metrics == ref else "no"
        d_miou = max(abs(metrics[k][0] - ref[k][0]) for k in ref) * 100
        d_bf1 = max(abs(metrics[k][1] - ref[k][1]) for k in ref) * 100
        mious = " / ".join(f"{m * 100:.2f}" for m, _ in metrics.values())
        print(f"| {name} | {mious} | {same} | {d_miou:.2f} | {d_bf1:.2f} | {seconds / ref_s:.2f}× |", flush=True)
    print(f"\nvariants: {' / '.join(reference[False][0])}; reference training time: {reference[False][1]:.1f} s "
          f"unpinned, {reference[True][1]:.1f} s pinned")


if __name__ == "__main__":
    main()
