"""Fully-connected CRF post-processing (Krähenbühl & Koltun, NIPS 2011), as DeepLab applies it.

The CRF runs on the CPU through pydensecrf (`pip install pydensecrf2`, imported as `pydensecrf`).
This package imports without it (and without torch); using the CRF without it raises
`CRFUnavailableError`. Three layers, one module each:

* `params`: `CRFParams` (the settings, also the suite's `eval.crf` section) and DeepLab's presets.
* `dense`: `crf_image(probs, image, params)`, one image in this process.
* `pool`: `CRFPool`, `crf_image` over a batch in worker processes, asynchronously.
* `postprocess`: `CRFPostProcess`, the `postprocess(logits, images_u8) -> labels` callable that
  `segbench.evaluate.evaluate` takes, with `pipeline()` so that the network runs on batch k+1 while the
  workers run the CRF on batch k.
"""

from .dense import INSTALL_HINT, CRFUnavailableError, crf_available, crf_image, load_pydensecrf
from .params import DEEPLAB_V1_LARGEFOV, DEEPLAB_V2_RESNET101, PRESETS, CRFParams
from .pool import CRFHandle, CRFPool, default_workers, keep_freed_memory
from .postprocess import CRFPostProcess

__all__ = ["INSTALL_HINT", "CRFUnavailableError", "crf_available", "crf_image", "load_pydensecrf",
           "DEEPLAB_V1_LARGEFOV", "DEEPLAB_V2_RESNET101", "PRESETS", "CRFParams", "CRFHandle", "CRFPool",
           "default_workers", "keep_freed_memory", "CRFPostProcess"]
