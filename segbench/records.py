"""Run records: one JSON file per run, written atomically; loading a results folder."""

import json
import os
import secrets
from pathlib import Path
from typing import Any

from collections.abc import Callable

from . import __version__
from .errors import ResultsError
from .record_schema import SCHEMA_VERSION, problem


def runs_dir(results_dir: Path) -> Path:
    return Path(results_dir) / "runs"


def record_path(results_dir: Path, run_id: str) -> Path:
    return runs_dir(results_dir) / f"{run_id}.json"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON through a temporary file and os.replace: a reader never sees half a file. A folder that
    cannot be written (permissions, a full disk) is a ResultsError naming the path."""
    text = json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp(path)
    except OSError as exc:
        raise _unwritable(path, exc) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException as exc:
        os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _unwritable(path, exc) from None
        raise


def save_suite_list(results_dir: Path, name: str, key: str, suite: str, version: str, items: list[Any]) -> None:
    """A suite's list (its references, its claims) next to its runs, so that reports need the folder alone;
    written atomically; none → no file."""
    path = Path(results_dir) / name
    if items:
        write_json_atomic(path, {"suite": suite, "version": version, key: items})
    else:
        path.unlink(missing_ok=True)


def load_suite_list(results_dir: Path, name: str, key: str) -> list[Any]:
    """The list `save_suite_list` wrote; [] without the file."""
    path = Path(results_dir) / name
    if not path.is_file():
        return []
    try:
        return json.loads(path.read_text(encoding="utf-8"))[key]
    except (ValueError, KeyError, TypeError) as exc:
        raise ResultsError(f"{path}: not a readable {key} file ({exc}); run the suite again to rewrite it, "
                           "or delete it") from None


def check_writable(results_dir: Path) -> None:
    """Fail before any training when the results folder cannot take a file."""
    probe = runs_dir(results_dir) / f".writable-{os.getpid()}-{secrets.token_hex(4)}"   # shards check at once
    write_json_atomic(probe, {})
    probe.unlink(missing_ok=True)


def _unwritable(path: Path, exc: OSError) -> ResultsError:
    return ResultsError(f"cannot write {path}: {exc.strerror or exc}; the records written so far are kept. "
                        "Free space or fix the folder's permissions, then run the same command again")


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
    """Validate the record against the schema (a failure is a bug in its writer) and write it atomically."""
    data = json_safe({"schema_version": SCHEMA_VERSION, **record})
    reason = problem(data)
    if reason:
        raise ValueError(f"refusing to write run record {record.get('run_id')!r}, it does not match the schema: {reason}")
    path = record_path(results_dir, record["run_id"])
    write_json_atomic(path, data)
    return path


def completed(results_dir: Path, run_id: str) -> bool:
    """True when the run has a record with status ok (failed runs are tried again)."""
    path = record_path(results_dir, run_id)
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("status") == "ok"
    except (OSError, ValueError):
        return False


def load_records(results_dir: Path, on_skip: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Every valid record of a results folder, in suite order (variant order, then seed). A file that is not
    JSON, or not a record of the schema, is skipped and named to `on_skip`; one of a newer schema is refused."""
    folder = runs_dir(results_dir)
    if not folder.is_dir():
        raise ResultsError(f"{results_dir}: no run records here (expected a 'runs' folder of JSON records, "
                           f"as `segbench run` writes under results/<suite>/)")
    records, skipped = [], []
    for path in sorted(folder.glob("*.json")):
        record, reason = read_record(path)
        if reason:
            skipped.append(f"{path}: {reason}; skipped (delete it to run it again)")
            if on_skip:
                on_skip(skipped[-1])
        else:
            records.append(record)
    if not records:
        raise ResultsError(f"{folder}: the folder holds no run records" + "".join(f"\n{s}" for s in skipped))
    return sorted(records, key=lambda r: (r["spec"]["order"], r["spec"]["seed"], r["run_id"]))


def read_record(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(record, None), or (None, why it is not a readable run record); a newer schema is a ResultsError."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, f"not a readable run record ({exc})"
    version = data.get("schema_version") if isinstance(data, dict) else None
    if isinstance(version, int) and version > SCHEMA_VERSION:
        writer = (data.get("environment") or {}).get("segbench", "a newer version")
        raise ResultsError(f"{path}: a record of schema_version {version}, written by segbench {writer}; this "
                           f"segbench ({__version__}) reads schema_version {SCHEMA_VERSION}: upgrade segbench")
    reason = problem(data)
    return (None, f"not a readable run record ({reason})") if reason else (data, None)
