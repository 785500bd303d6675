"""Regenerate the README's quick-suite table from the committed records in results/quick.

    python docs/readme_tables.py           rewrite the table in README.md in place
    python docs/readme_tables.py --check   exit 1, with a diff, when README.md is not what the records give

The table sits between the marker lines below. Its values come from the report's own column definitions
(`segbench.report.tables`), one row per variant (`segbench.report.variants`), mean ± sample std over the
variant's successful seeds, as the report prints them.
"""

import argparse
import dataclasses
import difflib
import sys
from pathlib import Path
from typing import Any

from segbench.records import load_records
from segbench.report.stats import summarise
from segbench.report.tables import ACCURACY, COST, SPEED, Column, stat_cell
from segbench.report.variants import variants

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RESULTS = ROOT / "results" / "quick"
START, END = "<!-- quick-table:start -->", "<!-- quick-table:end -->"


def _column(columns: list[Column], key: str, title: str, digits: int | None = None) -> Column:
    column = next(c for c in columns if c.key == key)
    return dataclasses.replace(column, title=title, digits=column.digits if digits is None else digits)


# GFLOPs with 3 digits: at 64×64 every quick-suite model rounds to 0.05 with the report's 2. Latency with 1:
# at a few ms per image the second decimal is noise.
COLUMNS = [_column(ACCURACY, "miou", "mIoU"), _column(ACCURACY, "bf1", "BF1"),
           _column(ACCURACY, "pixel_acc", "pixel acc"), _column(COST, "gflops", "GFLOPs", digits=3),
           _column(SPEED, "latency_ms", "latency (ms, end to end)", digits=1)]


def quick_table(records: list[dict[str, Any]]) -> str:
    """The Markdown table: one row per variant in report order, one column per entry of COLUMNS."""
    lines = ["| variant | " + " | ".join(c.title for c in COLUMNS) + " |",
             "|:---|" + "---:|" * len(COLUMNS)]
    for v in variants(records):
        cells = [stat_cell(summarise([c.value(r) for r in v.ok]), c).text for c in COLUMNS]
        lines.append(f"| {v.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def with_table(readme: str, table: str) -> str:
    """The README's text with the lines between the markers replaced by `table`."""
    head, sep, rest = readme.partition(START + "\n")
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise SystemExit(f"README.md: the marker lines {START} and {END} are missing")
    return head + START + "\n" + table + END + tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the README's table is stale")
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    current = args.readme.read_text(encoding="utf-8")
    wanted = with_table(current, quick_table(load_records(args.results)))
    if current == wanted:
        print(f"{args.readme}: the quick-suite table is up to date")
        return 0
    if args.check:
        diff = difflib.unified_diff(current.splitlines(keepends=True), wanted.splitlines(keepends=True),
                                    f"{args.readme} (committed)", f"{args.readme} (from {args.results})")
        sys.stdout.writelines(diff)
        print(f"{args.readme} is stale: run `python docs/readme_tables.py` to regenerate its quick-suite table")
        return 1
    args.readme.write_text(wanted, encoding="utf-8")
    print(f"{args.readme}: quick-suite table rewritten from {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
