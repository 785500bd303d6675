"""`CRFPool`: the dense CRF over the images of a batch in worker processes, asynchronously.

`submit()` returns at once with a handle, `result(handle)` waits for the labels. The pool accumulates
the CRF's own compute time per image (`seconds_per_image`), apart from the network's. Workers need only
numpy and pydensecrf: nothing here imports torch.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import ctypes.util
import multiprocessing
import os
import sys
import time
from typing import Any

import numpy as np

from .dense import crf_image, load_pydensecrf
from .params import DEEPLAB_V2_RESNET101, CRFParams

def default_workers() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_MAX = 32 << 20  # glibc's upper limit on 64-bit
_TRIM_THRESHOLD = 1 << 30


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse in this process; False where it cannot (no glibc).

    A VOC-sized CRF allocates and frees buffers of ~16 MB per image. By default glibc serves them
    with fresh mmap()s or returns the freed heap to the OS, so every image page-faults its buffers
    in again (zero-filled by the kernel): in two workers at once that made each image cost 1.46 s of
    CPU instead of 1.27 s (benchmarks/crf.py). Serving blocks up to 32 MB from the heap and keeping
    up to 1 GB of freed heap removes that; a worker then holds its peak memory until it exits.
    """
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))


def _init_worker(report=None) -> None:
    """Runs once in each worker: one thread per worker process (the pool is the parallelism), freed
    memory kept for reuse (`keep_freed_memory`), and pydensecrf imported up front so that a missing
    install fails at pool start, not mid-run."""
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    keeps_freed_memory = keep_freed_memory()
    torch = sys.modules.get("torch")  # imported only if the parent's __main__ imports it at top level
    if torch is not None:
        torch.set_num_threads(1)
    load_pydensecrf()
    if report is not None:
        report.put(_worker_info(keeps_freed_memory))


def _noop() -> None:
    return None


def _worker_info(malloc_keeps_freed_memory: bool) -> dict[str, Any]:
    """What a worker runs with: its pid, whether malloc keeps freed memory, whether torch got imported
    into it, torch's thread count."""
    torch = sys.modules.get("torch")
    return {"pid": os.getpid(), "malloc_keeps_freed_memory": malloc_keeps_freed_memory,
            "torch_imported": torch is not None,
            "torch_threads": torch.get_num_threads() if torch is not None else None}


def _crf_task(probs: np.ndarray, image: np.ndarray, params: CRFParams) -> tuple[np.ndarray, float, float]:
    """(labels, wall seconds, CPU seconds of this process) for one image."""
    wall, cpu = time.perf_counter(), time.process_time()
    labels = crf_image(probs, image, params)
    return labels, time.perf_counter() - wall, time.process_time() - cpu


class CRFHandle:
    """A submitted batch: one future per image. Pass it to `CRFPool.result` (once)."""

    __slots__ = ("futures", "collected")

    def __init__(self, futures: list[concurrent.futures.Future]):
        self.futures = futures
        self.collected = False

    def __len__(self) -> int:
        return len(self.futures)


