"""Regression checks: freeze a results folder's figures as a baseline, compare another against it.

Accuracy (points, ×100) regresses when it drops by more than allowed = max(tolerance, sigma × pooled std over
seeds). Speed and memory (relative %) count only between records of one machine, and a change only when it
exceeds both the tolerance and the measured spread of the two sides (asv's rule). A baseline variant that is
missing or failed now fails the check; a new variant is reported and does not. A claim of the suite that
the baseline reproduced and the current results no longer do fails the check.
"""

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from . import __version__, results
from .config import CheckConfig
from .errors import ResultsError
from .metric_info import HIGHER_IS_BETTER, SPEED_HIGHER_IS_BETTER as SPEED
from .records import json_safe, load_records
from .report import claims
from .report.variants import Variant, variants

BASELINE_VERSION = 1
ACCURACY = results.METRICS
SPREAD = {"latency_ms": "network_std_ms"}   # the probe's own spread over its timed passes


@dataclass
class Verdict:
    variant: str
    metric: str
    baseline: float | None
    current: float | None
    delta: float | None
    allowed: float | None
    verdict: str                     # pass, regressed, improved, missing, new, not comparable (...)

    @property
    def fails(self) -> bool:
        return self.verdict in ("regressed", "missing") or self.verdict.startswith(("not comparable (strict",
                                                                                  "claim lost"))


