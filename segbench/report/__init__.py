"""Reports rendered from a results folder alone: the same records give byte-identical files."""

from pathlib import Path
from typing import Any

from ..errors import ResultsError
from ..records import load_records
from .markdown import markdown_table
from .tables import failures_table, main_table, per_class_table, variants


def render(results_dir: Path, out_dir: Path | None = None, run_ids: set[str] | None = None) -> list[Path]:
    """Write reports/<suite>/report.md (or into `out_dir`) and return the files written.

    `run_ids` limits the report to those runs (`segbench run` passes its suite's matrix, so records
    left from an earlier version of the suite stay on disk but out of its report).
    """
    records = load_records(results_dir)
    if run_ids is not None:
        records = [r for r in records if r["run_id"] in run_ids]
        if not records:
            raise ResultsError(f"{results_dir}: none of the suite's runs has a record yet")
    suite = records[0]["spec"]["suite"]
    out_dir = Path(out_dir) if out_dir else Path("reports") / suite
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.md"
    path.write_text(markdown_report(records), encoding="utf-8")
    return [path]


def markdown_report(records: list[dict[str, Any]]) -> str:
    vs = variants(records)
    spec = records[0]["spec"]
    ok = [r for r in records if r["status"] == "ok"]
    parts = [f"# {spec['suite']} (suite version {spec['suite_version']})", "", *header_lines(records), "",
             "## Results", "", "Validation split; metrics ×100, mean ± sample std over seeds; "
             "↑ higher is better; best per column in bold.", "", markdown_table(main_table(vs))]
    if ok:
        names = ok[0]["data"]["class_names"]
        for key, title in (("iou", "Per-class IoU"), ("bf1", "Per-class boundary F1")):
            parts += ["", f"## {title}", "", markdown_table(per_class_table(vs, key, names))]
    failures = failures_table(vs)
    if failures.rows:
        parts += ["", "## Failed runs", "", markdown_table(failures)]
    return "\n".join(parts) + "\n"


def header_lines(records: list[dict[str, Any]]) -> list[str]:
    """What the numbers are: data set, split, protocol, software and machines."""
    spec = records[0]["spec"]
    ds = spec["dataset"]
    envs = {r["environment"]["machine_id"]: r["environment"] for r in records}
    commits = sorted({f"{e['git_commit'][:10]}{' (dirty)' if e['git_dirty'] else ''}" if e["git_commit"]
                      else "unknown" for e in envs.values()})
    lines = [f"- data set: `{ds['name']}` " + ", ".join(f"{k}={v}" for k, v in ds.items() if k != "name"),
             f"- split: val; training: {_train_summary(spec['train'])}",
             f"- boundary F1 tolerance: {spec['eval']['boundary_tolerance']} × image diagonal",
             f"- segbench {', '.join(sorted({e['segbench'] for e in envs.values()}))}, "
             f"commit {', '.join(commits)}; torch {', '.join(sorted({e['torch'] for e in envs.values()}))}"]
    for mid, e in sorted(envs.items()):
        lines.append(f"- machine `{mid}`: {e['device_name']} ({e['device']}), {e['threads']} threads")
    return lines


def _train_summary(train: dict[str, Any]) -> str:
    length = f"{train['iterations']} iterations" if train["iterations"] else f"{train['epochs']} epochs"
    return f"{train['optimizer']} lr {train['lr']}, batch {train['batch_size']}, {length}, poly {train['poly_power']}"
