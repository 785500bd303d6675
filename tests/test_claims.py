"""A suite's claims: validated against its variants (file:line), judged over seeds against hand-computed gaps
and noise allowances, shown in the report's Claims section, and checked by `segbench check`."""

import json
import math

import pytest
from typer.testing import CliRunner

from segbench import records
from segbench.cli import app
from segbench.errors import ConfigError
from segbench.report import claims
from segbench.report.variants import variants
from segbench.suitefile import load_suite
from tests.conftest import TINY_SUITE
from tests.report_records import make_record

CLAIM = {"better": "fcn skip=8", "worse": "fcn skip=32", "metric": "miou", "source": "Long et al. 2015, Table 2"}


def folder(path, eight, thirtytwo):
    """fcn skip=8 and skip=32 with these mIoUs, one per seed."""
    for seed, (a, b) in enumerate(zip(eight, thirtytwo)):
        records.write_record(path, make_record("fcn skip=8", 0, seed, a, options={"skip": 8}))
        records.write_record(path, make_record("fcn skip=32", 1, seed, b, options={"skip": 32}))
    claims.save(path, "unit", "1", [CLAIM])
    return path


@pytest.mark.parametrize("eight, thirtytwo, verdict", [
    ((0.50, 0.52, 0.54), (0.40, 0.42, 0.44), "reproduced"),     # gap 0.10, std 0.02 each: allowed 0.04
    ((0.40, 0.42, 0.44), (0.50, 0.52, 0.54), "contradicted"),
    ((0.50, 0.52, 0.54), (0.48, 0.50, 0.52), "undecided"),      # gap 0.02 < 0.04
    ((0.50,), (0.40,), "undecided (fewer than 2 seeds)"),
])
def test_a_claim_is_judged_against_twice_the_pooled_seed_std(tmp_path, eight, thirtytwo, verdict):
    judged = claims.judge(CLAIM, variants(records.load_records(folder(tmp_path, eight, thirtytwo))))
    assert judged.verdict == verdict
    assert judged.gap.mean == pytest.approx(sum(eight) / len(eight) - sum(thirtytwo) / len(thirtytwo))
    if len(eight) > 1:
        assert judged.allowed == pytest.approx(2 * math.sqrt((0.02 ** 2 + 0.02 ** 2) / 2))


def test_a_claim_on_a_variant_without_records_is_not_measured(tmp_path):
    records.write_record(tmp_path, make_record("fcn skip=8", 0, 0, 0.5, options={"skip": 8}))
    assert claims.judge(CLAIM, variants(records.load_records(tmp_path))).verdict == "not measured"


def test_the_report_has_a_claims_section(tmp_path):
    folder(tmp_path / "res", (0.50, 0.52, 0.54), (0.40, 0.42, 0.44))
    ran = CliRunner().invoke(app, ["report", str(tmp_path / "res"), "--out", str(tmp_path / "out"), "--format", "md"])
    assert ran.exit_code == 0, ran.output
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Claims" in report
    assert ("| fcn skip=8 > fcn skip=32 | miou | 52.0 ± 2.0 (n=3) | 42.0 ± 2.0 (n=3) | +10.0 ± 0.0 (n=3) | 4.0 | "
            "**reproduced** | Long et al. 2015, Table 2 |") in report


def test_a_claim_naming_a_variant_the_suite_lacks_is_a_file_line_error(write_suite):
    text = TINY_SUITE + "claims:\n  - {better: fcn skip=8, worse: fcn skip=16}\n"
    with pytest.raises(ConfigError) as info:
        load_suite(write_suite(text))
    assert ("suite.yaml:11: claims[0].worse: no variant of the suite is labelled 'fcn skip=16'; its variants: "
            "'fcn skip=32', 'fcn skip=8'") in str(info.value)
    with pytest.raises(ConfigError, match="both sides are 'fcn skip=8'"):
        load_suite(write_suite(TINY_SUITE + "claims:\n  - {better: fcn skip=8, worse: fcn skip=8}\n"))
    assert load_suite(write_suite(TINY_SUITE + "claims:\n  - {better: fcn skip=8, worse: fcn skip=32}\n")).claims


def test_check_fails_when_a_reproduced_claim_is_lost(tmp_path):
    base = folder(tmp_path / "base", (0.50, 0.52, 0.54), (0.40, 0.42, 0.44))
    now = folder(tmp_path / "now", (0.46, 0.48, 0.50), (0.44, 0.46, 0.48))   # each within sigma, the gap gone
    ran = CliRunner().invoke(app, ["check", str(now), "--against", str(base), "--metrics", "miou", "--sigma", "3",
                                   "--format", "json"])
    rows = {(r["variant"], r["metric"]): r for r in json.loads(ran.stdout[ran.stdout.index("["):])}
    claim = rows[("fcn skip=8 > fcn skip=32", "claim miou")]
    assert claim["verdict"] == "claim lost (undecided)" and claim["fails"] and ran.exit_code == 1
    assert rows[("fcn skip=8", "miou")]["verdict"] == "pass"   # no single variant regressed beyond its noise
    kept = CliRunner().invoke(app, ["check", str(base), "--against", str(base), "--metrics", "miou"])
    assert kept.exit_code == 0 and "| fcn skip=8 > fcn skip=32 | claim miou | 10.00 | 10.00 | 0.00 | 4.00 | pass |" in kept.stdout
