"""Runs a suite end to end: train once per train_key, evaluate each run, write one record per run."""

import datetime as dt
import functools
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import data, distributed, models, records, trainstate
from .crf import CRFPostProcess
from .crf.pool import default_workers
from .determinism import pin
from .errors import RankFailure, ResultsError, SegbenchError
from .failures import TrainingFailed, failure_text
from .interrupt import STOP, Interrupted
from .jobs import resolve_jobs, run_jobs
from .environment import environment, resolve_device
from .evaluate import evaluate
from .matrix import RunSpec, longest_first
from .metric_info import DEFINITIONS, HIGHER_IS_BETTER
from .probe import measure, parameter_counts
from .progress import Progress
from .samples import sample_indices, samples_block
from .train import fit
from .tta import MultiScaleInference


@dataclass
class Summary:
    results_dir: Path
    skipped: list[str] = field(default_factory=list)
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def run_suite(specs: list[RunSpec], results_dir: Path, progress: Progress, rerun: bool = False,
              jobs: str = "1") -> Summary:
    """Run `specs` (a suite's expanded matrix, maybe one shard), training in `jobs` processes at once;
    failures are recorded, not raised."""
    return SuiteRunner(Path(results_dir), progress, rerun).run(specs, jobs)


class SuiteRunner:
    """One invocation over a results folder: what its runs share (the device, rendered data sets, one
    CRF worker pool) and what it has done so far (the summary)."""

    def __init__(self, results_dir: Path, progress: Progress, rerun: bool = False):
        self.results_dir, self.progress, self.rerun = results_dir, progress, rerun
        self.world = distributed.from_environment()   # torchrun's ranks; one process otherwise
        self.summary = Summary(results_dir)
        self._datasets: dict[tuple, data.Described] = {}
        self._crf: dict[Any, CRFPostProcess] = {}
        self.trained_elsewhere: dict[str, dict[str, Any]] = {}   # by train_key: what a job of --jobs reported

    def run(self, specs: list[RunSpec], jobs: str = "1") -> Summary:
        """Each checkpoint's runs in turn: train (or reuse) once, then evaluate every pending run on it. With
        more than one job (`--jobs`, or auto) the missing checkpoints are first trained that many at once, each in
        a process of its own (segbench.jobs)."""
        groups: dict[str, list[RunSpec]] = {}
        for spec in specs:
            groups.setdefault(spec.train_key, []).append(spec)
        self.prepare(specs)
        processes = resolve_jobs(jobs, self.device, specs[0].reproducible if specs else None, self.world.active)
        self.progress.start(len(specs))
        try:
            records.check_writable(self.results_dir)
            todo = [pending for pending in map(self._pending, groups.values()) if pending]
            for pending in todo:   # a missing or broken data set stops the invocation here, before any model
                self._dataset(pending[0], "train"), self._dataset(pending[0], "val")
            with STOP.handled():
                self._train_in_jobs([pending[0] for pending in todo], processes)
                for pending in todo:
                    self._run_group(pending)
        finally:
            self._close()
            distributed.stop(self.world)
            self.progress.finish(self.summary)   # a terminal's bars end (and its cursor shows) on any exit
        return self.summary

    def prepare(self, specs: list[RunSpec]) -> None:
        """The device, the pinned numerics and the processes of a torchrun job: before any tensor is computed."""
        self.device = resolve_device(specs[0].device) if specs else torch.device("cpu")
        if specs and specs[0].reproducible:   # one suite's specs share it
            pin(specs[0].reproducible)
        self._check_world(specs)
        self.device = distributed.start(self.world, self.device)

    def _train_in_jobs(self, firsts: list[RunSpec], jobs: int) -> None:
        """Train the checkpoints that do not exist yet in `jobs` processes at once; remember what each gave."""
        missing = [s for s in firsts if self.rerun or not self._checkpoint(s).is_file()]
        if jobs > 1 and len(missing) > 1:
            work = functools.partial(train_checkpoint, results_dir=self.results_dir, rerun=self.rerun)
            tasks = [(s.train_key, s) for s in longest_first(missing)]
            self.trained_elsewhere = run_jobs(tasks, jobs, work, self.progress)

    def _check_world(self, specs: list[RunSpec]) -> None:
        """Refuse, before anything runs, what several processes cannot do with these runs."""
        for spec in specs if self.world.active else ():
            share = self.world.size * spec.train.accumulate
            if spec.train.batch_size % share:
                raise SegbenchError(f"{spec.label}: train.batch_size {spec.train.batch_size} is the step's whole "
                                    f"batch; with {self.world.size} processes and accumulate "
                                    f"{spec.train.accumulate} it must be a multiple of {share}")
            if spec.train.sync_bn and self.device.type != "cuda":
                raise SegbenchError(f"{spec.label}: train.sync_bn needs CUDA (torch's SyncBatchNorm has no CPU "
                                    "implementation); set sync_bn: false")

    def _pending(self, group: list[RunSpec]) -> list[RunSpec]:
        """The runs of a checkpoint that have no successful record yet (all of them with --rerun)."""
        pending = [s for s in group if self.rerun or not records.completed(self.results_dir, s.run_id)]
        for spec in group:
            if spec not in pending:
                self.summary.skipped.append(spec.run_id)
                self.progress.skipped(spec)
        return pending

    def _run_group(self, pending: list[RunSpec]) -> None:
        """Train (or load) the shared checkpoint, then evaluate each pending run on it."""
        started = time.perf_counter()
        try:
            train_set = data.for_training(pending[0].dataset, self._dataset(pending[0], "train"), pending[0].seed)
            model, train_info = self._trained_model(pending[0], train_set)
        except ResultsError:
            raise   # the results folder cannot be written: every later run would fail alike
        except Exception as exc:  # noqa: BLE001 - a failing run must not stop the suite
            for spec in pending:
                self._fail(spec, exc, time.perf_counter() - started)
            return
        for spec in pending:
            t0 = time.perf_counter()
            try:
                training_s = train_info["wall_s"] if spec is pending[0] and not train_info["checkpoint_reused"] else 0.0
                self._evaluate(spec, model, train_info, training_s)
            except ResultsError:
                raise
            except Exception as exc:  # noqa: BLE001
                self._fail(spec, exc, time.perf_counter() - t0)

    def _evaluate(self, spec: RunSpec, model: torch.nn.Module, train_info: dict[str, Any], training_s: float) -> None:
        """Evaluate and probe one run and write its record; `training_s` is the training time charged to it."""
        t0 = time.perf_counter()
        self.progress.evaluating(spec)
        val = self._dataset(spec, "val")
        crf = self._postprocess(spec)
        if spec.options.get("tta"):
            model = MultiScaleInference(model, spec.eval.tta_scales, spec.eval.tta_flip)
        if crf:
            crf.pool.reset_stats()
        scores = evaluate(model, val, spec.eval.batch_size, spec.eval.boundary_tolerance, self.device,
                          postprocess=crf, on_batch=self.progress.eval_step, keep=sample_indices(len(val)),
                          world=self.world)
        distributed.barrier(self.world)   # no rank computes while rank 0 probes
        if not self.world.main:   # rank 0 probes and writes
            distributed.barrier(self.world)
            return
        if crf:
            scores["crf"] = {"params": spec.eval.crf.model_dump(mode="json"),
                             "seconds_per_image": crf.seconds_per_image, "workers": crf.pool.workers}
        probe = {"probe": measure(model, spec.probe, spec.options.get("in_channels", 3), self.device,
                                  crf.params if crf else None, spec.train, val[0][0] if crf else None)
                 } if spec.probe.enabled else {}
        record = self._record(spec, "ok", None) | scores_block(scores, val, spec) | probe | {
            "train": train_info, "model": {"params": parameter_counts(model)},
            "wall_s": time.perf_counter() - t0 + training_s}
        records.write_record(self.results_dir, record)
        distributed.barrier(self.world)
        self.summary.succeeded.append(spec.run_id)
        self.progress.done(spec, record)

    def _dataset(self, spec: RunSpec, split: str) -> data.Described:
        """The split of the spec's data set, built once per invocation (samples cached where correct)."""
        key = (spec.dataset, split)
        if key not in self._datasets:
            self._datasets[key] = data.build_cached(spec.dataset, split)
        return self._datasets[key]

    def _postprocess(self, spec: RunSpec) -> CRFPostProcess | None:
        """The dense CRF for runs with `crf: true` (one process pool per invocation, for every setting)."""
        if not spec.options.get("crf"):
            return None
        if spec.eval.crf not in self._crf:
            pool = next(iter(self._crf.values())).pool if self._crf else None
            workers = max(1, default_workers() // self.world.local_size)   # ranks on one machine share its cores
            self._crf[spec.eval.crf] = CRFPostProcess(spec.eval.crf, pool, workers=workers)
        return self._crf[spec.eval.crf]

    def _close(self) -> None:
        if self._crf:
            next(iter(self._crf.values())).pool.close()

    def _trained_model(self, spec: RunSpec, train_set: Any) -> tuple[torch.nn.Module, dict[str, Any]]:
        """The model of `spec`'s train_key: from its checkpoint if one exists, else trained now (resuming a
        saved training state) and saved."""
        with torch.random.fork_rng(devices=[]):  # the initial weights are a function of the seed alone
            torch.manual_seed(spec.seed)
            model = models.build(spec.arch, train_set.num_classes, **spec.model_options)
        checkpoint = self._checkpoint(spec)
        elsewhere = self.trained_elsewhere.get(spec.train_key)   # trained in this invocation, by a job
        if elsewhere and "error" in elsewhere:
            raise TrainingFailed(elsewhere)
        saved = self._saved(checkpoint) if elsewhere or not self.rerun else None
        if distributed.largest(int(saved is None), self.world) == 0:   # every rank has it: reuse
            model.load_state_dict(saved["state_dict"])
            if not elsewhere:
                self.progress.reused_checkpoint(spec, checkpoint)
            return model.to(self.device), saved["train"] | {"checkpoint_reused": not elsewhere}
        self.progress.training(spec, spec.train.iterations or spec.train.epochs)
        train = spec.train.model_copy(update={"deterministic": True}) if spec.reproducible else spec.train
        state = checkpoint.with_suffix(".state.pt")
        if self.rerun and self.world.main:
            state.unlink(missing_ok=True)
        distributed.barrier(self.world)
        sync_bn = spec.train.sync_bn and self.world.active
        if sync_bn:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        info = fit(model, train_set, train, spec.seed, self.device, on_step=self.progress.train_step,
                   state_path=state, on_warning=self.progress.warning, world=self.world)
        info["checkpoint"] = str(checkpoint)
        with STOP.deferred():   # the trained model is saved before its training state goes
            if self.world.main:
                trainstate.save_atomic(checkpoint, {"state_dict": model.state_dict(), "train": info})
                state.unlink(missing_ok=True)
        if STOP.requested:   # asked during the last step: the training is complete and saved
            raise Interrupted(STOP.requested, "complete and saved")
        return distributed.without_sync_bn(model) if sync_bn else model, info | {"checkpoint_reused": False}

    def _checkpoint(self, spec: RunSpec) -> Path:
        return self.results_dir / "checkpoints" / f"{spec.train_key}.pt"

    def _saved(self, checkpoint: Path) -> dict[str, Any] | None:
        """A trained checkpoint's contents; None when there is none, or an unreadable one (reported)."""
        if not checkpoint.is_file():
            return None
        try:
            saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
            return saved if isinstance(saved, dict) and {"state_dict", "train"} <= set(saved) else None
        except Exception as exc:  # noqa: BLE001 - a truncated or foreign file
            self.progress.warning(f"checkpoint {checkpoint} is unreadable ({type(exc).__name__}): training again")
            return None

    def _record(self, spec: RunSpec, status: str, error: str | None) -> dict[str, Any]:
        return {"run_id": spec.run_id, "train_key": spec.train_key, "status": status, "error": error,
                "spec": spec.to_dict(), "environment": environment(self.device),
                "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}

    def _fail(self, spec: RunSpec, exc: Exception, wall_s: float) -> None:
        error = failure_text(exc, spec)
        if self.world.main:
            job = exc if isinstance(exc, TrainingFailed) else None
            record = self._record(spec, "failed", error) | {
                "traceback": job.job_traceback if job else traceback.format_exc(limit=-8),
                "wall_s": wall_s + (job.wall_s if job else 0.0)}
            records.write_record(self.results_dir, record)
            self.summary.failed.append(spec.run_id)
            self.progress.failed(spec, error)
        if self.world.active:   # the ranks' collectives would no longer pair up: stop the job
            raise RankFailure(f"{spec.label} seed {spec.seed} failed on rank {self.world.rank} of "
                              f"{self.world.size}: {error}. Under torchrun one rank cannot go on without the "
                              "others, so the job stops; the records written so far are kept") from exc


def train_checkpoint(spec: RunSpec, progress: Progress, results_dir: Path, rerun: bool) -> dict[str, Any]:
    """One job of `segbench run --jobs`, in its own process: train `spec`'s checkpoint and save it (resuming
    a saved training state); the seconds it took, or the error that stopped it."""
    started = time.perf_counter()
    runner = SuiteRunner(results_dir, progress, rerun)
    runner.prepare([spec])
    try:
        train_set = data.for_training(spec.dataset, runner._dataset(spec, "train"), spec.seed)
        return {"wall_s": runner._trained_model(spec, train_set)[1]["wall_s"]}
    except Exception as exc:  # noqa: BLE001 - recorded by the suite's process, which goes on
        return {"error": failure_text(exc, spec), "traceback": traceback.format_exc(limit=-8),
                "wall_s": time.perf_counter() - started}


def scores_block(scores: dict[str, Any], dataset: Any, spec: RunSpec) -> dict[str, Any]:
    """The metric part of a record, with the definitions the numbers were computed under."""
    return {
        "metrics": scores["metrics"], "per_class": scores["per_class"],
        "metric_info": {"higher_is_better": HIGHER_IS_BETTER, "definitions": DEFINITIONS,
                        "boundary_tolerance": spec.eval.boundary_tolerance},
        "eval": {"images": scores["images"], "wall_s": scores["wall_s"], "crf": scores.get("crf")},
        "data": {"num_classes": dataset.num_classes, "class_names": list(dataset.class_names),
                 "palette": [list(c) for c in dataset.palette], "ignore_index": dataset.ignore_index},
        "samples": samples_block(dataset, scores.get("kept", {})),
    }
