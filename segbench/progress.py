"""Progress display for a suite run: rich bars on a terminal, plain lines otherwise."""

import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichBars


class Progress:
    """Plain lines (for logs and CI); the base of the rich display."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True, highlight=False)
        self.total = 0
        self.finished = 0
        self._next_report = 0.0

    def start(self, total: int) -> None:
        self.total = total
        self.console.print(f"{total} runs")

    def skipped(self, spec: Any) -> None:
        self.finished += 1
        self.console.print(f"{self._count()} skip  {spec.label} seed {spec.seed}: record exists ({spec.run_id})")

    def warning(self, message: str) -> None:
        self.console.print(f"warning: {message}", style="yellow", markup=False)

    def reused_checkpoint(self, spec: Any, path: Any) -> None:
        self.console.print(f"{self._count(1)} reuse {spec.label} seed {spec.seed}: checkpoint {path}")

    def training(self, spec: Any, total_steps: int) -> None:
        self._next_report = 0.25
        self.console.print(f"{self._count(1)} train {spec.label} seed {spec.seed}")

    def train_step(self, step: int, total: int) -> None:
        if step / total >= self._next_report and step < total:
            self.quarter(step, total)
            self._next_report += 0.25

    def quarter(self, step: int, total: int) -> None:
        """A training has reached another quarter of its steps."""
        self.console.print(f"        step {step}/{total}")

    def job_started(self, spec: Any) -> None:
        self.console.print(f"        train {spec.label} seed {spec.seed} (in a job of --jobs)")

    def job_step(self, spec: Any, step: int, total: int) -> None:
        self.console.print(f"        {spec.label} seed {spec.seed}: step {step}/{total}", markup=False)

    def job_done(self, spec: Any, outcome: dict[str, Any]) -> None:
        said = f"failed: {outcome['error']}" if "error" in outcome else f"trained in {outcome['wall_s']:.0f} s"
        self.console.print(f"        {spec.label} seed {spec.seed}: {said}", markup=False)

    def evaluating(self, spec: Any) -> None:
        self.console.print(f"{self._count(1)} eval  {spec.label} seed {spec.seed}")

    def eval_step(self, batch: int, total: int) -> None:
        pass

    def done(self, spec: Any, record: dict[str, Any]) -> None:
        self.finished += 1
        m = record["metrics"]
        self.console.print(f"{self._count()} done  {spec.label} seed {spec.seed}: mIoU {100 * m['miou']:.1f}  "
                           f"BF1 {100 * m['bf1']:.1f}  ({record['wall_s']:.1f} s)")

    def failed(self, spec: Any, error: str) -> None:
        self.finished += 1
        self.console.print(f"{self._count()} FAIL  {spec.label} seed {spec.seed}: {error}", style="red")

    def finish(self, summary: Any) -> None:
        pass

    def _count(self, ahead: int = 0) -> str:
        return f"[{self.finished + ahead}/{self.total}]"


class RichProgress(Progress):
    """Bars for the suite and for the current run's training steps, with ETA."""

    def __init__(self, console: Console | None = None):
        super().__init__(console)
        self.bars = RichBars(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), TimeRemainingColumn(), console=self.console)
        self.suite_bar = self.step_bar = None

    def start(self, total: int) -> None:
        self.total = total
        self.bars.start()
        self.suite_bar = self.bars.add_task("suite", total=total)

    def training(self, spec: Any, total_steps: int) -> None:
        self._step_task(f"train {spec.label} seed {spec.seed}", total_steps)

    def train_step(self, step: int, total: int) -> None:
        self.bars.update(self.step_bar, completed=step)

    def evaluating(self, spec: Any) -> None:
        self._step_task(f"eval  {spec.label} seed {spec.seed}", None)

    def eval_step(self, batch: int, total: int) -> None:
        self.bars.update(self.step_bar, completed=batch, total=total)

    def skipped(self, spec: Any) -> None:
        super().skipped(spec)
        self.bars.advance(self.suite_bar)

    def done(self, spec: Any, record: dict[str, Any]) -> None:
        super().done(spec, record)
        self.bars.advance(self.suite_bar)

    def failed(self, spec: Any, error: str) -> None:
        super().failed(spec, error)
        self.bars.advance(self.suite_bar)

    def finish(self, summary: Any) -> None:
        self.bars.stop()

    def _step_task(self, description: str, total: int | None) -> None:
        if self.step_bar is not None:
            self.bars.remove_task(self.step_bar)
        self.step_bar = self.bars.add_task(description, total=total)


def make_progress() -> Progress:
    """Rich bars when stderr is a terminal, plain lines otherwise."""
    return RichProgress() if sys.stderr.isatty() else Progress(Console(stderr=True, highlight=False,
                                                                       soft_wrap=True))
