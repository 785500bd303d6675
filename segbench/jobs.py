"""Trainings in several local processes at once: `segbench run --jobs N`.

Small models use a second CPU core poorly (two threads share each step), so single-threaded processes side
by side train more steps per second than one process with all the cores (benchmarks/jobs.py). Only training
moves to the jobs: evaluation, the probes and the records stay in the suite's process, so that latency is
timed on an otherwise idle machine. Each job pins the suite's numerics as the suite's process does, so with
`reproducible:` the records do not depend on the number of jobs.

A stop request to the suite's process is passed on to every job as SIGTERM (the jobs ignore a terminal's
Ctrl-C, so that one request stays one): each saves its training at the end of its step, and the same
command resumes them. Tasks no job took are dropped, and a job that dies is reported.
"""

import multiprocessing
import os
import queue
import signal
from collections.abc import Callable, Iterator
from typing import Any

import torch
from rich.console import Console

from .errors import SegbenchError
from .interrupt import SIGNALS, STOP, Interrupted
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
    if not (jobs.isascii() and jobs.isdigit()) or int(jobs) < 1:
        raise SegbenchError(f"--jobs {jobs!r}: expected a positive number of processes, or auto")
    if int(jobs) > 1 and distributed:
        raise SegbenchError(f"--jobs {jobs}: under torchrun each run already trains on every process; "
                            "leave --jobs out")
    return int(jobs)


def run_jobs(tasks: list[tuple[str, Any]], jobs: int, work: Callable[[Any, Progress], dict[str, Any]],
             progress: Progress) -> dict[str, dict[str, Any]]:
    """`work(payload, progress)` for each (key, payload) of `tasks`, in `jobs` processes; what each returned,
    by key. A task whose process died or was stopped on its own is left out: its training runs (or resumes)
    in this one."""
    context = multiprocessing.get_context("spawn")   # a fresh interpreter: each job pins its own numerics
    todo, answers = context.Queue(), context.Queue()
    todo.cancel_join_thread()   # tasks no job took when a stop came are dropped, not waited on at exit
    for task in [*tasks, *[None] * jobs]:
        todo.put(task)
    processes = [context.Process(target=_serve, args=(work, todo, answers), name=f"segbench-job-{i}")
                 for i in range(min(jobs, len(tasks)))]
    payloads, outcomes = dict(tasks), {}
    try:
        _start(processes)
        for key, kind, value in _answers(answers, processes, len(tasks), progress):
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
        saved = [f"{where} ({payloads[key].label} seed {payloads[key].seed})"
                 for key, where in _stopped(processes, answers)]
        raise Interrupted(stop.signum, " and ".join(saved) or None) from None
    except BaseException:
        _signal(processes)   # this process cannot take the answers: the jobs save and stop
        raise
    finally:
        for process in processes:
            process.join(timeout=None if STOP.requested is None else 60)
            if process.is_alive():
                process.kill()
    return outcomes


def _start(processes: list) -> None:
    """Start the jobs with stop signals blocked: a job takes requests once it can save (a request to this
    process meanwhile arrives when they are unblocked here, and is passed on)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        for process in processes:
            process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _answers(answers: Any, processes: list, expected: int, progress: Progress) -> Iterator[tuple]:
    """The jobs' messages until `expected` tasks are done or every job has ended (the last ones drained)."""
    done, reported = 0, set()
    while done < expected:
        try:
            message = answers.get(timeout=POLL_S)
        except queue.Empty:
            for process in processes:
                if process.exitcode not in (None, 0) and process.name not in reported:
                    reported.add(process.name)
                    progress.warning(f"{process.name} ended with exit code {process.exitcode} before it had "
                                     "answered; its training runs again in this process")
            if all(p.exitcode is not None for p in processes) and answers.empty():
                return
            continue
        done += message[1] == "done"
        yield message


def _signal(processes: list) -> None:
    for process in processes:
        if process.is_alive():
            os.kill(process.pid, signal.SIGTERM)


def _stopped(processes: list, answers: Any) -> list[tuple[str, str]]:
    """Pass the stop request on to the jobs (as SIGTERM: they ignore a terminal's Ctrl-C); (key, where it was
    saved) for each training they saved. A further request is passed on too: the jobs then stop at once."""
    _signal(processes)
    saved = []
    while any(p.is_alive() for p in processes) or not answers.empty():
        try:
            key, kind, value = answers.get(timeout=POLL_S)
        except queue.Empty:
            continue
        except Interrupted:
            _signal(processes)
            continue
        if kind == "stopped" and value:
            saved.append((key, value))
    return saved


class _Quarters(Progress):
    """A job's progress: its warnings and the quarter marks of its training go to the suite's process."""

    def __init__(self, send: Callable[[str, Any], None]):
        super().__init__(Console(quiet=True))
        self.send = send

    def quarter(self, step: int, total: int) -> None:
        self.send("step", (step, total))

    def warning(self, message: str) -> None:
        self.send("warning", message)


def _serve(work: Callable[[Any, Progress], dict[str, Any]], todo: Any, answers: Any) -> None:
    """A job's process: take tasks until the queue says None, answering for each; on SIGTERM save and stop.
    A terminal's Ctrl-C is left to the suite's process, which passes it on: one request, not two."""
    key = None
    with STOP.handled():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)   # a SIGTERM passed on meanwhile arrives here
            while (task := todo.get()) is not None:
                key, payload = task
                answers.put((key, "started", None))
                quarters = _Quarters(lambda kind, value, key=key: answers.put((key, kind, value)))
                answers.put((key, "done", work(payload, quarters)))
                key = None
        except Interrupted as stop:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            answers.put((key, "stopped", stop.saved))
