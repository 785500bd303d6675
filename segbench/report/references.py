"""Published numbers from the papers, shown as italic rows beside the measured ones.

A suite's `reference:` entries are copied by `segbench run` to results/<suite>/references.json, so that
the report stays a function of the results folder alone.
"""

from pathlib import Path
from typing import Any

from ..records import load_suite_list, save_suite_list
from .tables import Cell, Column, Table

FILE = "references.json"


def save(results_dir: Path, suite: str, version: str, references: list[dict[str, Any]]) -> None:
    save_suite_list(results_dir, FILE, "references", suite, version, references)


def load(results_dir: Path) -> list[dict[str, Any]]:
    return load_suite_list(results_dir, FILE, "references")


def citations(references: list[dict[str, Any]]) -> list[str]:
    """Distinct sources in order of first use; a reference's marker is its source's position + 1."""
    return list(dict.fromkeys(ref["source"] for ref in references))


def published(fraction: float) -> str:
    """A published figure ×100 with the precision papers print (62.2, 67.64)."""
    text = f"{100 * fraction:.2f}"
    return text[:-1] if text.endswith("0") else text


def reference_label(ref: dict[str, Any], marker: int) -> str:
    return f"{ref['label']} ({ref['dataset']} {ref['split']}) [{marker}]"


def add_reference_rows(table: Table, archs: list[str], columns: list[Column],
                       references: list[dict[str, Any]]) -> Table:
    """Insert each reference after its architecture's rows (`archs`: the arch of each table row),
    or at the end; published values fill the columns they name, "–" the others."""
    sources = citations(references)
    rows, italic, row_archs = list(table.rows), set(), list(archs)
    for ref in references:
        cells = [Cell(reference_label(ref, sources.index(ref["source"]) + 1)), Cell("paper")]
        cells += [Cell(published(ref["metrics"][c.key]) if ref["metrics"].get(c.key) is not None else "–")
                  for c in columns]
        last = max((i for i, a in enumerate(row_archs) if a == ref.get("arch")), default=len(rows) - 1)
        rows.insert(last + 1, cells)
        row_archs.insert(last + 1, ref.get("arch"))
        italic = {i + (i > last) for i in italic} | {last + 1}
    breaks = {i for i in range(1, len(rows)) if row_archs[i] != row_archs[i - 1]}
    return Table(table.headers, rows, table.align, italic, breaks)
