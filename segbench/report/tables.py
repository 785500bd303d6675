"""Aggregating run records into tables: one row per variant, seeds as mean ± std."""

from dataclasses import dataclass
from typing import Any

import numpy as np

METRIC_COLUMNS = (("miou", "mIoU"), ("bf1", "BF1"), ("pixel_acc", "pixel acc"), ("mean_acc", "mean acc"),
                  ("fwiou", "fwIoU"))


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    align: list[str]          # "l" or "r" per column


@dataclass
class Variant:
    label: str
    arch: str
    ok: list[dict[str, Any]]
    failed: list[dict[str, Any]]


def variants(records: list[dict[str, Any]]) -> list[Variant]:
    """Records grouped by variant, in suite order (records arrive sorted)."""
    grouped: dict[str, Variant] = {}
    for r in records:
        spec = r["spec"]
        v = grouped.setdefault(spec["variant_key"], Variant(spec["label"], spec["arch"], [], []))
        (v.ok if r["status"] == "ok" else v.failed).append(r)
    return list(grouped.values())


def mean_std(values: list[float | None]) -> tuple[float, float | None, int]:
    """Mean, sample std (None for one value) and count, ignoring missing values."""
    xs = np.array([v for v in values if v is not None], dtype=float)
    if xs.size == 0:
        return float("nan"), None, 0
    return float(xs.mean()), (float(xs.std(ddof=1)) if xs.size > 1 else None), int(xs.size)


def percent(mean: float, std: float | None) -> str:
    if mean != mean:
        return "–"
    return f"{100 * mean:.1f}" + (f" ± {100 * std:.1f}" if std is not None else "")


def main_table(vs: list[Variant]) -> Table:
    """Variant | seeds | metrics (×100, ↑ = higher is better, best in bold) | params (M)."""
    headers = ["variant", "seeds"] + [f"{name} ↑" for _, name in METRIC_COLUMNS] + ["params (M)"]
    stats = [[mean_std([r["metrics"][key] for r in v.ok]) for key, _ in METRIC_COLUMNS] for v in vs]
    best = [max((s[i][0] for s in stats if s[i][2]), default=None) for i in range(len(METRIC_COLUMNS))]
    rows = []
    for v, row_stats in zip(vs, stats):
        seeds = f"{len(v.ok)}" + (f" (+{len(v.failed)} failed)" if v.failed else "")
        cells = []
        for i, (m, s, n) in enumerate(row_stats):
            text = percent(m, s)
            cells.append(f"**{text}**" if n and len(vs) > 1 and m == best[i] else text)
        params = f"{v.ok[0]['model']['params']['total'] / 1e6:.2f}" if v.ok else "–"
        rows.append([v.label, seeds] + cells + [params])
    return Table(headers, rows, ["l", "r"] + ["r"] * (len(headers) - 2))


def per_class_table(vs: list[Variant], key: str, class_names: list[str]) -> Table:
    """Variant × class table of a per-class metric (×100, mean over seeds)."""
    rows = []
    for v in vs:
        if not v.ok:
            continue
        cells = [percent(mean_std([r["per_class"][key][c] for r in v.ok])[0], None)
                 for c in range(len(class_names))]
        rows.append([v.label] + cells)
    return Table(["variant"] + class_names, rows, ["l"] + ["r"] * len(class_names))


def failures_table(vs: list[Variant]) -> Table:
    rows = [[v.label, str(r["spec"]["seed"]), r["run_id"], r["error"] or ""] for v in vs for r in v.failed]
    return Table(["variant", "seed", "run", "error"], rows, ["l", "r", "l", "l"])
