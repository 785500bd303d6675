"""The record schema: what the runner writes validates, readers skip what does not (naming it), and a record
of a newer schema is refused with the version that reads it."""

import json

import pytest
from typer.testing import CliRunner

from segbench import records
from segbench.cli import app
from segbench.record_schema import problem
from tests.conftest import REPO
from tests.report_records import make_record


def test_every_committed_quick_record_matches_the_schema():
    paths = sorted((REPO / "results" / "quick" / "runs").glob("*.json"))
    assert len(paths) == 13 * 3 and all(problem(json.loads(p.read_text())) is None for p in paths)


def test_a_record_missing_its_spec_is_named_and_skipped_by_the_report(tmp_path):
    records.write_record(tmp_path, make_record("fcn skip=8", 0, 0))
    (records.runs_dir(tmp_path) / "stub.json").write_text('{"status": "ok"}')
    (records.runs_dir(tmp_path) / "cut.json").write_text('{"run_id": "x", "sta')
    ran = CliRunner().invoke(app, ["report", str(tmp_path), "--out", str(tmp_path / "report"), "--format", "md"])
    assert ran.exit_code == 0, ran.output
    assert "stub.json: not a readable run record (schema_version: Field required)" in ran.output
    assert "cut.json: not a readable run record" in ran.output and "Traceback" not in ran.output
    assert "| fcn skip=8 | 1 |" in (tmp_path / "report" / "report.md").read_text()


def test_a_record_of_a_newer_schema_is_refused_with_the_version_that_reads_it(tmp_path):
    newer = make_record("fcn", 0, 0) | {"schema_version": 2}
    newer["environment"]["segbench"] = "9.9.0"
    records.runs_dir(tmp_path).mkdir(parents=True)
    (records.runs_dir(tmp_path) / "new.json").write_text(json.dumps(newer))
    ran = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert ran.exit_code == 2
    assert "schema_version 2, written by segbench 9.9.0; this segbench (0.1.0) reads schema_version 1" in ran.output


@pytest.mark.parametrize("change, where", [(lambda r: r.pop("metrics"), "metrics"),
                                           (lambda r: r["spec"].update(seed="zero"), "spec.seed"),
                                           (lambda r: r.update(status="done"), "the record")])
def test_the_writer_refuses_a_record_off_the_schema(tmp_path, change, where):
    record = make_record("fcn", 0, 0)
    change(record)
    with pytest.raises(ValueError, match=f"does not match the schema: {where}"):
        records.write_record(tmp_path, record)
    assert not records.runs_dir(tmp_path).exists()
