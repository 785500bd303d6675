"""Backbones shared by the architectures, with a `width` multiplier on every channel count.

Also torchvision's ImageNet weights for them: read from torch's hub cache (downloaded there when
online), never silently replaced by random weights. torchvision is imported where it is used: it
takes about a second to import, which every segbench command would otherwise pay.
"""

import os
from urllib.parse import urlparse

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError

# VGG16 (Simonyan & Zisserman, 2015), configuration "D": conv channels, "M" = 2x2 max pool.
VGG16_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def scaled(channels: int, width: float) -> int:
    """A channel count scaled by `width`, never below 1."""
    return max(1, round(channels * width))


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad the bottom and right of a batch so that height and width divide by `multiple`."""
    h, w = x.shape[-2:]
    return F.pad(x, (0, -w % multiple, 0, -h % multiple))


def live_taps(weight: torch.Tensor, padding: tuple[int, int], dilation: tuple[int, int],
              size: tuple[int, int]) -> tuple[torch.Tensor, tuple[int, int]]:
    """The kernel of a stride-1 'same' (de)convolution without the taps that can only meet padding.

    A tap whose offset from the kernel's centre exceeds the map's extent multiplies zeros only (fc6's
    7x7 on a 2x2 map, rate 12 on an 8x8 map); dropping it, and the padding it needed, leaves the
    output and the gradients unchanged at a fraction of the cost. Returns (weight, padding).
    """
    k = weight.shape[-2:]
    trim = [max(0, (kk - 1) // 2 - (n - 1) // d) for kk, n, d in zip(k, size, dilation)]
    weight = weight[..., trim[0]:k[0] - trim[0], trim[1]:k[1] - trim[1]]
    return weight, tuple(p - t * d for p, t, d in zip(padding, trim, dilation))


class SameConv2d(nn.Conv2d):
    """A stride-1, zero-'same'-padded convolution that skips the kernel taps that can only meet padding."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, padding = live_taps(self.weight, self.padding, self.dilation, x.shape[-2:])
        return F.conv2d(x, weight, self.bias, padding=padding, dilation=self.dilation)


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


# ResNet-50/101 (He et al., CVPR 2016): bottleneck blocks per stage; a block's output is 4x its planes.
RESNET_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
EXPANSION = 4


def _bottleneck_layer(inplanes: int, planes: int, blocks: int, stride: int, dilation: int,
                      dilate: bool) -> tuple[nn.Sequential, int]:
    """torchvision's ResNet._make_layer for bottlenecks: the stage and the dilation after it."""
    from torchvision.models.resnet import Bottleneck

    previous = dilation
    if dilate:
        dilation, stride = dilation * stride, 1
    out = planes * EXPANSION
    downsample = None
    if stride != 1 or inplanes != out:
        downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
    layers = [Bottleneck(inplanes, planes, stride, downsample, dilation=previous)]
    layers += [Bottleneck(out, planes, dilation=dilation) for _ in range(1, blocks)]
    return nn.Sequential(*layers), dilation


class ResNet(nn.Module):
    """Bottleneck ResNet-50/101 without pooling and classifier, every channel count times `width`.

    torchvision's ResNet scales only the bottleneck width (`width_per_group`), so the stages are
    built here from torchvision's `Bottleneck` with scaled planes. At width 1.0 with 3 input
    channels the modules and state-dict keys are exactly torchvision's `resnet50/101` minus `fc`.
    `dilate` is torchvision's `replace_stride_with_dilation` for layer2..layer4.
    """

    def __init__(self, depth: int, in_channels: int = 3, width: float = 1.0,
                 dilate: tuple[bool, bool, bool] = (False, False, False)):
        super().__init__()
        ch = scaled(64, width)
        self.conv1 = nn.Conv2d(in_channels, ch, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        dilation = 1
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), RESNET_BLOCKS[depth])):
            stride, dil = (1, False) if i == 0 else (2, dilate[i - 1])
            layer, dilation = _bottleneck_layer(ch, scaled(planes, width), blocks, stride, dilation, dil)
            setattr(self, f"layer{i + 1}", layer)
            ch = scaled(planes, width) * EXPANSION
        self.out_channels = ch
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


# torchvision's weight enums; the IMAGENET1K_V1 entry of each is used.
IMAGENET_WEIGHTS = {"vgg16": "VGG16_Weights", "vgg16_bn": "VGG16_BN_Weights",
                    "resnet50": "ResNet50_Weights", "resnet101": "ResNet101_Weights"}


def imagenet_weights(name: str):
    """torchvision's `<enum>.IMAGENET1K_V1` for `name`, a key of IMAGENET_WEIGHTS (url, file name)."""
    import torchvision.models

    return getattr(torchvision.models, IMAGENET_WEIGHTS[name]).IMAGENET1K_V1


def check_imagenet_compatible(width: float, in_channels: int, min_channels: int = 1) -> None:
    """ValueError unless the network has the ImageNet model's shapes (width 1.0, 3 input channels, no layer
    widened past VGG16's narrowest, 64)."""
    if width != 1.0 or in_channels != 3 or min_channels > 64:
        widened = f", min_channels {min_channels}" if min_channels > 64 else ""
        raise ValueError(f"pretrained: imagenet needs width 1.0 and in_channels 3, the shapes of the "
                         f"ImageNet networks (got width {width}, in_channels {in_channels}{widened}); "
                         f"use pretrained: none for other widths or channel counts")


