"""Run records: atomic JSON writes, NaN handling, loading and resume status."""

import json
import os

import pytest

from segbench import records
from segbench.errors import ResultsError
from tests.report_records import make_record


def record(run_id: str, order: int, seed: int, status: str = "ok") -> dict:
    """A record of the schema (tests/report_records.py builds them), with this id, suite order, seed and a NaN."""
    made = make_record("fcn", order, seed, miou=float("nan"), bf1=0.5, status=status)
    return made | {"run_id": run_id, "spec": made["spec"] | {"run_id": run_id}}


def test_write_is_atomic_and_nan_becomes_null(tmp_path):
    path = records.write_record(tmp_path, record("a", 0, 0))
    data = json.loads(path.read_text())
    assert {k: data["metrics"][k] for k in ("miou", "bf1")} == {"miou": None, "bf1": 0.5}
    assert data["schema_version"] == records.SCHEMA_VERSION
    assert os.listdir(path.parent) == ["a.json"]  # no temporary file left behind



@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664)])
def test_records_honour_the_umask_as_open_does(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        path = records.write_record(tmp_path, record("a", 0, 0))
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == mode

def test_failed_write_keeps_the_old_record(tmp_path):
    records.write_record(tmp_path, record("a", 0, 0))
    with pytest.raises(TypeError):
        records.write_record(tmp_path, record("a", 0, 0) | {"bad": object()})
    assert json.loads(records.record_path(tmp_path, "a").read_text())["status"] == "ok"
    assert os.listdir(records.runs_dir(tmp_path)) == ["a.json"]


def test_only_successful_records_count_as_completed(tmp_path):
    records.write_record(tmp_path, record("ok", 0, 0))
    records.write_record(tmp_path, record("bad", 0, 1, status="failed"))
    assert records.completed(tmp_path, "ok")
    assert not records.completed(tmp_path, "bad")
    assert not records.completed(tmp_path, "absent")


def test_load_sorts_by_suite_order_then_seed(tmp_path):
    for rid, order, seed in [("z", 0, 1), ("y", 1, 0), ("x", 0, 0)]:
        records.write_record(tmp_path, record(rid, order, seed))
    assert [r["run_id"] for r in records.load_records(tmp_path)] == ["x", "z", "y"]


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(ResultsError, match="no run records here"):
        records.load_records(tmp_path)
    records.runs_dir(tmp_path).mkdir()
    with pytest.raises(ResultsError, match="holds no run records"):
        records.load_records(tmp_path)
    (records.runs_dir(tmp_path) / "broken.json").write_text("{not json")
    with pytest.raises(ResultsError, match="broken.json: not a readable run record"):
        records.load_records(tmp_path)


def test_a_full_disk_is_an_error_naming_the_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    import errno

    from segbench.errors import ResultsError

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(records.os, "replace", full)
    with pytest.raises(ResultsError, match=r"cannot write .*runs/a\.json: No space left on device; the records "
                                           r"written so far are kept"):
        records.write_json_atomic(tmp_path / "runs" / "a.json", {"x": 1})
    assert list((tmp_path / "runs").iterdir()) == []
