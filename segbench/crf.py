"""Fully-connected CRF post-processing (Krähenbühl & Koltun, NIPS 2011), as DeepLab applies it.

The CRF runs on the CPU through pydensecrf (`pip install pydensecrf2`, imported as `pydensecrf`).
This module imports without it; using the CRF without it raises `CRFUnavailableError`.

Three layers:

* `crf_image(probs, image, params)`: one image, in this process.
* `CRFPool`: `crf_image` over the images of a batch in worker processes, asynchronously:
  `submit()` returns at once with a handle, `result(handle)` waits for the labels. The pool
  accumulates the CRF's own compute time per image (`seconds_per_image`), apart from the network's.
* `CRFPostProcess`: the `postprocess(logits, images_u8) -> labels` callable that
  `segbench.evaluate.evaluate` takes, plus `submit`/`result` and `pipeline()` so that an evaluation
  loop can run the network on batch k while the workers run the CRF on batch k-1.

Worker processes are started with 'spawn' by default (see `CRFPool`), and need only numpy and
pydensecrf: this module imports torch lazily, inside `CRFPostProcess`, never at module level.
"""

from __future__ import annotations

import collections
import concurrent.futures
import ctypes
import ctypes.util
import dataclasses
import multiprocessing
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import SegbenchError

if TYPE_CHECKING:
    import torch

INSTALL_HINT = "pip install pydensecrf2"


class CRFUnavailableError(SegbenchError, ImportError):
    """pydensecrf is not installed."""


def _pydensecrf():
    """(densecrf module, unary_from_softmax), or a CRFUnavailableError saying how to install them."""
    try:
        import pydensecrf.densecrf as dcrf
        from pydensecrf.utils import unary_from_softmax
    except ImportError as e:
        raise CRFUnavailableError(
            f"dense CRF post-processing needs pydensecrf, which is not installed ({e}); "
            f"install it with `{INSTALL_HINT}` (it builds from source: needs a C++ compiler)") from e
    return dcrf, unary_from_softmax


def crf_available() -> bool:
    """Whether pydensecrf can be imported."""
    try:
        _pydensecrf()
    except CRFUnavailableError:
        return False
    return True


# ---------------------------------------------------------------------------------- parameters

@dataclasses.dataclass(frozen=True)
class CRFParams:
    """Mean-field iterations and the two Potts-kernel weights and widths of DeepLab's dense CRF.

    Energy (DeepLab v2, eq. 3): pos_w * exp(-|p_i - p_j|^2 / 2 pos_xy_std^2)  [smoothness]
                              + bi_w  * exp(-|p_i - p_j|^2 / 2 bi_xy_std^2 - |I_i - I_j|^2 / 2 bi_rgb_std^2)
    [appearance], positions in pixels, colours in 0-255 RGB. The defaults are DeepLab v2 ResNet-101's.
    """

    iterations: int = 10
    pos_w: float = 3.0
    pos_xy_std: float = 1.0
    bi_w: float = 4.0
    bi_xy_std: float = 67.0
    bi_rgb_std: float = 3.0

    def __post_init__(self) -> None:
        if isinstance(self.iterations, bool) or not isinstance(self.iterations, (int, np.integer)) \
                or self.iterations < 0:
            raise ValueError(f"iterations must be an integer >= 0, got {self.iterations!r}")
        for name in ("pos_w", "bi_w"):
            if not np.isfinite(getattr(self, name)) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {getattr(self, name)!r}")
        for name in ("pos_xy_std", "bi_xy_std", "bi_rgb_std"):
            if not np.isfinite(getattr(self, name)) or getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {getattr(self, name)!r}")


