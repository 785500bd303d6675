"""Trainings in several local processes at once: `segbench run --jobs N`.

Small models use a second CPU core poorly (two threads share each step), so single-threaded processes side
by side train more steps per second than one process with all the cores (benchmarks/jobs.py). Only training
moves to the jobs: evaluation, the probes and the records stay in the suite's process, so that latency is
timed on an otherwise idle machine. Each job pins the suite's numerics as the suite's process does, so with
`reproducible:` the records do not depend on the number of jobs.

Stop requests reach every job (a terminal's Ctrl-C reaches them itself; SIGTERM is forwarded): each saves its
training at the end of the current step, and the same command resumes them.
"""

import multiprocessing
import os
import queue
from collections.abc import Callable
from typing import Any

import torch
from rich.console import Console

from .errors import SegbenchError
from .interrupt import STOP, Interrupted
from .progress import Progress

POLL_S = 0.5   # how often the suite's process looks whether a job died without a word (a hard kill)


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def resolve_jobs(jobs: str, device: torch.device, reproducible: Any, distributed: bool) -> int:
    """`--jobs` as a number: `auto` runs one job per `reproducible.threads` cores of a CPU, else one."""
    if jobs == "auto":
        if distributed or device.type != "cpu" or not reproducible:
            return 1
        return max(1, usable_cores() // reproducible.threads)
    if not jobs.isdigit() or int(jobs) < 1:
        raise SegbenchError(f"--jobs {jobs!r}: expected a positive number of processes, or auto")
    if int(jobs) > 1 and distributed:
        raise SegbenchError(f"--jobs {jobs}: under torchrun each run already trains on every process; "
                            "leave --jobs out")
    return int(jobs)


def run_jobs(tasks: list[tuple[str, Any]], jobs: int, work: Callable[[Any, Progress], dict[str, Any]],
             progress: Progress) -> dict[str, dict[str, Any]]:
    """`work(payload, progress)` for each (key, payload) of `tasks`, in `jobs` processes; what each returned,
    by key. A task whose process died without an answer is left out (its training runs again in this one)."""
    context = multiprocessing.get_context("spawn")   # a fresh interpreter: each job pins its own numerics
    todo, answers = context.Queue(), context.Queue()
    for task in tasks:
        todo.put(task)
    processes = [context.Process(target=_serve, args=(work, todo, answers), name=f"segbench-job-{i}")
                 for i in range(min(jobs, len(tasks)))]
    for process in processes:
        todo.put(None)
        process.start()
    payloads, outcomes = dict(tasks), {}
    try:
        while len(outcomes) < len(tasks):
            try:
                key, kind, value = answers.get(timeout=POLL_S)
            except queue.Empty:
                if not any(p.is_alive() for p in processes):
                    break
                continue
            if kind == "started":
                progress.job_started(payloads[key])
            elif kind == "step":
                progress.job_step(payloads[key], *value)
            elif kind == "warning":
                progress.warning(value)
            elif kind == "done":
                outcomes[key] = value
                progress.job_done(payloads[key], value)
    except Interrupted as stop:
        saved = [f"{payloads[key].label} seed {payloads[key].seed} {where}"
                 for key, where in _stopped(processes, answers, stop.signum)]
        raise Interrupted(stop.signum, "; ".join(saved) or None) from None
    finally:
        for process in processes:
            process.join(timeout=None if STOP.requested is None else 60)
            if process.is_alive():
                process.kill()
    return outcomes


def _stopped(processes: list, answers: Any, signum: int) -> list[tuple[str, str]]:
    """Pass the stop request on to the jobs; (key, where it was saved) for each training they saved."""
    for process in processes:
        if process.is_alive():
            os.kill(process.pid, signum)
    saved = []
    with STOP.deferred():   # a second request within SAME_REQUEST_S is this one
        while any(p.is_alive() for p in processes) or not answers.empty():
            try:
                key, kind, value = answers.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if kind == "stopped" and value:
                saved.append((key, value))
    return saved


class _Quarters(Progress):
    """A job's progress: its warnings and the quarter marks of its training go to the suite's process."""

    def __init__(self, send: Callable[[str, Any], None]):
        super().__init__(Console(quiet=True))
        self.send = send

    def train_step(self, step: int, total: int) -> None:
        if step / total >= self._next_report and step < total:
            self.send("step", (step, total))
            self._next_report += 0.25

    def warning(self, message: str) -> None:
        self.send("warning", message)


def _serve(work: Callable[[Any, Progress], dict[str, Any]], todo: Any, answers: Any) -> None:
    """A job's process: take tasks until the queue says None, answering for each; stop when asked."""
    key = None
    with STOP.handled():
        try:
            while (task := todo.get()) is not None:
                key, payload = task
                answers.put((key, "started", None))
                quarters = _Quarters(lambda kind, value, key=key: answers.put((key, kind, value)))
                answers.put((key, "done", work(payload, quarters)))
                key = None
        except Interrupted as stop:
            answers.put((key, "stopped", stop.saved))
        except KeyboardInterrupt:
            answers.put((key, "stopped", None))
