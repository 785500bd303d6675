"""DeepLab v1 (LargeFOV), v2 (ASPP) and v3 (ASPP with batch norm and image pooling).

Papers: Chen et al., "Semantic Image Segmentation with Deep Convolutional Nets and Fully Connected
CRFs", ICLR 2015, https://arxiv.org/abs/1412.7062; "DeepLab: Semantic Image Segmentation with
Deep Convolutional Nets, Atrous Convolution, and Fully Connected CRFs", TPAMI 2017,
https://arxiv.org/abs/1606.00915; "Rethinking Atrous Convolution for Semantic Image
Segmentation", 2017, https://arxiv.org/abs/1706.05587. This module is the networks; the dense CRF
that v1/v2 apply to their output is segbench.crf (a run's `crf: true` option). Multi-scale inputs are
not implemented.
"""

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import (ResNet, SameConv2d, check_imagenet_compatible, conv_block, init_weights,
                        load_imagenet_resnet, load_imagenet_vgg16, scaled, vgg16_stages)
from .options import InChannels, Pretrained, RateDivisor, Width

V2_RATES = (6, 12, 18, 24)  # ASPP-L
LARGEFOV_RATE = 12
V3_RATES = {16: (6, 12, 18), 8: (12, 24, 36)}


class AtrousConv2d(SameConv2d):
    """A 3x3 convolution at dilation `rate` with 'same' padding; taps that can only meet padding
    (rate 12 on the 8x8 map of a 64-pixel image) are skipped, as in every SameConv2d."""

    def __init__(self, in_ch: int, out_ch: int, rate: int, bias: bool = True):
        super().__init__(in_ch, out_ch, 3, padding=rate, dilation=rate, bias=bias)


def score_conv(conv: nn.Conv2d) -> nn.Conv2d:
    """A class-scoring layer, initialised N(0, 0.01) with zero bias as in the DeepLab models."""
    nn.init.normal_(conv.weight, std=0.01)
    nn.init.zeros_(conv.bias)
    return conv


def largefov_branch(in_ch: int, fc: int, num_classes: int, rate: int) -> nn.Sequential:
    """VGG16 head: fc6 (3x3 at `rate`), fc7 (1x1), each with ReLU and dropout 0.5; fc8 scores."""
    fc6 = AtrousConv2d(in_ch, fc, rate)
    fc7 = nn.Conv2d(fc, fc, 1)
    init_weights(nn.ModuleList([fc6, fc7]))
    return nn.Sequential(fc6, nn.ReLU(inplace=True), nn.Dropout(0.5), fc7, nn.ReLU(inplace=True),
                         nn.Dropout(0.5), score_conv(nn.Conv2d(fc, num_classes, 1)))


class SummedBranches(nn.Module):
    """DeepLab v2 ASPP: parallel branches whose class-score maps are summed."""

    def __init__(self, branches: list[nn.Module]):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branches[0](x)
        for branch in self.branches[1:]:
            out = out + branch(x)
        return out


class PooledBatchNorm(nn.BatchNorm2d):
    """Batch norm of the 1x1 image-pooling map.

    In training with one image the map has one value per channel: PyTorch's batch norm raises
    ("Expected more than 1 value per channel"), while its batch statistics normalise that value to
    0, so the output is the shift (beta) alone, as TensorFlow computes it. That is what this returns
    (the running statistics are not updated on such a batch); otherwise it is BatchNorm2d.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] * x.shape[2] * x.shape[3] == 1:
            return x * 0 + self.bias.view(1, -1, 1, 1)
        return super().forward(x)


class ImagePooling(nn.Module):
    """Image-level features: global average pool, 1x1 conv, BN, ReLU, upsampled to the map size."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.bn = PooledBatchNorm(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn(self.conv(F.adaptive_avg_pool2d(x, 1))))
        return y.expand(-1, -1, *x.shape[-2:])  # bilinear upsampling of a 1x1 map is a broadcast