# DeepLab's published CRF settings for PASCAL VOC 2012 (cross-validated on 100 val images).
#
# v2, ResNet-101 + ASPP: Chen et al., "DeepLab: Semantic Image Segmentation with Deep Convolutional
# Nets, Atrous Convolution, and Fully Connected CRFs", TPAMI 2017 (arXiv:1606.00915), as released
# with the DeepLab-v2 ResNet-101 VOC12 model (test prototxt, dense_crf_param: max_iter 10, pos_w 3,
# pos_xy_std 1, bi_w 4, bi_xy_std 67, bi_rgb_std 3); e.g. kazuto1011/deeplab-pytorch configs/voc12.yaml
# carries the same values. Note: the paper's text gives w2 = 3, sigma_gamma = 3 as the smoothness
# kernel's default; the released ResNet-101 configuration uses pos_xy_std = 1.
DEEPLAB_V2_RESNET101 = CRFParams(iterations=10, pos_w=3, pos_xy_std=1, bi_w=4, bi_xy_std=67, bi_rgb_std=3)
#
# v1, VGG-16 "DeepLab-CRF-LargeFOV": Chen et al., "Semantic Image Segmentation with Deep
# Convolutional Nets and Fully Connected CRFs", ICLR 2015 (arXiv:1412.7062): smoothness kernel at
# the paper's defaults w2 = 3, sigma_gamma = 3; appearance kernel w1 = 4, sigma_alpha = 121,
# sigma_beta = 5 as listed for the released DeepLab-LargeFOV model; 10 mean-field iterations.
DEEPLAB_V1_LARGEFOV = CRFParams(iterations=10, pos_w=3, pos_xy_std=3, bi_w=4, bi_xy_std=121, bi_rgb_std=5)

PRESETS: dict[str, CRFParams] = {
    "deeplab-v2-resnet101": DEEPLAB_V2_RESNET101,
    "deeplab-v1-largefov": DEEPLAB_V1_LARGEFOV,
}


# -------------------------------------------------------------------------------- one image

def crf_image(probs: np.ndarray, image: np.ndarray, params: CRFParams = DEEPLAB_V2_RESNET101) -> np.ndarray:
    """Dense-CRF labels [H, W] (int64) from softmax probabilities [C, H, W] and the RGB image
    [H, W, 3] uint8 (un-normalised, 0-255), by `params.iterations` mean-field steps.

    Any memory layout is accepted: both arrays are made C-contiguous before they reach
    pydensecrf (whose C++ side reads raw buffers in HWC row-major order).
    """
    dcrf, unary_from_softmax = _pydensecrf()
    probs = np.asarray(probs)
    image = np.asarray(image)
    if probs.ndim != 3:
        raise ValueError(f"probs must be [C, H, W], got shape {probs.shape}")
    if not np.issubdtype(probs.dtype, np.floating):
        raise TypeError(f"probs must be floating-point softmax probabilities, got {probs.dtype}")
    n_labels, h, w = probs.shape
    if image.shape != (h, w, 3):
        raise ValueError(f"image must be [H, W, 3] = [{h}, {w}, 3] (HWC, matching probs), got {image.shape}")
    if image.dtype != np.uint8:
        raise TypeError(f"image must be uint8 RGB in 0-255, got {image.dtype}")
    unary = np.ascontiguousarray(unary_from_softmax(probs.astype(np.float32, copy=False)), dtype=np.float32)
    crf = dcrf.DenseCRF2D(w, h, n_labels)  # width first
    crf.setUnaryEnergy(unary)
    crf.addPairwiseGaussian(sxy=params.pos_xy_std, compat=params.pos_w)
    crf.addPairwiseBilateral(sxy=params.bi_xy_std, srgb=params.bi_rgb_std,
                             rgbim=np.ascontiguousarray(image), compat=params.bi_w)
    q = np.asarray(crf.inference(params.iterations), dtype=np.float32).reshape(n_labels, h, w)
    return q.argmax(0)


# -------------------------------------------------------------------------------- the pool

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
    _pydensecrf()
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

    def done(self) -> bool:
        return all(f.done() for f in self.futures)

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
        _pydensecrf()  # fail here, with the install hint, rather than in a worker
        self.params = params
        self.workers = default_workers() if workers is None else int(workers)
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers!r}")
        self.start_method = start_method if self.workers else "inline"
        self.crf_seconds = 0.0      # CRF wall time, summed over images (each on one worker)
        self.crf_cpu_seconds = 0.0  # CRF CPU time, summed over images (below crf_seconds if the core was shared)
        self.wait_seconds = 0.0     # time callers spent blocked in result()
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
        start = time.perf_counter()
        try:
            done = [f.result() for f in handle.futures]
        except BaseException:
            for f in handle.futures:
                f.cancel()
            raise
        finally:
            self.wait_seconds += time.perf_counter() - start
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
        self.crf_seconds = self.crf_cpu_seconds = self.wait_seconds = 0.0
        self.images = 0

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> CRFPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ------------------------------------------------------------------------- post-processing

