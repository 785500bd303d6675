"""FCN-32s / 16s / 8s: VGG16 made fully convolutional (Long, Shelhamer & Darrell, CVPR 2015).

Paper: "Fully Convolutional Networks for Semantic Segmentation", https://arxiv.org/abs/1411.4038
"""

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import (SameConv2d, check_imagenet_compatible, conv_block, imagenet_vgg16_state, init_weights,
                        load_imagenet_vgg16, pad_to_multiple, scaled, vgg16_stages)
from .options import Dropout, InChannels, Pretrained, Width


def bilinear_kernel(channels: int, kernel_size: int) -> torch.Tensor:
    """A [channels, 1, k, k] bilinear upsampling kernel, as FCN initialises its deconvolutions."""
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = torch.tensor([float(i) for i in range(kernel_size)])  # arange on meta would import torch._dynamo (1.5 s)
    filt = 1 - (og - center).abs() / factor
    return (filt[:, None] * filt[None, :]).expand(channels, 1, kernel_size, kernel_size).clone()


def learned_upsample2x(num_classes: int) -> nn.ConvTranspose2d:
    """A 2x deconvolution (class scores to class scores), initialised to bilinear and learned."""
    layer = nn.ConvTranspose2d(num_classes, num_classes, 4, stride=2, padding=1, bias=False)
    with torch.no_grad():
        layer.weight.zero_()
        kernel = bilinear_kernel(num_classes, 4)[:, 0]
        for c in range(num_classes):
            layer.weight[c, c] = kernel[c]
    return layer


class FixedBilinearUpsample(nn.Module):
    """Upsampling by a fixed bilinear deconvolution (a buffer, not a parameter), stride `factor`."""

    def __init__(self, channels: int, factor: int):
        super().__init__()
        self.factor = factor
        self.register_buffer("weight", bilinear_kernel(channels, 2 * factor), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, self.weight.to(x.dtype), stride=self.factor,
                                  padding=self.factor // 2, groups=x.shape[1])


def zero_conv1x1(in_ch: int, out_ch: int) -> nn.Conv2d:
    """A 1x1 class-scoring layer, zero-initialised as in the paper."""
    layer = nn.Conv2d(in_ch, out_ch, 1)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class FCN(nn.Module):
    """FCN-VGG16 with skip level 32s, 16s or 8s.

    conv1-conv5 with max pooling; fc6 as a 7x7 conv and fc7 as a 1x1 conv (4096 channels at
    width 1.0, each with ReLU and dropout); 1x1 class scores. FCN-16s fuses a 1x1 score of pool4
    with the 2x-upsampled scores, FCN-8s then adds pool3 likewise. The 2x deconvolutions are
    initialised to bilinear and learned; the final upsampling is a fixed bilinear deconvolution.
    Class-scoring layers start at zero, as in the paper.

    The Caffe model pads conv1_1 by 100 pixels and crops, so that any input size works. Here the
    input is zero-padded to a multiple of 32 instead and the scores are cropped back: the same
    layers and parameters (134M at width 1.0, 21 classes), without the 100-pixel border that
    multiplies the cost of small images.
    """

    def __init__(self, num_classes: int, skip: int = 8, in_channels: int = 3, width: float = 1.0,
                 batch_norm: bool = False, dropout: float = 0.5):
        super().__init__()
        self.skip = skip
        self.stages = nn.ModuleList(vgg16_stages(in_channels, width, batch_norm))
        c3, c4, c5, fc = (scaled(c, width) for c in (256, 512, 512, 4096))
        fc6 = conv_block(c5, fc, batch_norm, kernel_size=7, padding=3)
        fc6[0] = SameConv2d(c5, fc, 7, padding=3, bias=not batch_norm)
        self.fc6 = nn.Sequential(*fc6, nn.Dropout(dropout))
        self.fc7 = nn.Sequential(*conv_block(fc, fc, batch_norm, kernel_size=1, padding=0),
                                 nn.Dropout(dropout))
        init_weights(self)
        self.score_fr = zero_conv1x1(fc, num_classes)
        if skip <= 16:
            self.upscore2 = learned_upsample2x(num_classes)
            self.score_pool4 = zero_conv1x1(c4, num_classes)
        if skip == 8:
            self.upscore_pool4 = learned_upsample2x(num_classes)
            self.score_pool3 = zero_conv1x1(c3, num_classes)
        self.upscore_final = FixedBilinearUpsample(num_classes, skip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = pad_to_multiple(x, 32)
        pools = []
        for stage in self.stages:
            x = stage(x)
            pools.append(x)
        score = self.score_fr(self.fc7(self.fc6(x)))
        if self.skip <= 16:
            score = self.upscore2(score) + self.score_pool4(pools[3])
        if self.skip == 8:
            score = self.upscore_pool4(score) + self.score_pool3(pools[2])
        return self.upscore_final(score)[..., :h, :w]


def fcn(num_classes: int, *, skip: Literal[32, 16, 8] = 8, width: Width = 1.0,
        in_channels: InChannels = 3, batch_norm: bool = False, dropout: Dropout = 0.5,
        pretrained: Pretrained = "none") -> FCN:
    """FCN-VGG16; `skip` picks FCN-32s, FCN-16s or FCN-8s; `batch_norm` adds BN after each conv.

    `pretrained: imagenet` starts from torchvision's ImageNet VGG16 (VGG16-BN with `batch_norm`),
    fc6 and fc7 included as convolutions, as the paper does (width 1.0, in_channels 3 only).
    """
    if pretrained == "imagenet":
        check_imagenet_compatible(width, in_channels)
    state = imagenet_vgg16_state(batch_norm) if pretrained == "imagenet" else None
    model = FCN(num_classes, skip=skip, in_channels=in_channels, width=width,
                batch_norm=batch_norm, dropout=dropout)
    if pretrained == "imagenet":
        load_imagenet_vgg16(model.stages, batch_norm, fc=(model.fc6, model.fc7), state=state)
    return model
