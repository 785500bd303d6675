"""Ablations read off the suite itself: pairs of variants of one architecture that differ in exactly one
option or setting (FCN skip 32 → 16 → 8, DeepLab ASPP × CRF, ...), with the change in accuracy.
"""

import json
from dataclasses import dataclass

from ..text import option_text
from .stats import paired_differences
from .tables import Cell, Column, Table, number
from .variants import Variant, coordinates, tagged


@dataclass
class Step:
    before: Variant
    after: Variant
    key: str                  # the one coordinate that changes


def steps(vs: list[Variant]) -> list[Step]:
    """Consecutive pairs (in suite order) among variants that agree on everything but one coordinate."""
    measured = [v for v in vs if v.ok]
    coords = {v.key: coordinates(v.spec) for v in measured}
    found = []
    for key in sorted({k for c in coords.values() for k in c}):
        chains: dict[tuple, list[Variant]] = {}
        for v in measured:
            rest = tuple(sorted((k, x) for k, x in coords[v.key].items() if k != key))
            chains.setdefault((v.arch, rest), []).append(v)
        for chain in chains.values():
            chain.sort(key=lambda v: v.spec["order"])
            found += [Step(a, b, key) for a, b in zip(chain, chain[1:])]
    return sorted(found, key=lambda s: (s.before.spec["order"], s.after.spec["order"]))


def change_text(step: Step) -> str:
    """'+crf' / '−crf' for a switch, 'skip 32 → 16' otherwise."""
    old = json.loads(coordinates(step.before.spec)[step.key])
    new = json.loads(coordinates(step.after.spec)[step.key])
    if isinstance(old, bool) and isinstance(new, bool):
        return f"{'+' if new else '−'}{step.key}"
    return f"{step.key} {option_text(old)} → {option_text(new)}"


def context(step: Step) -> str:
    """The variant's label without the changing option or setting: what the step is taken at."""
    v = step.before
    base = " ".join(t for t in v.spec["label"].split(" ") if not t.startswith(f"{step.key}="))
    return tagged(base, {k: x for k, x in v.tags.items() if k != step.key})


def ablation_table(vs: list[Variant], columns: list[Column]) -> Table:
    """One row per step: where, what changes, and Δ of each column (×100), paired by seed."""
    headers = ["variant", "change"] + [f"Δ {c.title}" for c in columns]
    rows = []
    for step in steps(vs):
        cells = [Cell(context(step)), Cell(change_text(step))]
        for c in columns:
            diff = paired_differences({r["spec"]["seed"]: c.value(r) for r in step.before.ok},
                                      {r["spec"]["seed"]: c.value(r) for r in step.after.ok})
            cells.append(_delta_cell(diff.mean, diff.std, c))
        rows.append(cells)
    return Table(headers, rows, ["l", "l"] + ["r"] * len(columns))


def _delta_cell(mean: float | None, std: float | None, c: Column) -> Cell:
    if mean is None:
        return Cell("–")
    text = number(abs(mean) * c.scale, c.digits)
    sign = "−" if mean < 0 and float(text) != 0 else "+"
    return Cell(sign + text + (f" ± {number(std * c.scale, c.digits)}" if std is not None else ""))
