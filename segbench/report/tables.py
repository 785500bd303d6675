"""Report tables, format-neutral: the main comparison, speed per machine, per-class scores, failures.

Cells hold display text (metrics ×100); renderers add bold, italics and rules. The best value of a
column is bold where at least two measured variants have one (reference rows never compete).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..metric_info import HIGHER_IS_BETTER
from .stats import Summary, summarise
from .variants import Variant

Record = dict[str, Any]


@dataclass
class Cell:
    text: str
    bold: bool = False
    detail: str = ""          # shown by the HTML only: the 95% confidence interval

    @property
    def has_value(self) -> bool:
        """Whether the cell shows something (not empty, not the missing-value dash): what italics apply to."""
        return self.text not in ("", "–")


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Cell]]
    align: list[str]                                   # "l" or "r" per column
    italic: set[int] = field(default_factory=set)      # rows in italics (published reference numbers)
    breaks: set[int] = field(default_factory=set)      # rows that start a group (a rule above them)


@dataclass(frozen=True)
class Column:
    key: str                  # metric name in records and CSV files
    title: str
    value: Callable[[Record], float | None]
    higher_is_better: bool
    scale: float = 100.0      # display = value × scale
    digits: int = 1
    machine_bound: bool = False   # a speed or memory figure: comparable on one machine only
    spread: bool = True           # show ± std (not for what seeds cannot change, like parameter counts)

    @property
    def header(self) -> str:
        return f"{self.title} {'↑' if self.higher_is_better else '↓'}"


def get_path(record: Record, *path: str) -> Any:
    """record[path[0]][path[1]]..., None where a key is absent."""
    for key in path:
        record = record.get(key) if isinstance(record, dict) else None
    return record


def gflops_per_image(r: Record) -> float | None:
    gflops, shape = get_path(r, "probe", "gflops"), get_path(r, "probe", "input_shape")
    return gflops / shape[0] if gflops is not None and shape else None


def latency_ms(r: Record) -> float | None:
    """Median time per image of what the run does: network + post-processing (end to end) when recorded."""
    return get_path(r, "probe", "end_to_end_ms", "median") or get_path(r, "probe", "latency_ms", "median")


ACCURACY = [Column(key, title, lambda r, k=key: get_path(r, "metrics", k), HIGHER_IS_BETTER[key]) for key, title in
            (("miou", "mIoU"), ("bf1", "BF1"), ("pixel_acc", "pixel acc"), ("mean_acc", "mean acc"),
             ("fwiou", "fwIoU"))]
COST = [Column("params", "params (M)", lambda r: get_path(r, "model", "params", "total"), False, 1e-6, 2, spread=False),
        Column("gflops", "GFLOPs", gflops_per_image, False, 1.0, 2, spread=False)]
SPEED = [Column("latency_ms", "latency (ms)", latency_ms, False, 1.0, 2, True),
         Column("images_per_s", "throughput (img/s)", lambda r: get_path(r, "probe", "throughput", "images_per_s"),
                True, 1.0, 1, True),
         Column("peak_memory_mb", "peak memory (MB)", lambda r: get_path(r, "probe", "memory", "inference_peak_mb"),
                False, 1.0, 1, True)]


def number(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def stat_cell(s: Summary, column: Column) -> Cell:
    """mean ± std (sample std over seeds); the 95% CI as detail."""
    if s.mean is None:
        return Cell("–")
    text = number(s.mean * column.scale, column.digits)
    if s.std is not None and column.spread:
        text += f" ± {number(s.std * column.scale, column.digits)}"
    ci = s.ci95
    detail = (f"95% CI {number(ci[0] * column.scale, column.digits)}–{number(ci[1] * column.scale, column.digits)}"
              if ci else "")
    return Cell(text, detail=detail)


def _mark_best(rows: list[list[Cell]], stats: list[list[Summary]], columns: list[Column], offset: int) -> None:
    """Bold the best mean of each column, compared as displayed (ties are all bold; all equal: none)."""
    for j, col in enumerate(columns):
        shown = [(i, round(s[j].mean * col.scale, col.digits)) for i, s in enumerate(stats) if s[j].mean is not None]
        if len({v for _, v in shown}) < 2:
            continue
        best = (max if col.higher_is_better else min)(v for _, v in shown)
        for i, v in shown:
            if v == best:
                rows[i][offset + j].bold = True


def seeds_text(v: Variant) -> str:
    return f"{len(v.ok)}" + (f" (+{len(v.failed)} failed)" if v.failed else "")


def variant_table(vs: list[Variant], columns: list[Column], records_of: Callable[[Variant], list[Record]],
                  first: str = "seeds") -> Table:
    """One row per variant: label | `first` | a summary over its records per column; breaks between archs."""
    rows, stats = [], []
    for v in vs:
        recs = records_of(v)
        stats.append([summarise([c.value(r) for r in recs]) for c in columns])
        rows.append([Cell(v.label), Cell(seeds_text(v) if first == "seeds" else str(len(recs)))]
                    + [stat_cell(s, c) for s, c in zip(stats[-1], columns)])
    _mark_best(rows, stats, columns, 2)
    breaks = {i for i in range(1, len(vs)) if vs[i].arch != vs[i - 1].arch}
    return Table(["variant", first] + [c.header for c in columns], rows, ["l", "r"] + ["r"] * len(columns),
                 breaks=breaks)


def main_columns(with_speed: bool) -> list[Column]:
    """Accuracy and cost; speed too when every record comes from one machine."""
    return ACCURACY + COST + (SPEED if with_speed else [])


def main_table(vs: list[Variant], with_speed: bool) -> Table:
    """The comparison: one row per variant over its successful runs."""
    return variant_table(vs, main_columns(with_speed), lambda v: v.ok)


def speed_table(vs: list[Variant], machine_id: str) -> Table:
    """Speed and memory of the runs computed on one machine."""
    def on_machine(v: Variant) -> list[Record]:
        return [r for r in v.ok if get_path(r, "environment", "machine_id") == machine_id]
    present = [v for v in vs if on_machine(v)]
    return variant_table(present, SPEED, on_machine, first="runs")


def per_class_table(vs: list[Variant], key: str, class_names: list[str]) -> Table:
    """Variant × class (as VOC papers print them): a per-class metric ×100, mean over seeds."""
    measured = [v for v in vs if v.ok]
    columns = [Column(name, name, lambda r, c=c: _class_value(r, key, c), True) for c, name in enumerate(class_names)]
    rows, stats = [], []
    for v in measured:
        stats.append([summarise([col.value(r) for r in v.ok]) for col in columns])
        rows.append([Cell(v.label)] + [Cell(number(None if s.mean is None else 100 * s.mean, 1)) for s in stats[-1]])
    _mark_best(rows, stats, columns, 1)
    breaks = {i for i in range(1, len(measured)) if measured[i].arch != measured[i - 1].arch}
    return Table(["variant"] + list(class_names), rows, ["l"] + ["r"] * len(class_names), breaks=breaks)


def _class_value(r: Record, key: str, c: int) -> float | None:
    values = get_path(r, "per_class", key) or []
    return values[c] if c < len(values) else None


def failures_table(vs: list[Variant]) -> Table:
    rows = [[Cell(v.label), Cell(str(r["spec"]["seed"])), Cell(r["run_id"]), Cell(r.get("error") or "")]
            for v in vs for r in v.failed]
    return Table(["variant", "seed", "run", "error"], rows, ["l", "r", "l", "l"])
