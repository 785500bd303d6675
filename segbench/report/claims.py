"""The claims a suite tests ("FCN-8s beats FCN-16s in mIoU"), judged over seeds: reproduced, contradicted, or
undecided when the paired gap is within 2 × the pooled seed std or fewer than 2 seeds have both sides.

A suite's `claims:` are copied by `segbench run` to results/<suite>/claims.json, so that the report (and
`segbench check`) stay functions of the results folder alone.
"""

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..records import load_suite_list, save_suite_list
from .stats import Summary, paired_differences, summarise
from .tables import Cell, Table
from .variants import Variant

FILE = "claims.json"
SIGMAS = 2.0


def save(results_dir: Path, suite: str, version: str, claims: list[dict[str, Any]]) -> None:
    save_suite_list(results_dir, FILE, "claims", suite, version, claims)


def load(results_dir: Path) -> list[dict[str, Any]]:
    return load_suite_list(results_dir, FILE, "claims")


@dataclass(frozen=True)
class Judged:
    claim: dict[str, Any]
    better: Summary
    worse: Summary
    gap: Summary          # better − worse, paired by seed
    allowed: float | None  # SIGMAS × pooled seed std
    verdict: str           # reproduced, contradicted, undecided (...), not measured


def judge(claim: dict[str, Any], vs: list[Variant]) -> Judged:
    """One claim against the variants of a results folder (accuracy metrics: higher is better)."""
    by_label = {v.label: v for v in vs}
    sides = [_by_seed(by_label.get(claim[side]), claim["metric"]) for side in ("better", "worse")]
    better, worse = (summarise(list(s.values())) for s in sides)
    gap = paired_differences(sides[1], sides[0])
    if not sides[0] or not sides[1]:
        return Judged(claim, better, worse, gap, None, "not measured")
    if gap.n < 2:
        return Judged(claim, better, worse, gap, None, "undecided (fewer than 2 seeds)")
    allowed = SIGMAS * math.sqrt(((better.std or 0) ** 2 + (worse.std or 0) ** 2) / 2)
    verdict = "reproduced" if gap.mean > allowed else "contradicted" if gap.mean < -allowed else "undecided"
    return Judged(claim, better, worse, gap, allowed, verdict)


def _by_seed(v: Variant | None, metric: str) -> dict[int, float | None]:
    return {r["spec"]["seed"]: r["metrics"].get(metric) for r in v.ok} if v else {}


def claims_table(judged: list[Judged]) -> Table:
    """Claim, metric, both sides' mean ± std (×100), the paired gap, the noise allowance, the verdict."""
    headers = ["claim", "metric", "better side", "worse side", "gap (paired)", "noise (2σ)", "verdict", "source"]
    rows = [[Cell(f"{j.claim['better']} > {j.claim['worse']}"), Cell(j.claim["metric"]), Cell(_text(j.better)),
             Cell(_text(j.worse)), Cell(_text(j.gap, signed=True)),
             Cell("–" if j.allowed is None else f"{100 * j.allowed:.1f}"), Cell(j.verdict, bold=j.verdict in
                                                                                ("reproduced", "contradicted")),
             Cell(j.claim.get("source") or "")] for j in judged]
    return Table(headers, rows, ["l", "l", "r", "r", "r", "r", "l", "l"])


def _text(s: Summary, signed: bool = False) -> str:
    if s.mean is None:
        return "–"
    mean = f"{100 * s.mean:+.1f}" if signed else f"{100 * s.mean:.1f}"
    return mean + (f" ± {100 * s.std:.1f}" if s.std is not None else "") + f" (n={s.n})"
