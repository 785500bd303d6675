"""Runs a suite end to end: train once per train_key, evaluate each run, write one record per run."""

import datetime as dt
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import data, models, records
from .config import Suite
from .crf import CRFParams, CRFPostProcess
from .errors import SegbenchError
from .evaluate import evaluate
from .matrix import RunSpec, short_hash
from .metrics import DEFINITIONS, HIGHER_IS_BETTER
from .environment import environment
from .probe import measure, parameter_counts
from .progress import Progress
from .samples import sample_indices, samples_block
from .train import fit, seed_everything


@dataclass
class Shared:
    """What the runs of one suite invocation share: rendered data sets and the CRF worker pool."""

    datasets: dict[tuple[str, str], data.InMemory] = field(default_factory=dict)
    crf: dict[str, CRFPostProcess] = field(default_factory=dict)

    def dataset(self, spec: RunSpec, split: str) -> data.InMemory:
        key = (short_hash(spec.dataset), split)
        if key not in self.datasets:
            self.datasets[key] = data.InMemory(data.build(spec.dataset, split))
        return self.datasets[key]

    def postprocess(self, spec: RunSpec) -> CRFPostProcess | None:
        """The dense CRF for runs with `crf: true` (one process pool per suite invocation)."""
        if not spec.options.get("crf"):
            return None
        key = short_hash(spec.eval["crf"])
        if key not in self.crf:
            pool = next(iter(self.crf.values())).pool if self.crf else None
            self.crf[key] = CRFPostProcess(CRFParams(**spec.eval["crf"]), pool)
        return self.crf[key]

    def close(self) -> None:
        if self.crf:
            next(iter(self.crf.values())).pool.close()  # one pool serves every CRF setting


