"""`CRFPostProcess`: the dense CRF as `segbench.evaluate.evaluate(..., postprocess=...)` takes it, with a
`pipeline()` that overlaps the network on batch k+1 with the CRF on batch k. torch is imported lazily,
so that the CRF's worker processes never import it.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .params import DEEPLAB_V2_RESNET101, CRFParams
from .pool import CRFHandle, CRFPool

if TYPE_CHECKING:
    import torch

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
