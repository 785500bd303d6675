"""`segbench baseline` and `segbench check`: the CI gate on accuracy and speed."""

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from .clikit import err, out, user_errors
from .errors import UsageError
from .metric_info import CHECKED_BY_DEFAULT


@user_errors
def baseline_cmd(results_dir: Annotated[Path, typer.Argument(help="A results folder, e.g. results/smoke.")],
                 output: Annotated[Path, typer.Option("--out", help="Baseline file to write, e.g. "
                                                      "results/baselines/smoke.json.")]) -> None:
    """Freeze a results folder's figures as a baseline: per variant, each metric's mean, std and n over
    seeds, the speed and memory figures with their spread, the machine, the suite and segbench's version."""
    from .check import freeze
    from .records import write_json_atomic

    write_json_atomic(output, freeze(results_dir, _warn))
    out.print(f"wrote {output}")


@user_errors
def check_cmd(
        results_dir: Annotated[Path, typer.Argument(help="The results folder to check.")],
        baseline: Annotated[Optional[Path], typer.Option(help="A baseline file (segbench baseline).")] = None,
        against: Annotated[Optional[Path], typer.Option(help="Instead of --baseline: another results folder.")] = None,
        suite: Annotated[Optional[Path], typer.Option(help="Take the tolerances from this suite's check: section "
                                                      "(the flags below override it).")] = None,
        accuracy_tol: Annotated[Optional[float], typer.Option(min=0, help="Allowed drop in points (×100) of an "
                                                              "accuracy metric [default: 0.5].")] = None,
        speed_tol: Annotated[Optional[float], typer.Option(min=0, help="Allowed change of speed and memory, % "
                                                           "[default: 10].")] = None,
        sigma: Annotated[Optional[float], typer.Option(min=0, help="Accuracy may also move by sigma × the pooled "
                                                       "std over seeds [default: 2].")] = None,
        metrics: Annotated[Optional[str], typer.Option(help="Comma-separated metrics to check [default: "
                                                       f"{','.join(CHECKED_BY_DEFAULT)}].")] = None,
        fmt: Annotated[str, typer.Option("--format", help="md or json.")] = "md",
        junit: Annotated[Optional[Path], typer.Option(help="Also write JUnit XML here.")] = None,
        strict_machine: Annotated[Optional[bool], typer.Option(
            "--strict-machine/--lenient-machine", help="Speed from another machine fails instead of being not "
                                                       "comparable [default: lenient].")] = None) -> None:
    """Compare results with a baseline, variant by variant: exit 0 when nothing regressed, 1 when something did
    (or a baseline variant is missing), 2 for a usage error."""
    from .check import as_rows, compare, freeze, junit as junit_xml, markdown

    if (baseline is None) == (against is None):
        raise UsageError("give --baseline FILE or --against RESULTS_DIR (one of them)")
    if fmt not in ("md", "json"):
        raise UsageError(f"--format: md or json (got {fmt})")
    base = freeze(against, _warn) if against else _read_baseline(baseline)
    flags = {"accuracy_tol": accuracy_tol, "speed_tol": speed_tol, "sigma": sigma, "strict_machine": strict_machine,
             "metrics": tuple(m.strip() for m in metrics.split(",") if m.strip()) if metrics else None}
    tol = _tolerances(suite, base.get("suite"), {k: v for k, v in flags.items() if v is not None})
    verdicts = compare(base, results_dir, tol, _warn)
    out.print(markdown(verdicts) if fmt == "md" else json.dumps(as_rows(verdicts), indent=1), markup=False)
    if junit:
        junit.write_text(junit_xml(verdicts, str(base.get("suite"))), encoding="utf-8")
    if any(v.fails for v in verdicts):
        raise typer.Exit(1)


def _tolerances(suite_file: Path | None, baseline_suite: str | None, flags: dict):
    """The suite's check: section (or the defaults), with the flags given on the command line over it: a
    tolerance flag also replaces the section's per-metric tolerances of its kind."""
    from typing import get_args

    from pydantic import ValidationError

    from .config import CheckConfig, CheckedMetric
    from .metric_info import HIGHER_IS_BETTER, SPEED_HIGHER_IS_BETTER
    from .suitefile import load_suite

    section = CheckConfig()
    if suite_file:
        suite = load_suite(suite_file)
        if suite.name != baseline_suite:
            raise UsageError(f"--suite {suite_file} is suite {suite.name!r}, the baseline is of {baseline_suite!r}")
        section = suite.check
    kinds = {"accuracy_tol": HIGHER_IS_BETTER, "speed_tol": SPEED_HIGHER_IS_BETTER}
    replaced = {m for flag, metrics_ in kinds.items() if flag in flags for m in metrics_}
    tolerances = {m: t for m, t in section.tolerances.items() if m not in replaced}
    try:
        return CheckConfig.model_validate(section.model_dump() | {"tolerances": tolerances} | flags)
    except ValidationError:   # the other flags are checked by typer
        raise UsageError(f"--metrics: allowed {', '.join(get_args(CheckedMetric))} (got "
                         f"{','.join(flags.get('metrics') or ()) or 'none'})") from None


def _read_baseline(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"--baseline {path}: not a readable baseline file ({exc})") from None
    if not isinstance(data, dict) or data.get("baseline_version") != 1 or "variants" not in data:
        raise UsageError(f"--baseline {path}: not a segbench baseline (baseline_version 1, variants), as "
                         "`segbench baseline RESULTS_DIR --out FILE` writes")
    return data


def _warn(message: str) -> None:
    err.print(f"warning: {message}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("baseline")(baseline_cmd)
    app.command("check")(check_cmd)
