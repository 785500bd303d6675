"""A results folder as pandas DataFrames: one row per run with flat columns, and per-variant statistics.

    from segbench import results
    runs = results.load("results/quick")                  # one row per run
    results.aggregate(runs)[["variant", "miou_mean", "miou_std", "miou_n"]]

Columns of `load` (metrics as fractions, as in the records):
- identity: suite, suite_version, variant (the report's label), variant_key, run_id, train_key, arch, seed,
  status, error;
- `option.<name>` for each option (`option.skip`, `option.crf`, ...);
- metrics: miou, bf1, pixel_acc, mean_acc, fwiou; per class `iou.<class>`, `acc.<class>`, `bf1.<class>`;
- cost and speed: params, gflops (per image), latency_ms (median per image, end to end), network_ms (the
  network's median per pass), network_p90_ms, network_std_ms, images_per_s, inference_peak_mb,
  train_step_peak_mb;
- machine_id, device, device_name, threads, cpu_capability (ATen's kernel level), reproducible (the suite's
  switch was on), torch, segbench, git_commit; wall_s, train_wall_s.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from .records import load_records
from .report.tables import get_path as _get
from .report.tables import gflops_per_image, latency_ms
from .report.variants import Variant, variants

METRICS = ("miou", "bf1", "pixel_acc", "mean_acc", "fwiou")
PROBE = {"network_ms": ("latency_ms", "median"), "network_p90_ms": ("latency_ms", "p90"),
         "network_std_ms": ("latency_ms", "std"), "images_per_s": ("throughput", "images_per_s"),
         "inference_peak_mb": ("memory", "inference_peak_mb"), "train_step_peak_mb": ("memory", "train_step_peak_mb")}
ENVIRONMENT = ("machine_id", "device", "device_name", "threads", "torch", "segbench", "git_commit")


def row(record: dict[str, Any], label: str) -> dict[str, Any]:
    """One run's flat columns."""
    spec, probe = record["spec"], record.get("probe") or {}
    out = {"suite": spec["suite"], "suite_version": spec["suite_version"], "variant": label,
           "variant_key": spec["variant_key"], "run_id": record["run_id"], "train_key": record["train_key"],
           "arch": spec["arch"], "seed": spec["seed"], "status": record["status"], "error": record.get("error")}
    out |= {f"option.{k}": v for k, v in spec["options"].items()}
    out |= {m: _get(record, "metrics", m) for m in METRICS}
    names = _get(record, "data", "class_names") or []
    for key in ("iou", "acc", "bf1"):
        values = _get(record, "per_class", key) or []
        out |= {f"{key}.{name}": value for name, value in zip(names, values)}
    out |= {"params": _get(record, "model", "params", "total"), "gflops": gflops_per_image(record),
            "latency_ms": latency_ms(record)}
    out |= {name: _get(probe, *path) for name, path in PROBE.items()}
    out |= {name: _get(record, "environment", name) for name in ENVIRONMENT}
    out |= {"cpu_capability": _get(record, "environment", "numerics", "cpu_capability"),
            "reproducible": spec.get("reproducible") is not None}
    return out | {"wall_s": record.get("wall_s"), "train_wall_s": _get(record, "train", "wall_s")}


def load(results_dir: str | Path, on_skip: Callable[[str], None] | None = None) -> pd.DataFrame:
    """One row per run of the folder (failed runs included), in suite order; invalid records are skipped (and
    named to `on_skip`)."""
    return frame(variants(load_records(Path(results_dir), on_skip)))


def frame(vs: list[Variant]) -> pd.DataFrame:
    """`load`'s frame of variants already read (segbench.report.variants)."""
    rows = [row(r, v.label) for v in vs for r in sorted(v.records, key=lambda r: (r["spec"]["seed"], r["run_id"]))]
    return pd.DataFrame(rows)


def aggregate(runs: pd.DataFrame, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Per variant (and machine, as speed is per machine): mean, sample std and n over the successful runs of
    each numeric column (default: the metrics and the speed and memory figures)."""
    columns = columns or (*METRICS, "latency_ms", "network_ms", "images_per_s", "inference_peak_mb", "params",
                          "gflops")
    ok = runs[runs["status"] == "ok"]
    keys = ["variant", "variant_key", "arch", "machine_id"]
    grouped = ok.groupby(keys, sort=False)[list(columns)].agg(["mean", "std", "count"])
    grouped.columns = [f"{c}_{stat.replace('count', 'n')}" for c, stat in grouped.columns]
    return grouped.reset_index()
