"""Run records: one JSON file per run, written atomically; loading a results folder."""

import json
import os
import secrets
from pathlib import Path
from typing import Any

from .errors import ResultsError

SCHEMA_VERSION = 1


def runs_dir(results_dir: Path) -> Path:
    return Path(results_dir) / "runs"


def record_path(results_dir: Path, run_id: str) -> Path:
    return runs_dir(results_dir) / f"{run_id}.json"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON through a temporary file and os.replace: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True, allow_nan=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new file beside `path`, with open()'s mode 0666 & ~umask (mkstemp's 0600 would lock out the group)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def json_safe(value: Any) -> Any:
    """NaN and infinities become None (JSON has no NaN); containers are converted recursively."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_record(results_dir: Path, record: dict[str, Any]) -> Path:
    path = record_path(results_dir, record["run_id"])
    write_json_atomic(path, json_safe({"schema_version": SCHEMA_VERSION, **record}))
    return path


def completed(results_dir: Path, run_id: str) -> bool:
    """True when the run has a record with status ok (failed runs are tried again)."""
    path = record_path(results_dir, run_id)
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("status") == "ok"
    except (OSError, ValueError):
        return False


def load_records(results_dir: Path) -> list[dict[str, Any]]:
    """Every record of a results folder, in suite order (variant order, then seed)."""
    folder = runs_dir(results_dir)
    if not folder.is_dir():
        raise ResultsError(f"{results_dir}: no run records here (expected a 'runs' folder of JSON records, "
                           f"as `segbench run` writes under results/<suite>/)")
    records = []
    for path in sorted(folder.glob("*.json")):
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except ValueError as exc:
            raise ResultsError(f"{path}: not a readable run record ({exc}); delete it to run it again") from None
    if not records:
        raise ResultsError(f"{folder}: the folder holds no run records")
    return sorted(records, key=lambda r: (r["spec"]["order"], r["spec"]["seed"], r["run_id"]))
