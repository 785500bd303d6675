"""Reports rendered from a results folder alone: the same records give byte-identical files.

report.md (+ figures/*.png), report.tex (booktabs; compiles with pdflatex next to figures/),
runs.csv and variants.csv, report.html (one self-contained page).
"""

from collections.abc import Callable
from pathlib import Path

from ..errors import ResultsError, UsageError
from ..records import load_records
from . import claims, csvs, document, html, latex, markdown, references
from .variants import variants

FORMATS = ("md", "tex", "csv", "html")


def parse_formats(text: str) -> tuple[str, ...]:
    """`--format md,html` → ("md", "html"), in the canonical order; unknown names are a user error."""
    asked = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = [f for f in asked if f not in FORMATS]
    if unknown or not asked:
        raise UsageError(f"--format {text!r}: {'unknown format ' + repr(unknown[0]) if unknown else 'no format'}; "
                         f"allowed: {', '.join(FORMATS)}, comma-separated (e.g. --format md,html)")
    return tuple(f for f in FORMATS if f in asked)


def render(results_dir: Path, out_dir: Path | None = None, run_ids: set[str] | None = None,
           formats: tuple[str, ...] = FORMATS, on_skip: Callable[[str], None] | None = None) -> list[Path]:
    """Write the report into `out_dir` (default reports/<suite>) and return the files written.

    `run_ids` limits the report to those runs (`segbench run` passes its suite's matrix, so records
    left from an earlier version of the suite stay on disk but out of its report).
    """
    records = load_records(results_dir, on_skip)
    if run_ids is not None:
        records = [r for r in records if r["run_id"] in run_ids]
        if not records:
            raise ResultsError(f"{results_dir}: none of the suite's runs has a record yet")
    refs = references.load(results_dir)
    out_dir = Path(out_dir) if out_dir else Path("reports") / records[0]["spec"]["suite"]
    vs = variants(records)
    doc = document.build(records, refs, vs, claims.load(results_dir)) if set(formats) - {"csv"} else None   # the figures take a while
    files = {"md": lambda: {"report.md": markdown.render(doc)}, "tex": lambda: {"report.tex": latex.render(doc)},
             "csv": lambda: {"runs.csv": csvs.runs_csv(vs), "variants.csv": csvs.variants_csv(vs, refs)},
             "html": lambda: {"report.html": html.render(doc)}}
    written = []
    for fmt in formats:
        for name, text in files[fmt]().items():
            written.append(_write(out_dir / name, text.encode("utf-8")))
    if {"md", "tex"} & set(formats):   # they link the figures; the HTML inlines them
        written += [_write(out_dir / "figures" / p.name, p.png) for p in doc.plots]
    return written


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_bytes() != data:   # unchanged files keep their timestamps
        path.write_bytes(data)
    return path