def freeze(results_dir: Path, on_skip: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The baseline of a results folder: per variant and machine, each figure's mean, std and n; the verdict
    of each of the suite's claims."""
    vs = _variants(results_dir, on_skip)
    return _freeze(results.frame(vs)) | {"claims": _claims(results_dir, vs)}


def _variants(results_dir: Path, on_skip: Callable[[str], None] | None) -> list[Variant]:
    return variants(load_records(Path(results_dir), on_skip))


def _claims(results_dir: Path, vs: list[Variant]) -> list[dict[str, Any]]:
    return [c | {"gap": j.gap.mean, "allowed": j.allowed, "verdict": j.verdict}
            for c, j in ((c, claims.judge(c, vs)) for c in claims.load(results_dir))]


def _freeze(runs: pd.DataFrame) -> dict[str, Any]:
    stats = results.aggregate(runs, (*ACCURACY, *SPEED, *SPREAD.values()))
    suites = sorted(set(runs["suite"]))
    return {"baseline_version": BASELINE_VERSION, "suite": suites[0] if len(suites) == 1 else suites,
            "suite_versions": sorted(set(runs["suite_version"])), "segbench": __version__,
            "commit": runs.iloc[0]["git_commit"],
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "variants": json_safe(stats.to_dict(orient="records"))}   # NaN (no spread of one seed) -> None


def compare(baseline: dict[str, Any], current_dir: Path, tol: CheckConfig,
            on_skip: Callable[[str], None] | None = None) -> list[Verdict]:
    """One verdict per baseline variant and metric of `tol.metrics`, plus one per new variant."""
    vs = _variants(current_dir, on_skip)
    now = _freeze(results.frame(vs))
    if baseline.get("suite") != now["suite"]:
        raise ResultsError(f"the baseline is of suite {baseline.get('suite')!r}, {current_dir} of {now['suite']!r}: "
                           "compare results of the suite the baseline was made from")
    current = pd.DataFrame(now["variants"])
    verdicts = []
    for base in baseline["variants"]:
        rows = current[current["variant"] == base["variant"]]
        if rows.empty:
            verdicts.append(Verdict(base["variant"], "all", None, None, None, None, "missing"))
            continue
        same_machine = rows[rows["machine_id"] == base["machine_id"]]
        cur = json_safe((same_machine if not same_machine.empty else rows).iloc[0].to_dict())
        verdicts += [_verdict(base, cur, metric, tol, not same_machine.empty) for metric in tol.metrics]
    known = {b["variant"] for b in baseline["variants"]}
    verdicts += [Verdict(v, "all", None, None, None, None, "new") for v in dict.fromkeys(current["variant"])
                 if v not in known]
    return verdicts + _claim_verdicts(baseline.get("claims", []), _claims(current_dir, vs))


def _claim_verdicts(before: list[dict[str, Any]], now: list[dict[str, Any]]) -> list[Verdict]:
    """A claim reproduced in the baseline must still be reproduced."""
    key = lambda c: (c["better"], c["worse"], c["metric"])   # noqa: E731
    current = {key(c): c for c in now}
    out = []
    for c in (c for c in before if c["verdict"] == "reproduced"):
        cur = current.get(key(c), {})
        held = cur.get("verdict") == "reproduced"
        gap = cur.get("gap")
        out.append(Verdict(f"{c['better']} > {c['worse']}", f"claim {c['metric']}", c["gap"], gap,
                           None if gap is None else gap - c["gap"], cur.get("allowed"),
                           "pass" if held else f"claim lost ({cur.get('verdict', 'not declared')})"))
    return out


def _verdict(base: dict, cur: dict, metric: str, tol: CheckConfig, same_machine: bool) -> Verdict:
    b, c = base.get(f"{metric}_mean"), cur.get(f"{metric}_mean")
    label = base["variant"]
    if b is None or c is None:
        return Verdict(label, metric, b, c, None, None, "missing" if b is not None else "not measured")
    if metric in SPEED:
        if not same_machine:
            kind = "strict" if tol.strict_machine else "different machine"
            return Verdict(label, metric, b, c, c - b, None, f"not comparable ({kind})")
        return _speed(label, metric, b, c, base, cur, tol)
    pooled = _pooled_std(base.get(f"{metric}_std"), base.get(f"{metric}_n"), cur.get(f"{metric}_std"),
                         cur.get(f"{metric}_n"))
    allowed = max(tol.tolerance(metric), tol.sigma * pooled)
    return Verdict(label, metric, b, c, c - b, allowed, _direction(c - b, allowed, HIGHER_IS_BETTER[metric]))


def _speed(label: str, metric: str, b: float, c: float, base: dict, cur: dict, tol: CheckConfig) -> Verdict:
    spread_key = SPREAD.get(metric)
    spread = sum(x.get(f"{spread_key}_mean") or 0 for x in (base, cur)) if spread_key else 0.0
    allowed = max(tol.tolerance(metric) * abs(b), spread)
    return Verdict(label, metric, b, c, c - b, allowed, _direction(c - b, allowed, SPEED[metric]))


def _direction(delta: float, allowed: float, higher_is_better: bool) -> str:
    gain = delta if higher_is_better else -delta
    return "regressed" if gain < -allowed else "improved" if gain > allowed else "pass"


def _pooled_std(s1: float | None, n1: int | None, s2: float | None, n2: int | None) -> float:
    parts = [(s, n) for s, n in ((s1, n1), (s2, n2)) if s is not None and n and n > 1 and not math.isnan(s)]
    dof = sum(n - 1 for _, n in parts)
    return math.sqrt(sum(s * s * (n - 1) for s, n in parts) / dof) if dof else 0.0


def as_rows(verdicts: list[Verdict]) -> list[dict[str, Any]]:
    return [asdict(v) | {"fails": v.fails} for v in verdicts]


def markdown(verdicts: list[Verdict]) -> str:
    """The verdicts as a Markdown table (accuracy ×100, speed in its units), ready for a pull-request comment."""
    lines = ["| variant | metric | baseline | current | delta | allowed | verdict |", "|:---|:---|---:|---:|---:|---:|:---|"]
    for v in verdicts:
        scale = 100 if v.metric in ACCURACY or v.metric.startswith("claim ") else 1
        cells = [_number(x, scale) for x in (v.baseline, v.current, v.delta, v.allowed)]
        mark = f"**{v.verdict}**" if v.fails else v.verdict
        lines.append(f"| {v.variant} | {v.metric} | " + " | ".join(cells) + f" | {mark} |")
    failed = sum(v.fails for v in verdicts)
    return "\n".join(lines) + f"\n\n{failed} of {len(verdicts)} checks failed\n"


def _number(value: float | None, scale: float) -> str:
    return "–" if value is None else f"{value * scale:.2f}"


def junit(verdicts: list[Verdict], suite: str) -> str:
    """JUnit XML: one test case per variant and metric; regressions and missing variants are failures."""
    from xml.sax.saxutils import quoteattr

    cases = []
    for v in verdicts:
        body = (f'<failure message={quoteattr(v.verdict)}>baseline {v.baseline} current {v.current} allowed '
                f'{v.allowed}</failure>' if v.fails else "")
        cases.append(f'  <testcase classname={quoteattr(suite + "." + v.variant)} name={quoteattr(v.metric)}>'
                     f'{body}</testcase>')
    failures = sum(v.fails for v in verdicts)
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<testsuite name={quoteattr("segbench check " + suite)} '
            f'tests="{len(verdicts)}" failures="{failures}">\n' + "\n".join(cases) + "\n</testsuite>\n")
