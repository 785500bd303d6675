"""Dense CRF labels of one image through pydensecrf (`pip install pydensecrf2`, imported as `pydensecrf`).

This module imports without pydensecrf; using the CRF without it raises `CRFUnavailableError`.
"""

import numpy as np

from ..errors import SegbenchError
from .params import DEEPLAB_V2_RESNET101, CRFParams

INSTALL_HINT = "pip install pydensecrf2"


class CRFUnavailableError(SegbenchError, ImportError):
    """pydensecrf is not installed."""


def load_pydensecrf():
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
        load_pydensecrf()
    except CRFUnavailableError:
        return False
    return True


def crf_image(probs: np.ndarray, image: np.ndarray, params: CRFParams = DEEPLAB_V2_RESNET101) -> np.ndarray:
    """Dense-CRF labels [H, W] (int64) from softmax probabilities [C, H, W] and the RGB image
    [H, W, 3] uint8 (un-normalised, 0-255), by `params.iterations` mean-field steps.

    Any memory layout is accepted: both arrays are made C-contiguous before they reach
    pydensecrf (whose C++ side reads raw buffers in HWC row-major order).
    """
    dcrf, unary_from_softmax = load_pydensecrf()
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