def imagenet_cache_path(name: str) -> str:
    """Where torch looks for the ImageNet weights `name` (a key of IMAGENET_WEIGHTS)."""
    filename = os.path.basename(urlparse(imagenet_weights(name).url).path)
    return os.path.join(torch.hub.get_dir(), "checkpoints", filename)


def imagenet_state_dict(name: str) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet state dict `name`, from torch's cache or downloaded; else WeightsError."""
    weights, path = imagenet_weights(name), imagenet_cache_path(name)
    cached = os.path.exists(path)
    try:
        return weights.get_state_dict(progress=False, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means no weights: say how to get them
        why = " ".join(f"{type(exc).__name__}: {exc}".split())
        if cached:
            raise WeightsError(f"cannot read the ImageNet {name} weights at {path} ({why}); delete the "
                               f"file or download {weights.url} again and save it there") from exc
        raise WeightsError(f"ImageNet {name} weights are not in torch's cache and could not be downloaded "
                           f"({why}). Download {weights.url} and save it as {path} (torch's hub directory; "
                           f"TORCH_HOME moves it), or use pretrained: none") from exc


def imagenet_vgg16_state(batch_norm: bool) -> dict[str, torch.Tensor] | None:
    """ImageNet VGG16 (-BN) weights fetched before a model is built; None when building on the meta device."""
    if torch.get_default_device().type == "meta":
        return None
    return imagenet_state_dict("vgg16_bn" if batch_norm else "vgg16")


def _on_meta(modules: nn.Module | list[nn.Module]) -> bool:
    """A structure-only build (validation, `segbench models`) has no weights to load."""
    modules = modules if isinstance(modules, nn.Module) else nn.ModuleList(modules)
    return any(p.is_meta for p in modules.parameters())


def load_imagenet_vgg16(stages, batch_norm: bool, fc: tuple[nn.Module, nn.Module] | None = None,
                        state: dict[str, torch.Tensor] | None = None) -> None:
    """Copy torchvision's ImageNet VGG16 (-BN) conv and BN layers, in order, into `stages`.

    `stages` is what `vgg16_stages` built (pooling and dilation may differ: only the order and
    shapes of the conv and BN layers must match); on the meta device nothing is loaded. VGG16-BN's convs have a bias, which the BN after
    them cancels: it is folded into the BN's running mean, exactly. `fc`, the (fc6, fc7) blocks of
    FCN or DeconvNet, receives the classifier's first two layers as 7x7 and 1x1 convolutions.
    `state` is the weights if the caller fetched them already (to fail before building a big model).
    """
    if _on_meta(stages):
        return
    name = "vgg16_bn" if batch_norm else "vgg16"
    state = state if state is not None else imagenet_state_dict(name)
    layers: dict[int, dict[str, torch.Tensor]] = {}
    for key, tensor in state.items():
        if key.startswith("features."):
            index, param = key.removeprefix("features.").split(".", 1)
            layers.setdefault(int(index), {})[param] = tensor
    targets = [m for stage in stages for m in stage.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]
    sources = [layers[i] for i in sorted(layers)]
    if len(targets) != len(sources):
        raise WeightsError(f"the ImageNet {name} weights have {len(sources)} conv/BN layers, the model {len(targets)}")
    _load_in_order(name, targets, sources)
    if fc is not None:
        _load_fc_as_conv(name, state, fc)


def _load_in_order(name: str, targets: list[nn.Module], sources: list[dict[str, torch.Tensor]]) -> None:
    """Load each source state into its target module (conv or BN), in order."""
    for conv, source, bn in zip(targets, sources, sources[1:]):
        if isinstance(conv, nn.Conv2d) and conv.bias is None and "bias" in source:
            bn["running_mean"] = bn["running_mean"] - source.pop("bias")
    for i, (module, state) in enumerate(zip(targets, sources)):
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            raise WeightsError(f"ImageNet {name} layer {i} does not fit {module}: {exc}") from exc


def _load_fc_as_conv(name: str, state: dict[str, torch.Tensor], fc: tuple[nn.Module, nn.Module]) -> None:
    """VGG's fc6 (4096 x 512*7*7) and fc7 (4096 x 4096) as the 7x7 and 1x1 convs of `fc`, as FCN does."""
    for block, index in zip(fc, (0, 3)):  # classifier.0 is fc6, classifier.3 is fc7
        conv = next(m for m in block.modules() if isinstance(m, nn.Conv2d))
        bn = next((m for m in block.modules() if isinstance(m, nn.BatchNorm2d)), None)
        weight, bias = state[f"classifier.{index}.weight"], state[f"classifier.{index}.bias"]
        if weight.numel() != conv.weight.numel():
            raise WeightsError(f"ImageNet {name} fc{6 + index // 3} has {tuple(weight.shape)} weights, "
                               f"which do not fit the model's {tuple(conv.weight.shape)} convolution")
        with torch.no_grad():
            conv.weight.copy_(weight.reshape(conv.weight.shape))
            if conv.bias is not None:
                conv.bias.copy_(bias)
            elif bn is not None:  # the BN after a bias-free conv absorbs the bias exactly
                bn.running_mean.copy_(-bias)


def load_imagenet_resnet(model: ResNet, depth: int) -> None:
    """Load torchvision's ImageNet ResNet-`depth` weights (all but `fc`) into a width-1.0 `ResNet`."""
    if _on_meta(model):
        return
    name = f"resnet{depth}"
    state = {k: v for k, v in imagenet_state_dict(name).items() if not k.startswith("fc.")}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise WeightsError(f"the ImageNet {name} weights do not fit the model: {exc}") from exc
