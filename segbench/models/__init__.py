"""The architecture registry: one builder per architecture, taking explicit keyword arguments."""

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .deconvnet import deconvnet
from .deeplab import deeplab
from .fcn import fcn
from .unet import unet

MODELS: dict[str, Callable[..., nn.Module]] = {
    "fcn": fcn,
    "deeplab": deeplab,
    "deconvnet": deconvnet,
    "unet": unet,
}

# The papers' named variants, as (arch, options): what `segbench models` lists.
PAPER_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "FCN-32s": ("fcn", {"skip": 32}),
    "FCN-16s": ("fcn", {"skip": 16}),
    "FCN-8s": ("fcn", {"skip": 8}),
    "DeepLab-v1 LargeFOV": ("deeplab", {"version": "v1", "backbone": "vgg16", "aspp": False}),
    "DeepLab-v2 VGG16 ASPP-L": ("deeplab", {"version": "v2", "backbone": "vgg16", "aspp": True}),
    "DeepLab-v2 ResNet-101 LargeFOV": ("deeplab", {"version": "v2", "backbone": "resnet101", "aspp": False}),
    "DeepLab-v2 ResNet-101 ASPP-L": ("deeplab", {"version": "v2", "backbone": "resnet101", "aspp": True}),
    "DeepLab-v3 ResNet-101 OS16": ("deeplab", {"version": "v3", "backbone": "resnet101", "output_stride": 16}),
    "DeepLab-v3 ResNet-101 OS8": ("deeplab", {"version": "v3", "backbone": "resnet101", "output_stride": 8}),
    "DeconvNet": ("deconvnet", {}),
    "U-Net": ("unet", {"padding": "valid"}),
}


def build(arch: str, num_classes: int, **options) -> nn.Module:
    """Build a registered architecture; an unknown name lists the valid ones."""
    try:
        builder = MODELS[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; registered: {', '.join(sorted(MODELS))}") from None
    return builder(num_classes, **options)


def build_on_meta(arch: str, num_classes: int, **options) -> nn.Module:
    """The model's structure without its weights: no memory, no initialisation time."""
    with torch.device("meta"):
        return build(arch, num_classes, **options)
