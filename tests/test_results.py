"""segbench.results: records as a DataFrame (one flat row per run) and per-variant statistics."""

import statistics

import pytest

from segbench import records, results
from tests.report_records import make_record, probe


@pytest.fixture
def folder(tmp_path):
    for seed, miou in enumerate((0.50, 0.56, 0.59)):
        record = make_record("fcn skip=8", 0, seed, miou, options={"skip": 8}, per_class_iou=[0.9, 0.4 + seed / 10, 0.2])
        records.write_record(tmp_path, record | {"probe": probe(10.0 + seed)})
    records.write_record(tmp_path, make_record("unet", 1, 0, 0.7, arch="unet"))
    records.write_record(tmp_path, make_record("unet", 1, 1, status="failed", arch="unet"))
    return tmp_path


def test_one_flat_row_per_run_in_suite_order(folder):
    runs = results.load(folder)
    assert len(runs) == 5 and list(runs["variant"]) == ["fcn skip=8"] * 3 + ["unet"] * 2
    first = runs.iloc[0]
    assert (first["suite"], first["arch"], first["seed"], first["status"], first["option.skip"]) == \
        ("unit", "fcn", 0, "ok", 8)
    assert first["miou"] == 0.5 and first["iou.disk"] == pytest.approx(0.4) and first["bf1.ring"] == 0.1
    assert first["latency_ms"] == 10.0 and first["gflops"] == 2.0 and first["params"] == 2_000_000
    assert first["machine_id"] == "aaaa1111" and runs.iloc[4]["status"] == "failed"
    assert runs.iloc[4]["error"].startswith("RuntimeError")


def test_aggregate_gives_mean_sample_std_and_n_over_successful_runs(folder):
    stats = results.aggregate(results.load(folder)).set_index("variant")
    fcn = stats.loc["fcn skip=8"]
    assert fcn["miou_mean"] == pytest.approx(statistics.fmean([0.50, 0.56, 0.59]))
    assert fcn["miou_std"] == pytest.approx(statistics.stdev([0.50, 0.56, 0.59]))
    assert fcn["miou_n"] == 3 and fcn["latency_ms_mean"] == pytest.approx(11.0)
    assert stats.loc["unet", "miou_n"] == 1 and stats.loc["unet", "miou_mean"] == 0.7   # the failed run left out
