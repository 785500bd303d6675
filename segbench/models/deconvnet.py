"""DeconvNet (Noh, Hong & Han, ICCV 2015).

Paper: "Learning Deconvolution Network for Semantic Segmentation", https://arxiv.org/abs/1505.04366
"""

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import (VGG16_STAGES, SameConv2d, check_imagenet_compatible, conv_block, init_weights, live_taps,
                        imagenet_vgg16_state, load_imagenet_vgg16, pad_to_multiple, scaled)
from .options import InChannels, MinChannels, Pretrained, Width


class SameConvTranspose2d(nn.ConvTranspose2d):
    """A stride-1 'same'-padded deconvolution that skips the kernel taps which can only meet padding.

    The transpose counterpart of backbones.SameConv2d: on a map smaller than the kernel (deconv-fc6's 7x7
    on a 2x2 map) the outer taps never reach an output pixel; cropping them changes nothing.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, padding = live_taps(self.weight, self.padding, self.dilation, x.shape[-2:])
        return F.conv_transpose2d(x, weight, self.bias, padding=padding, dilation=self.dilation)


def deconv_block(in_ch: int, out_ch: int, batch_norm: bool, kernel_size: int = 3,
                 padding: int = 1) -> list[nn.Module]:
    """deconv (+ BN) + ReLU, the decoder's counterpart of backbones.conv_block."""
    layers: list[nn.Module] = [SameConvTranspose2d(in_ch, out_ch, kernel_size, padding=padding,
                                                   bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_ch))
    layers.append(nn.ReLU(inplace=True))
    return layers


def decoder_channels() -> list[tuple[int, ...]]:
    """Each decoder stage's deconv outputs, deepest first: the encoder stage mirrored, its last
    layer narrowing to the channels of the stage before (deconv4: 512, 512, 256)."""
    outs = []
    for k, stage in enumerate(VGG16_STAGES):
        before = VGG16_STAGES[k - 1][-1] if k else stage[-1]
        outs.append((*stage[:-1], before))
    return outs[::-1]


class DeconvNet(nn.Module):
    """DeconvNet: a VGG16 encoder (conv1-conv5, max pooling that keeps its switches), fc6 as a 7x7
    conv and fc7 as a 1x1 conv (4096 channels), a 7x7 deconvolution back to 512 channels, then a
    mirrored decoder in which each stage unpools with the switches of the matching encoder pooling
    and applies 3x3 deconvolutions (deconv5: 512x3, deconv4: 512, 512, 256, ..., deconv1: 64, 64),
    and a 1x1 classifier. Batch norm and ReLU follow every conv and deconv, as in the paper; the
    paper's network has no dropout. 252M parameters at width 1.0 (21 classes), as in the paper.

    On the paper's 224x224 input fc6 maps pool5's 7x7 to 1x1 and deconv-fc6 maps it back. Here both
    use padding 3 (fc6 and deconv-fc6 keep the map's size) and the input is zero-padded to a multiple
    of 32, with the scores cropped back, so that any input size works: the same layers and
    parameters, a spatially resolved code instead of a 1x1 one.

    `min_channels` raises every width-scaled layer narrower than it to it (encoder and decoder alike, as
    unpooling needs the matching stages to agree): the paper's narrowest layers have 64 channels for 21
    classes, and without skips every class must pass through them.
    """

    def __init__(self, num_classes: int, in_channels: int = 3, width: float = 1.0,
                 batch_norm: bool = True, min_channels: int = 1):
        super().__init__()

        def channels(paper: int) -> int:
            return max(min_channels, scaled(paper, width))
        self.encoder = nn.ModuleList()
        ch = in_channels
        for stage in VGG16_STAGES:
            layers = []
            for out in stage:
                layers += conv_block(ch, channels(out), batch_norm)
                ch = channels(out)
            self.encoder.append(nn.Sequential(*layers))
        self.pool = nn.MaxPool2d(2, 2, return_indices=True)
        fc = channels(4096)
        fc6 = conv_block(ch, fc, batch_norm, kernel_size=7, padding=3)
        fc6[0] = SameConv2d(ch, fc, 7, padding=3, bias=not batch_norm)
        self.fc6 = nn.Sequential(*fc6)
        self.fc7 = nn.Sequential(*conv_block(fc, fc, batch_norm, kernel_size=1, padding=0))
        self.deconv_fc6 = nn.Sequential(*deconv_block(fc, ch, batch_norm, kernel_size=7, padding=3))
        self.unpool = nn.MaxUnpool2d(2, 2)
        self.decoder = nn.ModuleList()
        for stage in decoder_channels():
            layers = []
            for out in stage:
                layers += deconv_block(ch, channels(out), batch_norm)
                ch = channels(out)
            self.decoder.append(nn.Sequential(*layers))
        init_weights(self)
        for m in self.modules():
            if isinstance(m, nn.ConvTranspose2d):
                # torch reads a transpose weight's dim 0 (in channels) as fan_out: in * k * k is
                # what each output of a stride-1 deconvolution sums, so this is He init
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        self.classifier = nn.Conv2d(ch, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = pad_to_multiple(x, 32)
        switches = []
        for stage in self.encoder:
            x = stage(x)
            size = x.shape[-2:]
            x, indices = self.pool(x)
            switches.append((indices, size))
        x = self.deconv_fc6(self.fc7(self.fc6(x)))
        for stage in self.decoder:
            indices, size = switches.pop()
            x = stage(self.unpool(x, indices, output_size=size))
        return self.classifier(x)[..., :h, :w]


def deconvnet(num_classes: int, *, width: Width = 1.0, in_channels: InChannels = 3,
              batch_norm: bool = True, min_channels: MinChannels = 1, pretrained: Pretrained = "none") -> DeconvNet:
    """DeconvNet (VGG16 encoder, unpooling + deconvolution decoder); `batch_norm` as in the paper;
    `min_channels`: no layer narrower than this many channels (1: as `width` scales them).

    `pretrained: imagenet` initialises the encoder, fc6 and fc7 from torchvision's ImageNet VGG16-BN
    (VGG16 without `batch_norm`), as the paper initialises from VGG16 (width 1.0, in_channels 3 only).
    """
    if pretrained == "imagenet":
        check_imagenet_compatible(width, in_channels, min_channels)
    state = imagenet_vgg16_state(batch_norm) if pretrained == "imagenet" else None
    model = DeconvNet(num_classes, in_channels=in_channels, width=width, batch_norm=batch_norm,
                      min_channels=min_channels)
    if pretrained == "imagenet":
        load_imagenet_vgg16(model.encoder, batch_norm, fc=(model.fc6, model.fc7), state=state)
    return model
