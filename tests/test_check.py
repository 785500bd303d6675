"""segbench baseline / check on doctored results folders: each verdict and exit code, against hand-computed
allowances."""

import json

import pytest
from typer.testing import CliRunner

from segbench import records
from segbench.cli import app
from tests.report_records import make_record, probe


def folder(path, mious=(0.50,), latency=10.0, machine="aaaa1111", extra=(), failed_unet=False, suite="unit"):
    """FCN over len(mious) seeds with those mIoUs and latency; a U-Net (ok or failed); `extra` more labels."""
    for seed, miou in enumerate(mious):
        r = make_record("fcn skip=8", 0, seed, miou, options={"skip": 8}, machine=machine)
        records.write_record(path, r | {"probe": probe(latency)})
    unet = make_record("unet", 1, 0, 0.7, arch="unet", machine=machine, status="failed" if failed_unet else "ok")
    records.write_record(path, unet)
    for i, label in enumerate(extra):
        records.write_record(path, make_record(label, 2 + i, 0, 0.4, arch="deconvnet", machine=machine))
    for p in records.runs_dir(path).glob("*.json"):    # the suite's name, for the different-suite case
        data = json.loads(p.read_text())
        data["spec"]["suite"] = suite
        p.write_text(json.dumps(data))
    return path


def check(tmp_path, current, *flags):
    baseline = tmp_path / "baseline.json"
    made = CliRunner().invoke(app, ["baseline", str(tmp_path / "base"), "--out", str(baseline)])
    assert made.exit_code == 0, made.output
    ran = CliRunner().invoke(app, ["check", str(current), "--baseline", str(baseline), "--metrics",
                                   "miou,latency_ms", "--format", "json", *flags])
    text = ran.stdout
    rows = json.loads(text[text.index("["):text.rindex("]") + 1]) if ran.exit_code in (0, 1) else []
    return ran.exit_code, {(r["variant"], r["metric"]): r for r in rows}, ran.output


@pytest.fixture
def base(tmp_path):
    return folder(tmp_path / "base")


def test_an_unchanged_rerun_passes(tmp_path, base):
    code, rows, _ = check(tmp_path, folder(tmp_path / "now"))
    assert code == 0 and rows[("fcn skip=8", "miou")]["verdict"] == rows[("fcn skip=8", "latency_ms")]["verdict"] == "pass"
    assert rows[("unet", "miou")]["verdict"] == "pass" and rows[("unet", "latency_ms")]["verdict"] == "not measured"


@pytest.mark.parametrize("miou, verdict, code", [(0.496, "pass", 0), (0.494, "regressed", 1), (0.506, "improved", 0)])
def test_accuracy_beyond_half_a_point_regresses(tmp_path, base, miou, verdict, code):
    got, rows, _ = check(tmp_path, folder(tmp_path / "now", mious=(miou,)))
    row = rows[("fcn skip=8", "miou")]
    assert (got, row["verdict"]) == (code, verdict) and row["allowed"] == pytest.approx(0.005)


def test_seed_spread_widens_the_allowed_drop(tmp_path):
    folder(tmp_path / "base", mious=(0.50, 0.52, 0.54))
    _, rows, _ = check(tmp_path, folder(tmp_path / "now", mious=(0.48, 0.50, 0.52)))
    row = rows[("fcn skip=8", "miou")]
    assert row["allowed"] == pytest.approx(2 * 0.02) and row["verdict"] == "pass"   # pooled std 0.02, sigma 2


@pytest.mark.parametrize("latency, verdict, code", [(10.9, "pass", 0), (11.2, "regressed", 1), (8.0, "improved", 0)])
def test_latency_beyond_ten_percent_and_the_spread_regresses(tmp_path, base, latency, verdict, code):
    got, rows, _ = check(tmp_path, folder(tmp_path / "now", latency=latency))
    row = rows[("fcn skip=8", "latency_ms")]
    assert (got, row["verdict"]) == (code, verdict) and row["allowed"] == pytest.approx(1.0)   # max(10%, 0.1 + 0.1)


def test_a_missing_or_failed_variant_fails_and_a_new_one_does_not(tmp_path, base):
    code, rows, _ = check(tmp_path, folder(tmp_path / "now", failed_unet=True, extra=("deconvnet",)))
    assert code == 1 and rows[("unet", "all")]["verdict"] == "missing"
    assert rows[("deconvnet", "all")]["verdict"] == "new" and not rows[("deconvnet", "all")]["fails"]


def test_speed_from_another_machine_is_not_comparable_unless_strict(tmp_path, base):
    code, rows, _ = check(tmp_path, folder(tmp_path / "now", latency=20.0, machine="bbbb2222"))
    assert code == 0 and rows[("fcn skip=8", "latency_ms")]["verdict"] == "not comparable (different machine)"
    assert rows[("fcn skip=8", "miou")]["verdict"] == "pass"                 # accuracy is still compared
    strict, rows, _ = check(tmp_path, tmp_path / "now", "--strict-machine")
    assert strict == 1 and rows[("fcn skip=8", "latency_ms")]["fails"]


