"""U-Net (Ronneberger, Fischer & Brox, MICCAI 2015).

Paper: "U-Net: Convolutional Networks for Biomedical Image Segmentation", https://arxiv.org/abs/1505.04597
"""

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import conv_block, init_weights, pad_to_multiple, scaled
from .options import InChannels, Width

CHANNELS = (64, 128, 256, 512, 1024)
# With unpadded convs an output pixel sees 92 input pixels on each side (the paper's 572 -> 388 tile).
VALID_BORDER = 92


def valid_output_size(size: int) -> int:
    """The smallest output size >= `size` that unpadded U-Net can produce (16 * bottom - 60)."""
    bottom = math.ceil((size + 60) / 16)
    return 16 * bottom - 60


def mirror_index(size: int, before: int, after: int, device: torch.device) -> torch.Tensor:
    """Indices that extend 0..size-1 by `before`/`after` mirrored pixels, reflecting as often as needed."""
    i = torch.arange(-before, size + after, device=device)
    if size == 1:
        return torch.zeros_like(i)
    period = 2 * (size - 1)
    i = i.remainder(period)
    return torch.where(i < size, i, period - i)


def mirror_pad(x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Mirror padding by any amount, even more than the image size (unlike F.pad's reflect)."""
    h, w = x.shape[-2:]
    x = x.index_select(-2, mirror_index(h, top, bottom, x.device))
    return x.index_select(-1, mirror_index(w, left, right, x.device))


def center_crop(x: torch.Tensor, size: torch.Size) -> torch.Tensor:
    top, left = (x.shape[-2] - size[0]) // 2, (x.shape[-1] - size[1]) // 2
    return x[..., top:top + size[0], left:left + size[1]]


def double_conv(in_ch: int, out_ch: int, batch_norm: bool, padding: int) -> nn.Sequential:
    return nn.Sequential(*conv_block(in_ch, out_ch, batch_norm, padding=padding),
                         *conv_block(out_ch, out_ch, batch_norm, padding=padding))


class Up(nn.Module):
    """One expansive step: upsample halving the channels, concatenate the (cropped) skip, two 3x3 convs."""

    def __init__(self, in_ch: int, out_ch: int, upsample: str, batch_norm: bool, padding: int):
        super().__init__()
        if upsample == "transpose":
            self.upsample = nn.ConvTranspose2d(in_ch, out_ch, 2, stride=2)
            # He init as in the paper: each output of a 2x2 stride-2 up-conv sees in_ch inputs
            nn.init.normal_(self.upsample.weight, std=math.sqrt(2 / in_ch))
            nn.init.zeros_(self.upsample.bias)
        else:
            self.upsample = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                          nn.Conv2d(in_ch, out_ch, 1))
        self.conv = double_conv(2 * out_ch, out_ch, batch_norm, padding)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.upsample(x)
        return self.conv(torch.cat([center_crop(skip, x.shape[-2:]), x], dim=1))


class UNet(nn.Module):
    """U-Net: a contracting path of four (two 3x3 convs + ReLU, 2x2 max pool) steps from 64 to 512
    channels and a 1024-channel bottom, an expansive path of four (2x2 up-convolution halving the
    channels, concatenation with the encoder map, two 3x3 convs) steps, and a 1x1 classifier.
    31.0M parameters at width 1.0 (3 input channels, 2 classes).

    padding="valid" is the paper's network, with unpadded convs whose outputs shrink: the input is
    mirror-padded by the 92 pixels each side that the convs lose (the paper's overlap-tile strategy),
    plus enough at the bottom/right that every pooling sees an even size, and the output is cropped
    back, so it is aligned with the input. Skip maps are centre-cropped, as in the paper.
    padding="same" pads every conv instead; the input is zero-padded to a multiple of 16 and the
    output cropped back. upsample="bilinear" is a common variant, not the paper's: bilinear 2x
    upsampling then a 1x1 conv that halves the channels. The paper's dropout at the end of the
    contracting path (a data-augmentation aid) is not included.
    """

    def __init__(self, num_classes: int, in_channels: int = 3, width: float = 1.0,
                 padding: str = "same", upsample: str = "transpose", batch_norm: bool = False):
        super().__init__()
        self.valid = padding == "valid"
        pad = 0 if self.valid else 1
        chs = [scaled(c, width) for c in CHANNELS]
        self.down = nn.ModuleList(double_conv(i, o, batch_norm, pad)
                                  for i, o in zip([in_channels, *chs[:-1]], chs))
        self.up = nn.ModuleList(Up(chs[k + 1], chs[k], upsample, batch_norm, pad) for k in (3, 2, 1, 0))
        init_weights(self)
        self.classifier = nn.Conv2d(chs[0], num_classes, 1)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if not self.valid:
            return pad_to_multiple(x, 16)
        b = VALID_BORDER
        return mirror_pad(x, b, b + valid_output_size(h) - h, b, b + valid_output_size(w) - w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = self.pad(x)
        skips = []
        for k, block in enumerate(self.down):
            x = block(F.max_pool2d(x, 2) if k else x)
            skips.append(x)
        x = skips.pop()
        for up in self.up:
            x = up(x, skips.pop())
        # both paddings leave the output's top-left pixel on the input's top-left pixel
        return self.classifier(x)[..., :h, :w]


def unet(num_classes: int, *, width: Width = 1.0, in_channels: InChannels = 3,
         padding: Literal["same", "valid"] = "same", upsample: Literal["transpose", "bilinear"] = "transpose",
         batch_norm: bool = False) -> UNet:
    """U-Net; `padding` "valid" is the paper's unpadded convs, `upsample` "bilinear" a common variant."""
    return UNet(num_classes, in_channels=in_channels, width=width, padding=padding,
                upsample=upsample, batch_norm=batch_norm)
