"""The `segbench` command line: each command is a thin call into a module."""

import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table as RichTable

from . import __version__
from .clikit import err, make_app, out, user_errors
from .checkcli import register as register_checks
from .datacli import data_app
from .errors import SegbenchError


app = make_app("Benchmark semantic-segmentation architectures from declarative YAML suites.")


def _version(value: bool) -> None:
    if value:
        out.print(f"segbench {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                               help="Print the version and exit.")] = False) -> None:
    """Benchmark semantic-segmentation architectures from declarative YAML suites."""


SuiteArg = Annotated[Path, typer.Argument(help="Suite file (YAML), e.g. suites/smoke.yaml.")]


@app.command()
@user_errors
def run(suite_file: SuiteArg,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the expanded run table and exit.")] = False,
        rerun: Annotated[bool, typer.Option("--rerun", help="Run again even where a record exists.")] = False,
        results: Annotated[Path, typer.Option(help="Root of the results folders.")] = Path("results"),
        reports: Annotated[Path, typer.Option(help="Root of the report folders.")] = Path("reports"),
        shard: Annotated[Optional[str], typer.Option(
            help="Run only shard I of N, as I/N (0-based); inside a Slurm job array it defaults to the array "
                 "task's. A shard writes records and leaves the report to `segbench report`.")] = None,
        seeds: Annotated[Optional[str], typer.Option(
            help="Seeds to run instead of the suite's, as 0,1,2; runs of the suite's seeds are reused.")] = None,
        jobs: Annotated[str, typer.Option(
            help="Trainings to run at once, each in its own process; evaluation and probes stay in this one. "
                 "auto: on a CPU with `reproducible:`, one per `threads` cores (records do not depend on it); "
                 "otherwise 1.")] = "auto",
        ) -> None:
    """Train and evaluate every run of a suite, write records and the report.

    Records go to `RESULTS/<suite>/runs/<run_id>.json`, the report to `REPORTS/<suite>/report.md`.
    Runs that already have a successful record are skipped; failed runs are recorded and the
    suite goes on. SIGTERM or Ctrl-C saves the training in progress and stops: the same command resumes.
    Under `torchrun --nproc_per_node N -m segbench run ...` each run trains on all N processes (DDP) and
    rank 0 writes.
    Exit code 0 when every run succeeded, 1 otherwise, 2 for a bad suite or an unwritable results folder,
    143 (SIGTERM) or 130 (Ctrl-C) when interrupted.
    """
    from . import report
    from .suitefile import load_suite
    from .distributed import from_environment
    from .interrupt import Interrupted
    from .launch import parse_seeds
    from .progress import Progress, make_progress
    from .runner import run_suite

    suite = load_suite(suite_file)
    if seeds is not None:
        suite = suite.model_copy(update={"seeds": parse_seeds(seeds)})
    all_specs, specs, where = _selected(suite, shard)
    if dry_run:
        out.print(_run_table(specs))
        return
    results_dir = results / suite.name
    world = from_environment()
    if world.active:
        err.print(f"torchrun: rank {world.rank} of {world.size} (local rank {world.local_rank}); "
                  + ("rank 0 reports progress and writes the results" if world.main else "quiet"))
    try:
        summary = run_suite(specs, results_dir, make_progress() if world.main else Progress(Console(quiet=True)),
                            rerun=rerun, jobs=jobs)
    except (Interrupted, KeyboardInterrupt) as stop:
        code = stop.exit_code if isinstance(stop, Interrupted) else 130
        saved = f"; the training in progress was {stop.saved}" if getattr(stop, "saved", None) else ""
        err.print(f"interrupted ({signal.Signals(code - 128).name}): the records already in {results_dir}/runs are "
                  f"kept{saved}; run the same command again to resume")
        raise typer.Exit(code) from None
    if not world.main:
        return
    report.references.save(results_dir, suite.name, suite.version,
                           [r.model_dump(mode="json", exclude_none=True) for r in suite.reference])
    report.claims.save(results_dir, suite.name, suite.version, [c.model_dump(mode="json") for c in suite.claims])
    if where:   # shards share the results folder; one report over it, once they are all done
        out.print(f"shard {where[0]}/{where[1]}: {len(summary.succeeded)} ran, {len(summary.skipped)} skipped, "
                  f"{len(summary.failed)} failed; records in {results_dir}/runs. When every shard has finished: "
                  f"segbench report {results_dir}")
        raise typer.Exit(1 if summary.failed else 0)
    files = report.render(results_dir, reports / suite.name, run_ids={s.run_id for s in all_specs},
                          on_skip=_warn)
    out.print(_results_section(files[0].read_text(encoding="utf-8")), markup=False)
    out.print(f"{len(summary.succeeded)} ran, {len(summary.skipped)} skipped (records exist), "
              f"{len(summary.failed)} failed; records in {results_dir}/runs, full report in {files[0].parent}")
    if summary.failed:
        raise typer.Exit(1)


def _selected(suite, shard: str | None):
    """(every run of the suite, the runs of this process's shard, where the shard came from or None)."""
    from .launch import parse_shard, slurm_shard
    from .matrix import expand
    from .matrix import shard as select_shard

    specs = all_specs = expand(suite)
    where = (*parse_shard(shard), "--shard") if shard else slurm_shard()
    if where:
        specs = select_shard(specs, where[0], where[1])
        err.print(f"shard {where[0]}/{where[1]} ({where[2]}): {len(specs)} of {len(all_specs)} runs, "
                  f"{len({s.train_key for s in specs})} of {len({s.train_key for s in all_specs})} trainings")
    return all_specs, specs, where


def _warn(message: str) -> None:
    err.print(f"warning: {message}", markup=False)


def _results_section(markdown: str) -> str:
    """The main table of report.md, for the terminal; the other tables and figures stay in the files."""
    section = markdown.split("\n## Results\n", 1)[-1]
    return "## Results\n" + section.split("\n## ", 1)[0].rstrip()


def _run_table(specs) -> RichTable:
    table = RichTable(title=f"{len(specs)} runs")
    for col in ("run id", "train key", "arch", "options", "training", "seed"):
        table.add_column(col)
    for s in specs:
        length = f"{s.train.iterations} it" if s.train.iterations else f"{s.train.epochs} ep"
        table.add_row(s.run_id, s.train_key, s.arch, " ".join(f"{k}={v}" for k, v in s.options.items()),
                      f"{s.train.optimizer} lr={s.train.lr} {length}", str(s.seed))
    return table


@app.command()
@user_errors
def validate(suite_files: Annotated[list[Path], typer.Argument(help="Suite files to check.")]) -> None:
    """Check suite files against the schema; every problem is listed with file, line and field."""
    from .suitefile import load_suite
    from .matrix import expand

    failed = 0
    for path in suite_files:
        try:
            n = len(expand(load_suite(path)))
            out.print(f"{path}: ok ({n} runs)")
        except SegbenchError as exc:
            err.print(f"error: {exc}", markup=False)
            failed += 1
    if failed:
        raise typer.Exit(2)


@app.command()
def schema(output: Annotated[Optional[Path], typer.Option("--out", help="Write to a file instead of stdout.")] = None
           ) -> None:
    """Print the suite JSON schema (for editor completion and validation)."""
    from .entries import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


@app.command("report")
@user_errors
def report_cmd(results_dir: Annotated[Path, typer.Argument(help="A results folder, e.g. results/smoke.")],
               output: Annotated[Optional[Path], typer.Option("--out", help="Report folder "
                                                              "[default: `reports/<suite>`].")] = None,
               formats: Annotated[str, typer.Option("--format", help="Comma-separated: md (+ figures/), tex, "
                                                    "csv (runs.csv, variants.csv), html.")] = "md,tex,csv,html",
               ) -> None:
    """Render the report from the run records (and references.json) of a results folder alone."""
    from . import report

    for path in report.render(results_dir, output, formats=report.parse_formats(formats), on_skip=_warn):
        out.print(f"wrote {path}")


@app.command("models")
@user_errors
def models_cmd(num_classes: Annotated[int, typer.Option(min=1, help="Number of classes.")] = 21,
               width: Annotated[float, typer.Option(min=0.01, max=4.0, help="Channel multiplier; 1.0 = the papers.")] = 1.0,
               input_shape: Annotated[str, typer.Option("--input", help="Input NxCxHxW of the FLOPs.")] = "1x3x512x512",
               as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False) -> None:
    """List the registered architectures' paper variants with their parameters and FLOPs.

    Models are built on the meta device: no weights are allocated, so even DeconvNet's 252M
    parameters are counted instantly. FLOPs are FlopCounterMode's (2 per multiply-add); GMACs = GFLOPs / 2.
    """
    from .profiling import paper_variants, parse_input

    shape = parse_input(input_shape)
    rows = paper_variants(num_classes, width, shape)
    if as_json:
        sys.stdout.write(json.dumps({"num_classes": num_classes, "width": width, "input_shape": shape,
                                     "variants": rows}, indent=2) + "\n")
        return
    table = RichTable(title=f"{num_classes} classes, width {width}, input {input_shape}")
    for col in ("variant", "arch", "options", "params (M)", "GFLOPs", "GMACs"):
        table.add_column(col, justify="left" if col in ("variant", "arch", "options") else "right")
    for r in rows:
        table.add_row(r["variant"], r["arch"], " ".join(f"{k}={v}" for k, v in r["options"].items()),
                      f"{r['params'] / 1e6:.2f}", f"{r['gflops']:.1f}", f"{r['gmacs']:.1f}")
    out.print(table)


@app.command("profile")
@user_errors
def profile_cmd(
        arch: Annotated[Optional[str], typer.Argument(help="Architecture (fcn, deeplab, ...); or use --suite.")] = None,
        sets: Annotated[Optional[list[str]], typer.Option("--set", help="KEY=VALUE model option, as in a suite's "
                                                          "model entry (repeatable).")] = None,
        input_shape: Annotated[Optional[str], typer.Option("--input", help="Input NxCxHxW [default: 1x3x512x512; "
                                                           "with --suite: the suite's probe shape].")] = None,
        suite_file: Annotated[Optional[Path], typer.Option("--suite", help="Profile each variant of a suite.")] = None,
        device: Annotated[Optional[str], typer.Option(help="cpu, cuda or auto [default: auto or the suite's].")] = None,
        repeats: Annotated[Optional[int], typer.Option(min=1, help="Timed passes [default: 30].")] = None,
        warmup: Annotated[Optional[int], typer.Option(min=0, help="Untimed passes first [default: 5].")] = None,
        throughput_batch: Annotated[Optional[int], typer.Option(min=1, help="Batch of the throughput figure "
                                                                "[default: 8].")] = None,
        threads: Annotated[Optional[int], typer.Option(min=1, help="torch CPU threads [default: torch's].")] = None,
        num_classes: Annotated[int, typer.Option(min=1, help="Classes (ARCH mode; a suite has its data set's).")] = 21,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False) -> None:
    """Params, FLOPs, latency, throughput and peak memory of a model, without training.

    e.g. segbench profile deeplab --set version=v3 --set backbone=resnet101 --set output_stride=8
    """
    from .errors import UsageError
    from .profiling import profile_model, profile_suite, table

    overrides = {k: v for k, v in {"repeats": repeats, "warmup": warmup, "throughput_batch": throughput_batch,
                                   "threads": threads}.items() if v is not None}
    if (arch is None) == (suite_file is None):
        raise UsageError("give either an architecture (segbench profile fcn ...) or --suite FILE, "
                         f"not {'both' if arch else 'neither'}")
    if suite_file is not None:
        if sets:
            raise UsageError("--set applies to ARCH; a suite's model entries give its options")
        result = profile_suite(suite_file, input_shape, device, overrides)
    else:
        result = profile_model(arch, sets or [], input_shape or "1x3x512x512", device, num_classes, overrides)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=1) + "\n")
    else:
        (out if out.is_terminal else Console(highlight=False, width=160)).print(table(result))  # logs: 160 columns