@dataclass
class Summary:
    results_dir: Path
    skipped: list[str] = field(default_factory=list)
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def resolve_device(requested: str) -> torch.device:
    """`auto` picks CUDA when available; asking for CUDA without it is a user error."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise SegbenchError("the suite asks for device 'cuda' but torch sees no CUDA device; "
                            "set 'device: auto' or 'device: cpu' in the suite")
    return torch.device("cuda" if requested != "cpu" and torch.cuda.is_available() else "cpu")


def run_suite(suite: Suite, specs: list[RunSpec], results_dir: Path, progress: Progress,
              rerun: bool = False) -> Summary:
    """Run `specs` (a suite's expanded matrix, maybe one shard); failures are recorded, not raised."""
    device = resolve_device(suite.device)
    summary = Summary(Path(results_dir))
    shared = Shared()
    groups: dict[str, list[RunSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.train_key, []).append(spec)
    progress.start(len(specs))
    try:
        for group in groups.values():
            pending = [s for s in group if rerun or not records.completed(results_dir, s.run_id)]
            for spec in group:
                if spec not in pending:
                    summary.skipped.append(spec.run_id)
                    progress.skipped(spec)
            if pending:
                _run_group(pending, results_dir, device, progress, rerun, summary, shared)
    finally:
        shared.close()
    progress.finish(summary)
    return summary


def _run_group(pending: list[RunSpec], results_dir: Path, device: torch.device, progress: Progress,
               rerun: bool, summary: Summary, shared: Shared) -> None:
    """Train (or load) the shared checkpoint, then evaluate each pending run on it."""
    started = time.perf_counter()
    try:
        train_set, val = (shared.dataset(pending[0], split) for split in ("train", "val"))
        model, train_info = _trained_model(pending[0], train_set, results_dir, device, progress, rerun)
    except Exception as exc:  # noqa: BLE001 - a failing run must not stop the suite
        for spec in pending:
            _fail(spec, exc, results_dir, device, progress, summary, time.perf_counter() - started)
        return
    for spec in pending:
        t0 = time.perf_counter()
        try:
            progress.evaluating(spec)
            crf = shared.postprocess(spec)
            if crf:
                crf.pool.reset_stats()
            scores = evaluate(model, val, spec.eval["batch_size"], spec.eval["boundary_tolerance"], device,
                              postprocess=crf, on_batch=progress.eval_step, keep=sample_indices(len(val)))
            if crf:
                scores["crf"] = {"params": spec.eval["crf"], "seconds_per_image": crf.seconds_per_image,
                                 "workers": crf.pool.workers}
            probe = _probe(model, spec, device, crf)
            record = _record(spec, device, "ok", None) | scores_block(scores, val, spec) | probe | {
                "train": train_info, "model": {"params": parameter_counts(model)},
                "wall_s": time.perf_counter() - t0 + _training_time_spent(spec, pending[0], train_info)}
            records.write_record(results_dir, record)
            summary.succeeded.append(spec.run_id)
            progress.done(spec, record)
        except Exception as exc:  # noqa: BLE001
            _fail(spec, exc, results_dir, device, progress, summary, time.perf_counter() - t0)


def _probe(model: torch.nn.Module, spec: RunSpec, device: torch.device,
           crf: CRFPostProcess | None) -> dict[str, Any]:
    """{"probe": latency, throughput, memory, FLOPs} when the suite's probe is enabled, else {}."""
    if not spec.probe["enabled"]:
        return {}
    return {"probe": measure(model, spec.probe, spec.options.get("in_channels", 3), device,
                             crf.params if crf else None, spec.train)}


def _training_time_spent(spec: RunSpec, first: RunSpec, train_info: dict[str, Any]) -> float:
    """Training time charged to this run: the first run of a group that trained now carries it."""
    return train_info["wall_s"] if spec is first and not train_info["checkpoint_reused"] else 0.0


def _trained_model(spec: RunSpec, train_set: Any, results_dir: Path, device: torch.device, progress: Progress,
                   rerun: bool) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model of `spec`'s train_key: from its checkpoint if one exists, else trained now and saved."""
    seed_everything(spec.seed)
    model = models.build(spec.arch, train_set.num_classes, **spec.model_options)
    checkpoint = Path(results_dir) / "checkpoints" / f"{spec.train_key}.pt"
    if checkpoint.is_file() and not rerun:
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(saved["state_dict"])
        progress.reused_checkpoint(spec, checkpoint)
        return model.to(device), saved["train"] | {"checkpoint_reused": True}
    progress.training(spec, spec.train["iterations"] or spec.train["epochs"])
    info = fit(model, train_set, spec.train, spec.seed, device, on_step=progress.train_step)
    info["checkpoint"] = str(checkpoint)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    tmp = checkpoint.with_suffix(".tmp")
    torch.save({"state_dict": model.state_dict(), "train": info}, tmp)
    tmp.replace(checkpoint)
    return model, info | {"checkpoint_reused": False}


def scores_block(scores: dict[str, Any], dataset: Any, spec: RunSpec) -> dict[str, Any]:
    """The metric part of a record, with the definitions the numbers were computed under."""
    return {
        "metrics": scores["metrics"], "per_class": scores["per_class"],
        "metric_info": {"higher_is_better": HIGHER_IS_BETTER, "definitions": DEFINITIONS,
                        "boundary_tolerance": spec.eval["boundary_tolerance"]},
        "eval": {"images": scores["images"], "wall_s": scores["wall_s"], "crf": scores.get("crf")},
        "data": {"num_classes": dataset.num_classes, "class_names": list(dataset.class_names),
                 "palette": [list(c) for c in dataset.palette], "ignore_index": dataset.ignore_index},
        "samples": samples_block(dataset, scores.get("kept", {})),
    }


def _record(spec: RunSpec, device: torch.device, status: str, error: str | None) -> dict[str, Any]:
    return {"run_id": spec.run_id, "train_key": spec.train_key, "status": status, "error": error,
            "spec": spec.to_dict(), "environment": environment(device),
            "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def _fail(spec: RunSpec, exc: Exception, results_dir: Path, device: torch.device, progress: Progress,
          summary: Summary, wall_s: float) -> None:
    error = f"{type(exc).__name__}: {exc}"
    record = _record(spec, device, "failed", error) | {
        "traceback": traceback.format_exc(limit=-8), "wall_s": wall_s}
    records.write_record(results_dir, record)
    summary.failed.append(spec.run_id)
    progress.failed(spec, error)