def conv_bn_relu(in_ch: int, out_ch: int, rate: int = 0) -> nn.Sequential:
    """1x1 (rate 0) or 3x3 atrous conv without bias, BN, ReLU."""
    conv = AtrousConv2d(in_ch, out_ch, rate, bias=False) if rate else nn.Conv2d(in_ch, out_ch, 1, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class ASPP(nn.Module):
    """DeepLab v3 ASPP: 1x1 and three atrous branches and image pooling, concatenated and projected."""

    def __init__(self, in_ch: int, out_ch: int, rates: tuple[int, ...]):
        super().__init__()
        self.branches = nn.ModuleList([conv_bn_relu(in_ch, out_ch)] + [conv_bn_relu(in_ch, out_ch, r) for r in rates]
                                      + [ImagePooling(in_ch, out_ch)])
        self.project = nn.Sequential(*conv_bn_relu(len(self.branches) * out_ch, out_ch), nn.Dropout(0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([branch(x) for branch in self.branches], dim=1))


def v3_head(in_ch: int, num_classes: int, rates: tuple[int, ...], width: float) -> nn.Sequential:
    """ASPP, then torchvision's DeepLabHead tail: 3x3 conv + BN + ReLU and the 1x1 classifier."""
    ch = scaled(256, width)
    head = nn.Sequential(ASPP(in_ch, ch, rates), *conv_block(ch, ch, batch_norm=True))
    init_weights(head)
    return nn.Sequential(*head, score_conv(nn.Conv2d(ch, num_classes, 1)))


def vgg16_largefov_trunk(in_channels: int, width: float, batch_norm: bool = False) -> nn.Sequential:
    """VGG16 at output stride 8: 3x3 max pools (pad 1), stride 1 at pool4/pool5, conv5 dilated 2."""
    stages = vgg16_stages(in_channels, width, batch_norm=batch_norm)
    init_weights(nn.ModuleList(stages))
    for i, stage in enumerate(stages):
        stage[-1] = nn.MaxPool2d(3, stride=2 if i < 3 else 1, padding=1, ceil_mode=True)
    for conv in stages[4]:
        if isinstance(conv, nn.Conv2d):
            conv.padding, conv.dilation = (2, 2), (2, 2)
    return nn.Sequential(*stages)


class DeepLab(nn.Module):
    """DeepLab v1/v2/v3: a dilated backbone, a class-scoring head, bilinear upsampling to the input.

    v1 LargeFOV (Chen, Papandreou, Kokkinos, Murphy & Yuille, ICLR 2015, arXiv:1412.7062): VGG16
    at output stride 8 (pool4/pool5 at stride 1, conv5 dilated 2), fc6 3x3 at rate 12 with 1024
    channels, fc7 1x1 1024, fc8 scores; 20.5M parameters at 21 classes.
    v2 (same authors, TPAMI 2017, arXiv:1606.00915): ASPP-L, four branches at rates 6/12/18/24 whose
    scores are summed, each an fc6-fc7-fc8 stack on VGG16 or one 3x3 atrous conv to the scores on
    ResNet (torchvision's, stride on the 3x3 conv; output stride 8); without ASPP, the rate-12 branch.
    v3 (Chen, Papandreou, Schroff & Adam, 2017, arXiv:1706.05587): ResNet at output stride 16 or 8,
    ASPP with BN (1x1, three 3x3 at 6/12/18, doubled at stride 8, image pooling), concatenated and
    projected to 256 (dropout 0.1, as the authors' TensorFlow code), then torchvision's DeepLabHead
    3x3 conv + BN + ReLU (not in the paper) and the 1x1 classifier: torchvision's parameter count.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.head(self.backbone(x))
        return F.interpolate(scores, size=x.shape[-2:], mode="bilinear", align_corners=False)


def divided(rates: tuple[int, ...], divisor: int) -> tuple[int, ...]:
    """`rates` divided by `divisor`, rounded half up, at least 1; ValueError when two of them would coincide."""
    def rounded(d: int) -> tuple[int, ...]:
        return tuple(max(1, int(r / d + 0.5)) for r in rates)
    out = rounded(divisor)
    if len(set(out)) < len(out):
        largest = max(d for d in range(1, divisor) if len(set(rounded(d))) == len(rates))
        raise ValueError(f"rate_divisor {divisor} turns the head's rates {'/'.join(map(str, rates))} into "
                         f"{'/'.join(map(str, out))}: parallel branches need distinct rates; use a rate_divisor "
                         f"of at most {largest}")
    return out


def check_options(version: str, backbone: str, aspp: bool, output_stride: int, batch_norm: bool = False) -> None:
    """ValueError naming every option that does not fit `version`, and how to fix it."""
    problems = []
    if batch_norm and backbone != "vgg16":
        problems.append(f"batch_norm adds BN to the VGG16 trunk; {backbone} always has it: leave batch_norm false")
    if version == "v1" and backbone != "vgg16":
        problems.append(f"v1 (LargeFOV) is VGG16 only, not {backbone}: set backbone: vgg16 (ResNet needs v2 or v3)")
    if version == "v1" and aspp:
        problems.append("v1 has no ASPP (it came with v2): set aspp: false")
    if version == "v3" and backbone == "vgg16":
        problems.append("v3 is ResNet only: set backbone: resnet50 or resnet101 (VGG16 needs v1 or v2)")
    if version == "v3" and not aspp:
        problems.append("v3's head is its ASPP: aspp: false is a v2 option (LargeFOV head)")
    if version != "v3" and output_stride != 8:
        problems.append(f"{version} runs at output stride 8: output_stride: 16 is a v3 option")
    if problems:
        raise ValueError(f"deeplab version {version}: " + "; ".join(problems))


def deeplab(num_classes: int, *, version: Literal["v1", "v2", "v3"] = "v3",
            backbone: Literal["vgg16", "resnet50", "resnet101"] = "resnet101", aspp: bool = True,
            output_stride: Literal[16, 8] = 8, width: Width = 1.0, in_channels: InChannels = 3,
            pretrained: Pretrained = "none", batch_norm: bool = False, rate_divisor: RateDivisor = 1) -> DeepLab:
    """DeepLab `version` on `backbone`; `aspp` (v2) picks ASPP-L or LargeFOV; `output_stride` (v3).

    `rate_divisor` divides every atrous rate of the head (rounded, at least 1), keeping their ratios, for
    images much smaller than the papers' 321-513 pixel crops: at 6, ASPP-L's 6/12/18/24 become 1/2/3/4
    and LargeFOV's 12 becomes 2, which an 8x8 map (a 64-pixel image at output stride 8) holds.

    `batch_norm` adds BN after each VGG16 conv (as torchvision's vgg16_bn; not in the papers), which
    lets the VGG16 variants train from scratch at small widths.

    Valid: v1 with vgg16 and aspp false; v2 with any backbone; v3 with a ResNet and aspp true.
    `pretrained: imagenet` loads torchvision's ImageNet backbone (width 1.0, in_channels 3 only).
    """
    check_options(version, backbone, aspp, output_stride, batch_norm)
    if pretrained == "imagenet":
        check_imagenet_compatible(width, in_channels)
    if backbone == "vgg16":
        trunk, channels = vgg16_largefov_trunk(in_channels, width, batch_norm), scaled(512, width)
    else:
        trunk = ResNet(int(backbone[6:]), in_channels, width, dilate=(False, output_stride == 8, True))
        channels = trunk.out_channels
    if version == "v3":
        head = v3_head(channels, num_classes, divided(V3_RATES[output_stride], rate_divisor), width)
    else:
        rates = divided(V2_RATES if aspp else (LARGEFOV_RATE,), rate_divisor)
        fc = scaled(1024, width)
        head = SummedBranches([largefov_branch(channels, fc, num_classes, r) if backbone == "vgg16"
                               else score_conv(AtrousConv2d(channels, num_classes, r)) for r in rates])
    model = DeepLab(trunk, head)
    if pretrained == "imagenet":
        if backbone == "vgg16":
            load_imagenet_vgg16(trunk, batch_norm=batch_norm)
        else:
            load_imagenet_resnet(trunk, int(backbone[6:]))
    return model
