"""`segbench run --jobs N`: trainings in N processes at once give the records of one process, a failing training
is recorded as failed and the suite goes on, SIGTERM stops the jobs resumably, and a bad --jobs is exit 2."""

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from rich.console import Console

from segbench import jobs
from segbench.config import Reproducible
from segbench.errors import SegbenchError
from segbench.matrix import expand
from segbench.progress import Progress
from segbench.suitefile import load_suite
from tests.conftest import TINY_SUITE

# Two trainings per seed (FCN-32s and FCN-8s) at one thread each; seeds 0 and 1: four trainings
SUITE = TINY_SUITE.replace("seeds: [0]", "seeds: [0, 1]") + "reproducible: {threads: 1}\n"
CPU, CUDA = torch.device("cpu"), torch.device("cuda")
REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("jobs_option, device, reproducible, distributed, expected", [
    ("auto", CPU, Reproducible(threads=1), False, 8),     # one job per core
    ("auto", CPU, Reproducible(threads=2), False, 4),     # one job per `threads` cores
    ("auto", CPU, Reproducible(threads=16), False, 1),    # never fewer than one
    ("auto", CPU, None, False, 1),                        # torch's threads already use every core
    ("auto", CUDA, Reproducible(threads=1), False, 1),    # one GPU: one training
    ("auto", CPU, Reproducible(threads=1), True, 1),      # torchrun: every process trains each run
    ("3", CPU, None, False, 3),
    ("1", CPU, Reproducible(threads=1), True, 1),
])
def test_jobs_resolve_to_a_number_of_processes(monkeypatch, jobs_option, device, reproducible, distributed, expected):
    monkeypatch.setattr(jobs, "usable_cores", lambda: 8)
    assert jobs.resolve_jobs(jobs_option, device, reproducible, distributed) == expected


@pytest.mark.parametrize("jobs_option, distributed, message", [
    ("²", False, "--jobs '²': expected a positive number of processes, or auto"),
    ("0", False, "--jobs '0': expected a positive number of processes, or auto"),
    ("two", False, "--jobs 'two': expected a positive number of processes, or auto"),
    ("-1", False, "--jobs '-1': expected a positive number"),
    ("2", True, "--jobs 2: under torchrun each run already trains on every process"),
])
def test_a_bad_number_of_jobs_is_refused(jobs_option, distributed, message):
    with pytest.raises(SegbenchError, match=message):
        jobs.resolve_jobs(jobs_option, CPU, None, distributed)


def segbench_run(folder, suite, *options, **popen):
    folder.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "segbench", "run", str(suite), *options], cwd=folder,
                          capture_output=True, text=True, timeout=600, **popen)


def records(folder):
    return {r["run_id"]: r for r in (json.loads(p.read_text())
                                     for p in (folder / "results" / "tiny" / "runs").glob("*.json"))}


def test_two_jobs_give_the_records_of_one(tmp_path, write_suite):
    suite = write_suite(SUITE.replace("iterations: 2", "iterations: 30"))
    one = segbench_run(tmp_path / "one", suite, "--jobs", "1")
    two = segbench_run(tmp_path / "two", suite, "--jobs", "2")
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    assert "in a job of --jobs" not in one.stderr and two.stderr.count("(in a job of --jobs)") == 4
    serial, parallel = records(tmp_path / "one"), records(tmp_path / "two")
    assert len(serial) == 4 and serial.keys() == parallel.keys()
    for run_id, record in serial.items():
        other = parallel[run_id]
        assert (record["metrics"], record["per_class"]) == (other["metrics"], other["per_class"])
        assert record["train"]["loss_curve"] == other["train"]["loss_curve"]
        # trained by this invocation (in a job), not reused from an earlier one; the job's time is charged
        assert other["train"]["checkpoint_reused"] is False and other["wall_s"] >= other["train"]["wall_s"] > 0
        assert other["environment"]["threads"] == 1
    assert len({json.dumps(r["train"]["loss_curve"]) for r in serial.values()}) == 4   # four distinct trainings
    again = segbench_run(tmp_path / "two", suite, "--jobs", "2", "--rerun")   # trains all four again, in jobs
    assert again.returncode == 0 and again.stderr.count("(in a job of --jobs)") == 4, again.stderr
    assert {k: r["train"]["loss_curve"] for k, r in records(tmp_path / "two").items()} == \
           {k: r["train"]["loss_curve"] for k, r in serial.items()}


