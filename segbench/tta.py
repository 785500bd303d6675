"""Test-time augmentation: the mean softmax of a model over input scales and horizontal flips (DeepLab's
multi-scale inputs with flipping, as mmsegmentation's aug_test averages them)."""

import torch
import torch.nn.functional as F
from torch import nn


class MultiScaleInference(nn.Module):
    """`model` evaluated at each of `scales` (bilinear, the scores resized back to the input's size), with the
    horizontal flip of each when `flip`; returns the log of the mean softmax, so that an argmax and the CRF's
    softmax both see the averaged distribution. In training mode it is `model` itself: TTA is for inference."""

    def __init__(self, model: nn.Module, scales: tuple[float, ...], flip: bool):
        super().__init__()
        self.model, self.scales, self.flip = model, tuple(scales), flip
        self.train(model.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self.model(x)
        size = tuple(x.shape[-2:])
        total, views = None, 0
        for scale in self.scales:
            scaled = x if scale == 1 else F.interpolate(
                x, size=[max(1, round(s * scale)) for s in size], mode="bilinear", align_corners=False)
            for flipped in (False, True) if self.flip else (False,):
                scores = self.model(scaled.flip(-1) if flipped else scaled)
                scores = scores.flip(-1) if flipped else scores
                if tuple(scores.shape[-2:]) != size:
                    scores = F.interpolate(scores, size=size, mode="bilinear", align_corners=False)
                probs = scores.float().softmax(1)
                total, views = probs if total is None else total + probs, views + 1
        return (total / views).log()