class CRFPool:
    """`crf_image` over batches of images in a pool of worker processes, asynchronously.

    workers: processes; default `default_workers()` (the cores this process may use). 0 runs the
    CRF in this process, synchronously inside `submit` (for debugging, or a single core).

    start_method: 'spawn' by default. Not 'fork': the parent typically holds threads (torch's
    intra-op pool, CUDA's, DataLoader's pin-memory thread) and a CUDA context; a forked child
    inherits locks held by threads that do not exist in it (possible deadlocks) and cannot use
    CUDA. 'spawn' starts each worker as a fresh interpreter: no inherited threads, locks or CUDA
    state, the same on Linux, macOS and Windows. Its one cost, a second or so of start-up per worker
    (re-importing the parent's __main__ module as __mp_main__, which must be guarded by
    `if __name__ == "__main__"`), is paid once per pool, not per batch. 'forkserver' is equally safe
    on Linux and may be passed; it is not the default because its server is a per-process
    singleton shared with any other user of forkserver (its environment and preloads are whatever
    the first user started it with).

    Each worker runs with one thread (OMP/MKL/OpenBLAS at 1, torch's intra-op threads at 1 if the
    parent's __main__ imported torch into it): the pool itself is the parallelism.
    """

    def __init__(self, params: CRFParams = DEEPLAB_V2_RESNET101, workers: int | None = None,
                 start_method: str = "spawn"):
        load_pydensecrf()  # fail here, with the install hint, rather than in a worker
        self.params = params
        self.workers = default_workers() if workers is None else int(workers)
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers!r}")
        self.start_method = start_method if self.workers else "inline"
        self.crf_seconds = 0.0      # CRF wall time, summed over images (each on one worker)
        self.crf_cpu_seconds = 0.0  # CRF CPU time, summed over images (below crf_seconds if the core was shared)
        self.images = 0
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None
        self.worker_info: list[dict[str, Any]] = []  # per worker: see _worker_info
        if self.workers:
            ctx = multiprocessing.get_context(start_method)
            report = ctx.Queue()
            self._executor = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.workers, mp_context=ctx, initializer=_init_worker, initargs=(report,))
            try:
                # Start every worker now (with spawn the executor starts them lazily, one per submit
                # that finds none idle): start-up is not charged to the first batch, and a worker
                # that cannot start shows here. Each reports once from its initialiser.
                for f in [self._executor.submit(_noop) for _ in range(self.workers)]:
                    f.result()
                self.worker_info = [report.get(timeout=120) for _ in range(self.workers)]
            except BaseException:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
                raise
            finally:
                report.close()
                report.join_thread()

    def submit(self, probs: np.ndarray, images: np.ndarray, params: CRFParams | None = None) -> CRFHandle:
        """Queue a batch: probs [N, C, H, W] softmax (float32), images [N, H, W, 3] uint8 RGB.
        Returns at once (with workers) with a handle for `result`."""
        probs, images = np.asarray(probs), np.asarray(images)
        if probs.ndim != 4 or images.ndim != 4 or images.shape != (probs.shape[0], *probs.shape[2:], 3):
            raise ValueError(f"need probs [N, C, H, W] and images [N, H, W, 3] with the same N, H, W; "
                             f"got {probs.shape} and {images.shape}")
        params = self.params if params is None else params
        if self._executor is None:
            futures = []
            for p, im in zip(probs, images):
                f: concurrent.futures.Future = concurrent.futures.Future()
                try:
                    f.set_result(_crf_task(p, im, params))
                except Exception as e:  # delivered by result(), as from a worker
                    f.set_exception(e)
                futures.append(f)
            return CRFHandle(futures)
        return CRFHandle([self._executor.submit(_crf_task, np.ascontiguousarray(p, dtype=np.float32),
                                                np.ascontiguousarray(im), params)
                          for p, im in zip(probs, images)])

    def result(self, handle: CRFHandle) -> np.ndarray:
        """Wait for a submitted batch; its labels [N, H, W] int64."""
        if handle.collected:
            raise RuntimeError("this CRF batch was already collected")
        try:
            done = [f.result() for f in handle.futures]
        except BaseException:
            for f in handle.futures:
                f.cancel()
            raise
        handle.collected = True
        self.crf_seconds += sum(wall for _, wall, _ in done)
        self.crf_cpu_seconds += sum(cpu for _, _, cpu in done)
        self.images += len(done)
        return np.stack([labels for labels, _, _ in done])

    def map(self, probs: np.ndarray, images: np.ndarray, params: CRFParams | None = None) -> np.ndarray:
        """submit + result."""
        return self.result(self.submit(probs, images, params))

    @property
    def seconds_per_image(self) -> float:
        """CRF seconds per image (wall time in its worker), over every batch collected so far; nan if none.
        The network's time is not in it: only `crf_image` is timed."""
        return self.crf_seconds / self.images if self.images else float("nan")

    @property
    def cpu_seconds_per_image(self) -> float:
        """CRF CPU seconds per image; below `seconds_per_image` when other processes shared the core."""
        return self.crf_cpu_seconds / self.images if self.images else float("nan")

    def reset_stats(self) -> None:
        self.crf_seconds = self.crf_cpu_seconds = 0.0
        self.images = 0

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> CRFPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