class CRFPostProcess:
    """The dense CRF as `evaluate(..., postprocess=...)` takes it: `(logits [N, C, H, W] on any
    device, images_u8 [N, 3, H, W] uint8 CPU) -> labels [N, H, W] int64 on the logits' device`.

    Softmax runs on the logits' device, in float32; the probabilities come to the CPU as float32
    numpy and the CRF runs in `pool` (a `CRFPool`; one is made, and closed by `close()`, if none is
    given). Calling it is synchronous; `submit`/`result` and `pipeline` overlap the network and the
    CRF. `seconds_per_image` is the CRF's own time, apart from the network's.
    """

    def __init__(self, params: CRFParams = DEEPLAB_V2_RESNET101, pool: CRFPool | None = None, *,
                 workers: int | None = None, start_method: str = "spawn"):
        self.params = params
        self._owns_pool = pool is None
        self.pool = CRFPool(params, workers=workers, start_method=start_method) if pool is None else pool

    def submit(self, logits: torch.Tensor, images_u8: torch.Tensor) -> CRFHandle:
        """Softmax on the logits' device, copy to the CPU, queue the batch; returns without waiting for
        the CRF (it waits for the network's output, as any read of the logits does)."""
        import torch

        if logits.ndim != 4 or images_u8.ndim != 4 or images_u8.shape[1] != 3 \
                or images_u8.shape[0] != logits.shape[0] or images_u8.shape[2:] != logits.shape[2:]:
            raise ValueError(f"need logits [N, C, H, W] and images [N, 3, H, W] with the same N, H, W "
                             f"(upsample the logits to the image size first); got {tuple(logits.shape)} "
                             f"and {tuple(images_u8.shape)}")
        if images_u8.dtype != torch.uint8:
            raise TypeError(f"images must be uint8 RGB in 0-255 (not normalised), got {images_u8.dtype}")
        probs = torch.softmax(logits.detach().float(), dim=1).cpu().numpy()
        images = images_u8.detach().cpu().permute(0, 2, 3, 1).contiguous().numpy()  # NHWC
        return self.pool.submit(probs, images, self.params)

    def result(self, handle: CRFHandle, device: torch.device | str = "cpu") -> torch.Tensor:
        """Wait for a submitted batch: labels [N, H, W] int64 on `device`."""
        import torch

        return torch.from_numpy(self.pool.result(handle)).to(device)

    def __call__(self, logits: torch.Tensor, images_u8: torch.Tensor) -> torch.Tensor:
        return self.result(self.submit(logits, images_u8), logits.device)

    def pipeline(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor, Any]],
                 depth: int = 2) -> Iterator[tuple[torch.Tensor, Any]]:
        """Overlap the network and the CRF: from (logits, images_u8, extra) per batch, yield
        (labels, extra) per batch in order, keeping up to `depth` batches in the CRF at once.

        With depth 2: submit batch k, then collect batch k-1, so the workers always have a batch
        queued while the caller scores batch k-1 and the network computes batch k+1. `batches` is
        typically a generator that runs the model, so the model runs only as labels are consumed.
        """
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        pending: collections.deque = collections.deque()
        try:
            for logits, images_u8, extra in batches:
                pending.append((self.submit(logits, images_u8), logits.device, extra))
                if len(pending) >= depth:
                    handle, device, done_extra = pending.popleft()
                    yield self.result(handle, device), done_extra
            while pending:
                handle, device, done_extra = pending.popleft()
                yield self.result(handle, device), done_extra
        finally:  # abandoned early (an exception, a break): drop what is still queued
            for handle, _, _ in pending:
                for f in handle.futures:
                    f.cancel()

    @property
    def seconds_per_image(self) -> float:
        return self.pool.seconds_per_image

    def close(self) -> None:
        if self._owns_pool:
            self.pool.close()

    def __enter__(self) -> CRFPostProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