def test_a_corrupt_record_is_skipped_by_name(tmp_path, base):
    now = folder(tmp_path / "now")
    (records.runs_dir(now) / "cut.json").write_text("{")
    code, _, output = check(tmp_path, now)
    assert code == 0 and "cut.json: not a readable run record" in output


def test_a_baseline_of_another_suite_and_bad_flags_are_usage_errors(tmp_path, base):
    code, _, output = check(tmp_path, folder(tmp_path / "now", suite="other"))
    assert code == 2 and "the baseline is of suite 'unit'" in output
    ran = CliRunner().invoke(app, ["check", str(base)])
    assert ran.exit_code == 2 and "give --baseline FILE or --against RESULTS_DIR" in ran.output


def test_markdown_and_junit_name_each_verdict(tmp_path, base):
    now = folder(tmp_path / "now", mious=(0.4,))
    ran = CliRunner().invoke(app, ["check", str(now), "--against", str(base), "--metrics", "miou",
                                   "--junit", str(tmp_path / "j.xml")])
    assert ran.exit_code == 1 and "| fcn skip=8 | miou | 50.00 | 40.00 | -10.00 | 0.50 | **regressed** |" in ran.output
    xml = (tmp_path / "j.xml").read_text()
    assert 'tests="2" failures="1"' in xml and '<failure message="regressed">' in xml


def unit_suite(write_suite, check_section: str, name: str = "unit"):
    from tests.conftest import TINY_SUITE

    return write_suite(TINY_SUITE.replace("name: tiny", f"name: {name}") + check_section, f"{name}.yaml")


def test_the_suites_check_section_sets_the_tolerances_and_the_flags_override_it(tmp_path, base, write_suite):
    suite = unit_suite(write_suite, "check: {metrics: [miou], tolerances: {miou: 2.0}}\n")
    now = folder(tmp_path / "now", mious=(0.485,))   # 1.5 points down: within 2, beyond the default 0.5
    code, rows, _ = check(tmp_path, now, "--suite", str(suite))
    assert code == 0 and rows[("fcn skip=8", "miou")]["allowed"] == pytest.approx(0.02)
    ran = CliRunner().invoke(app, ["check", str(now), "--against", str(base), "--suite", str(suite),
                                   "--format", "json"])
    assert ran.exit_code == 0 and '"latency_ms"' not in ran.stdout   # the section's metrics: miou only
    code, rows, _ = check(tmp_path, now, "--suite", str(suite), "--accuracy-tol", "1")
    assert code == 1 and rows[("fcn skip=8", "miou")]["allowed"] == pytest.approx(0.01)   # the flag wins ...
    code, rows, _ = check(tmp_path, now, "--suite", str(suite), "--accuracy-tol", "0", "--sigma", "0")
    assert code == 1 and rows[("fcn skip=8", "miou")]["allowed"] == 0   # ... down to zero
    strict = unit_suite(write_suite, "check: {accuracy_tol: 1.0}\n")
    code, rows, _ = check(tmp_path, now, "--suite", str(strict))
    assert code == 1 and rows[("fcn skip=8", "miou")]["allowed"] == pytest.approx(0.01)
    code, rows, _ = check(tmp_path, now, "--suite", str(strict), "--accuracy-tol", "2")
    assert code == 0 and rows[("fcn skip=8", "miou")]["allowed"] == pytest.approx(0.02)


def test_a_bad_check_section_or_a_suite_of_another_name_is_a_usage_error(tmp_path, base, write_suite):
    bad = unit_suite(write_suite, "check:\n  metrics: [miou, speed]\n")
    code, _, output = check(tmp_path, folder(tmp_path / "now"), "--suite", str(bad))
    assert code == 2 and "unit.yaml:11" in output and "'latency_ms'" in output and "Traceback" not in output
    other = unit_suite(write_suite, "", name="other")
    code, _, output = check(tmp_path, folder(tmp_path / "now2"), "--suite", str(other))
    assert code == 2 and "is suite 'other', the baseline is of 'unit'" in output
    code, _, output = check(tmp_path, folder(tmp_path / "now3"), "--metrics", "miou,fps")
    assert code == 2 and "--metrics: allowed miou" in output and "(got miou,fps)" in output


def test_lenient_machine_overrides_a_suites_strict_machine(tmp_path, base, write_suite):
    strict = unit_suite(write_suite, "check: {strict_machine: true}\n")
    now = folder(tmp_path / "now", machine="bbbb2222")
    code, rows, _ = check(tmp_path, now, "--suite", str(strict))
    assert code == 1 and rows[("fcn skip=8", "latency_ms")]["verdict"] == "not comparable (strict)"
    code, rows, _ = check(tmp_path, now, "--suite", str(strict), "--lenient-machine")
    assert code == 0 and rows[("fcn skip=8", "latency_ms")]["verdict"] == "not comparable (different machine)"