def test_a_training_that_fails_in_a_job_is_recorded_and_the_suite_goes_on(tmp_path, write_suite):
    suite = write_suite(SUITE)
    broken = [s for s in expand(load_suite(suite)) if s.options["skip"] == 32]   # seeds 0 and 1
    for spec in broken:   # the trained model cannot be saved there
        (tmp_path / "results" / "tiny" / "checkpoints" / f"{spec.train_key}.pt").mkdir(parents=True)
    done = segbench_run(tmp_path, suite, "--jobs", "2")
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("(in a job of --jobs)") == 4 and done.stderr.count("failed: IsADirectoryError") == 2
    saved = records(tmp_path)
    assert {run_id for run_id, r in saved.items() if r["status"] == "failed"} == {s.run_id for s in broken}
    for record in (r for r in saved.values() if r["status"] == "failed"):   # the job's own error and traceback
        assert record["error"].startswith("IsADirectoryError") and "IsADirectoryError" in record["traceback"]
        assert "TrainingFailed" not in record["traceback"] and "_trained_model" in record["traceback"]
    assert sum(r["status"] == "ok" for r in saved.values()) == 2 and "2 ran, 0 skipped (records exist), 2 failed" \
        in done.stdout


def test_sigterm_stops_the_jobs_resumably(tmp_path, write_suite):
    one_seed = SUITE.replace("seeds: [0, 1]", "seeds: [0]")   # two trainings, one per job
    suite = write_suite(one_seed.replace("iterations: 2", "iterations: 400"))
    straight = segbench_run(tmp_path / "straight", suite, "--jobs", "2")
    assert straight.returncode == 0, straight.stderr
    (tmp_path / "stopped").mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "segbench", "run", str(suite), "--jobs", "2"],
                            cwd=tmp_path / "stopped", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=os.environ | {"PYTHONUNBUFFERED": "1"})
    for line in proc.stderr:   # a job's training is a quarter through
        if "step 100/400" in line:
            break
    proc.send_signal(signal.SIGTERM)   # to the suite's process only: it passes the request on to the jobs
    _, rest = proc.communicate(timeout=120)
    assert proc.returncode == 143, rest
    assert "interrupted (SIGTERM)" in rest and re.search(r"was saved at step \d+ of 400 \(fcn skip=(8|32) seed 0\)", rest)
    checkpoints = tmp_path / "stopped" / "results" / "tiny" / "checkpoints"
    assert list(checkpoints.glob("*.state.pt")) and not records(tmp_path / "stopped")
    resumed = segbench_run(tmp_path / "stopped", suite, "--jobs", "2")
    assert resumed.returncode == 0, resumed.stderr
    again, first = records(tmp_path / "stopped"), records(tmp_path / "straight")
    assert {k: (r["metrics"], r["train"]["loss_curve"]) for k, r in again.items()} == \
           {k: (r["metrics"], r["train"]["loss_curve"]) for k, r in first.items()}
    assert any(r["train"]["resumed_at_step"] for r in again.values()) and not list(checkpoints.glob("*.state.pt"))


def test_the_command_line_refuses_a_bad_jobs_value_with_exit_2(tmp_path, write_suite):
    done = segbench_run(tmp_path, write_suite(SUITE), "--jobs", "many")
    assert done.returncode == 2 and "--jobs 'many': expected a positive number of processes, or auto" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "results").exists()


def nap(task, progress):
    """A job's work in these tests: sleep, or die without a word (a hard kill, as in the middle of a training:
    after the job's earlier answers have left it)."""
    if task.die:
        time.sleep(0.5)
        os._exit(3)
    time.sleep(task.seconds)
    return {"wall_s": task.seconds}


def naps(count, seconds, die=()):
    # 4 KB each: together more than a pipe holds, so that tasks left in the queue are a real test
    return [(f"t{i}", SimpleNamespace(label=f"task {i}", seed=0, seconds=seconds, die=i in die, pad=b"x" * 4096))
            for i in range(count)]


class Recorded(Progress):
    def __init__(self):
        super().__init__(Console(file=io.StringIO()))
        self.warnings = []

    def warning(self, message):
        self.warnings.append(message)


def test_a_job_that_dies_leaves_its_task_to_this_process_and_says_so():
    outcomes = jobs.run_jobs(naps(5, 0.1, die={1}), 2, nap, progress := Recorded())
    assert set(outcomes) == {"t0", "t2", "t3", "t4"} and outcomes["t0"] == {"wall_s": 0.1}
    assert len(progress.warnings) == 1 and "ended with exit code 3 before it had answered" in progress.warnings[0]


STOPPED_WITH_TASKS_LEFT = """
import os, signal, threading, time
from segbench import jobs
from segbench.interrupt import STOP, Interrupted
from segbench.progress import Progress
from tests.test_jobs import nap, naps
threading.Timer(3.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
with STOP.handled():
    try:
        jobs.run_jobs(naps(60, 0.5), 2, nap, Progress())
    except Interrupted as stop:
        print("stopped", stop.exit_code, flush=True)
"""


def test_a_stop_with_tasks_left_in_the_queue_ends_the_process():
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", STOPPED_WITH_TASKS_LEFT], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "stopped 143" in done.stdout, done.stderr
    assert "Traceback" not in done.stderr and time.perf_counter() - started < 60
