"""Backbones shared by the architectures, with a `width` multiplier on every channel count."""

from torch import nn

# VGG16 (Simonyan & Zisserman, 2015), configuration "D": conv channels, "M" = 2x2 max pool.
VGG16_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def scaled(channels: int, width: float) -> int:
    """A channel count scaled by `width`, never below 1."""
    return max(1, round(channels * width))


def conv_block(in_ch: int, out_ch: int, batch_norm: bool, kernel_size: int = 3,
               padding: int = 1, dilation: int = 1) -> list[nn.Module]:
    """conv (+ BN) + ReLU, as a list of layers to splice into a Sequential."""
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, kernel_size, padding=padding,
                                         dilation=dilation, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_ch))
    layers.append(nn.ReLU(inplace=True))
    return layers


def vgg16_stages(in_channels: int, width: float, batch_norm: bool) -> tuple[nn.Sequential, ...]:
    """The five VGG16 conv stages (conv1..conv5), each ending with its 2x2 max pool."""
    stages = []
    ch = in_channels
    for stage in VGG16_STAGES:
        layers: list[nn.Module] = []
        for out in stage:
            layers += conv_block(ch, scaled(out, width), batch_norm)
            ch = scaled(out, width)
        layers.append(nn.MaxPool2d(2, stride=2, ceil_mode=True))
        stages.append(nn.Sequential(*layers))
    return tuple(stages)


def init_weights(module: nn.Module) -> None:
    """He-normal conv init and unit BN, for training from scratch."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
