"""Segmentation metrics to call from your own evaluation loop.

`ConfusionMatrix` gives mIoU, pixel accuracy, mean accuracy and frequency-weighted IoU from one matrix
accumulated over the whole data set (the VOC protocol); `BoundaryF1` gives the boundary F1 score (BF
score) of Csurka et al., BMVC 2013. All scores are fractions in [0, 1]; see `DEFINITIONS` and
`HIGHER_IS_BETTER`.
"""

from ..metric_info import DEFINITIONS, HIGHER_IS_BETTER
from .boundary import BoundaryF1, boundary_f1_image
from .confusion import ConfusionMatrix, scores_from_matrix

__all__ = ["DEFINITIONS", "HIGHER_IS_BETTER", "BoundaryF1", "boundary_f1_image", "ConfusionMatrix",
           "scores_from_matrix"]
