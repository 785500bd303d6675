"""Stop requests: SIGTERM (what Slurm and Kubernetes send before a kill) and Ctrl-C end a suite cleanly.

A training defers them to its next step boundary, saves its state there and stops; anywhere else the run in
progress stops at once, which loses nothing: records and checkpoints are written atomically, and a run
without its record runs again next time. A second request while one is deferred stops at once.
"""

import contextlib
import signal
import threading
import time
from collections.abc import Iterator

SIGNALS = (signal.SIGTERM, signal.SIGINT)
SAME_REQUEST_S = 2.0   # torchrun's agent forwards the signal its workers also get: one request, not two


class Interrupted(BaseException):
    """A stop request; a BaseException like KeyboardInterrupt, so that no run records it as a failure."""

    def __init__(self, signum: int, saved: str | None = None):
        self.signum, self.saved = signum, saved
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum   # 143 for SIGTERM, 130 for Ctrl-C, as a shell reports them


class StopRequests:
    """The process's stop requests (one instance, STOP: signals are per process)."""

    def __init__(self) -> None:
        self.requested: int | None = None
        self._deferring = 0
        self._first = 0.0

    def _handle(self, signum: int, frame) -> None:
        now = time.monotonic()
        again = self.requested is not None and now - self._first > SAME_REQUEST_S
        if self.requested is None:
            self.requested, self._first = signum, now
        if again or not self._deferring:
            raise Interrupted(self.requested)

    @contextlib.contextmanager
    def handled(self) -> Iterator[None]:
        """Turn SIGTERM and SIGINT into stop requests while the block runs (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
        self.requested = None
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Within the block a request only sets `requested`, for the code to act on at a safe point."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1


STOP = StopRequests()