@app.command()
@user_errors
def score(pred: Annotated[Path, typer.Option(help="Folder of predicted label maps (PNG).")],
          gt: Annotated[Path, typer.Option(help="Folder of ground-truth label maps (PNG), same file names.")],
          num_classes: Annotated[Optional[int], typer.Option(min=1, help="Number of classes "
                                                             "[default: largest ground-truth label + 1].")] = None,
          ignore_index: Annotated[int, typer.Option(help="Ground-truth label to ignore.")] = 255,
          tolerance: Annotated[float, typer.Option(min=0.0, help="Boundary F1 tolerance "
                                                   "(fraction of the image diagonal).")] = 0.0075,
          json_file: Annotated[Optional[Path], typer.Option("--json", help="Also write the scores as JSON.")] = None,
          ) -> None:
    """Score PNG label maps (palette or greyscale) with segbench's metrics."""
    from .records import json_safe, write_json_atomic
    from .score import count, first_names, score_dirs, unmatched_predictions

    result = score_dirs(pred, gt, num_classes, ignore_index, tolerance)
    out.print(_per_class_table(result["per_class"]))
    for key, value in result["metrics"].items():
        out.print(f"{key:>10}: {100 * value:6.2f}" if value == value else f"{key:>10}:      –")
    out.print(f"{'images':>10}: {result['images']}  classes: {result['num_classes']}")
    if json_file:
        write_json_atomic(json_file, json_safe(result))
    unmatched = unmatched_predictions(pred, gt)
    if unmatched:
        err.print(f"warning: {count(len(unmatched), 'prediction')} in --pred {pred} without ground truth in --gt "
                  f"{gt}, not scored: {first_names(unmatched)}", markup=False)


def _per_class_table(per_class: dict[str, list]) -> RichTable:
    """IoU, accuracy and BF1 per class index, ×100; – where the class is absent."""
    table = RichTable(title="per class (×100)")
    for col in ("class", "IoU", "acc", "BF1"):
        table.add_column(col, justify="right")
    for c, values in enumerate(zip(per_class["iou"], per_class["acc"], per_class["bf1"])):
        table.add_row(str(c), *(f"{100 * v:.2f}" if v is not None and v == v else "–" for v in values))
    return table


app.add_typer(data_app, name="data")
register_checks(app)
