"""Shared backbones: the width-scaled ResNet is torchvision's at width 1.0; ImageNet weights load or fail clearly."""

import subprocess
import sys

import pytest
import torch
import torchvision

from segbench.errors import WeightsError
from segbench.models import build, build_on_meta
from segbench.models.backbones import (IMAGENET_WEIGHTS, ResNet, check_imagenet_compatible, conv_block,
                                       imagenet_cache_path, imagenet_weights, load_imagenet_resnet,
                                       load_imagenet_vgg16, vgg16_stages)
from tests.conftest import fill_randomly

DILATIONS = [(False, False, False), (False, True, True), (False, False, True)]


def layout(model):
    """Every conv's name, shape, stride, padding and dilation, and every BN's name and size."""
    return [(name, tuple(m.weight.shape), getattr(m, "stride", None), getattr(m, "padding", None),
             getattr(m, "dilation", None)) for name, m in model.named_modules()
            if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d))]


@pytest.mark.parametrize("depth", [50, 101])
@pytest.mark.parametrize("dilate", DILATIONS, ids=str)
def test_resnet_at_width_one_is_torchvisions(depth, dilate):
    with torch.device("meta"):
        mine = ResNet(depth, dilate=dilate)
        theirs = getattr(torchvision.models, f"resnet{depth}")(weights=None, replace_stride_with_dilation=list(dilate))
    assert layout(mine) == layout(theirs)
    assert list(mine.state_dict()) == [k for k in theirs.state_dict() if not k.startswith("fc.")]


def test_resnet_computes_what_torchvision_computes():
    torch.manual_seed(0)
    theirs = torchvision.models.resnet50(weights=None, replace_stride_with_dilation=[False, True, True]).eval()
    mine = ResNet(50, dilate=(False, True, True)).eval()
    mine.load_state_dict({k: v for k, v in theirs.state_dict().items() if not k.startswith("fc.")})
    x = torch.randn(1, 3, 41, 37)
    reference = torch.nn.Sequential(*list(theirs.children())[:-2])
    with torch.no_grad():
        torch.testing.assert_close(mine(x), reference(x))


@pytest.mark.parametrize("width, channels", [(0.0625, 128), (0.125, 256), (0.5, 1024)])
def test_resnet_width_scales_every_stage(width, channels):
    model = ResNet(50, in_channels=2, width=width, dilate=(False, False, True))
    assert model.conv1.in_channels == 2 and model.conv1.out_channels == round(64 * width)
    assert model.out_channels == channels
    assert model(torch.randn(2, 2, 64, 48)).shape == (2, channels, 4, 3)  # output stride 16


@pytest.mark.parametrize("width, in_channels", [(0.5, 3), (1.0, 1), (2.0, 3)])
def test_imagenet_needs_the_imagenet_shapes(width, in_channels):
    with pytest.raises(ValueError, match=f"width {width}, in_channels {in_channels}"):
        check_imagenet_compatible(width, in_channels)
    check_imagenet_compatible(1.0, 3)


@pytest.mark.parametrize("name", sorted(IMAGENET_WEIGHTS))
def test_offline_names_the_url_and_the_cache_path(hub, name):
    expected = str(hub / "torch" / "hub" / "checkpoints" / imagenet_weights(name).url.rsplit("/", 1)[1])
    assert imagenet_cache_path(name) == expected
    stages = vgg16_stages(3, 1.0, name == "vgg16_bn")
    with pytest.raises(WeightsError) as info:
        if name.startswith("vgg"):
            load_imagenet_vgg16(stages, batch_norm=name == "vgg16_bn")
        else:  # narrow and on the CPU: the weights are fetched before their shapes are checked
            load_imagenet_resnet(ResNet(int(name[6:]), width=0.0625), int(name[6:]))
    message = str(info.value)
    assert f"Download {imagenet_weights(name).url} and save it as {expected}" in message
    assert "not in torch's cache" in message and "\n" not in message


def test_an_unreadable_cached_file_is_reported(hub):
    with open(imagenet_cache_path("vgg16"), "wb") as f:
        f.write(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read the ImageNet vgg16 weights at .*vgg16-397923af.pth"):
        load_imagenet_vgg16(vgg16_stages(3, 1.0, False), batch_norm=False)


def test_weights_of_the_wrong_shape_are_reported(hub):
    torch.save({"conv1.weight": torch.zeros(1)}, imagenet_cache_path("resnet50"))
    with pytest.raises(WeightsError, match="the ImageNet resnet50 weights do not fit"):
        load_imagenet_resnet(ResNet(50, width=0.0625), 50)
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3), "features.0.bias": torch.zeros(64)},
               imagenet_cache_path("vgg16"))
    with pytest.raises(WeightsError, match="have 1 conv/BN layers, the model 13"):
        load_imagenet_vgg16(vgg16_stages(3, 1.0, False), batch_norm=False)


def test_imagenet_vgg16_bn_loads_into_vgg16_stages_and_computes_the_same(hub):
    """The real loading path on a file in torchvision's format, written by the test."""
    with torch.device("meta"):
        features = torchvision.models.vgg16_bn(weights=None).features
    features = features.to_empty(device="cpu").eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in features.state_dict().items():
            t.copy_(torch.rand(t.shape, generator=gen) + 0.5 if name.endswith("running_var")
                    else torch.randn(t.shape, generator=gen) * 0.1 if t.is_floating_point() else torch.tensor(5))
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, imagenet_cache_path("vgg16_bn"))
    stages = vgg16_stages(3, 1.0, batch_norm=True)
    load_imagenet_vgg16(stages, batch_norm=True)
    convs = [m for stage in stages for m in stage if isinstance(m, torch.nn.Conv2d)]
    saved = [m for m in features if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == len(saved) == 13
    assert all(torch.equal(a.weight, b.weight) for a, b in zip(convs, saved))
    x = torch.randn(1, 3, 32, 32)  # a multiple of 32: ceil-mode pooling changes nothing
    with torch.no_grad():
        torch.testing.assert_close(torch.nn.Sequential(*stages).eval()(x), features(x), rtol=1e-4, atol=1e-5)


def test_torchvision_is_imported_only_when_used():
    """torchvision takes about a second to import: the model modules leave it to the functions that need it."""
    code = "import sys, segbench.models.deeplab, segbench.models.backbones; assert 'torchvision' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


@pytest.mark.parametrize("batch_norm", [False, True])
def test_vgg16_fc_layers_load_as_the_equivalent_convolutions(hub, batch_norm):
    """fc6 on pool5's flattened 512x7x7 map = the 7x7 conv at the map's centre; fc7 = a 1x1 conv."""
    name = "vgg16_bn" if batch_norm else "vgg16"
    with torch.device("meta"):
        features = getattr(torchvision.models, name)(weights=None).features
    fc6_linear, fc7_linear = torch.nn.Linear(512 * 7 * 7, 8), torch.nn.Linear(8, 4)  # narrow, for speed
    state = {f"features.{k}": v for k, v in fill_randomly(features).state_dict().items()}
    state |= {f"classifier.0.{k}": v for k, v in fc6_linear.state_dict().items()}
    state |= {f"classifier.3.{k}": v for k, v in fc7_linear.state_dict().items()}
    torch.save(state, imagenet_cache_path(name))
    fc6 = torch.nn.Sequential(*conv_block(512, 8, batch_norm, kernel_size=7, padding=3))
    fc7 = torch.nn.Sequential(*conv_block(8, 4, batch_norm, kernel_size=1, padding=0))
    load_imagenet_vgg16(vgg16_stages(3, 1.0, batch_norm), batch_norm, fc=(fc6, fc7))
    fc6.eval(), fc7.eval()
    pool5 = torch.randn(2, 512, 7, 7)
    with torch.no_grad():
        hidden = torch.relu(fc6_linear(pool5.flatten(1)))
        torch.testing.assert_close(fc6(pool5)[:, :, 3, 3], hidden, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(fc7(hidden[:, :, None, None])[:, :, 0, 0], torch.relu(fc7_linear(hidden)),
                                   rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("arch", ["fcn", "deconvnet"])
def test_fcn_and_deconvnet_start_from_imagenet_vgg16(hub, arch):
    with pytest.raises(ValueError, match="pretrained: imagenet needs width 1.0"):
        build(arch, 5, width=0.5, pretrained="imagenet")
    with pytest.raises(WeightsError, match="not in torch's cache"):
        build(arch, 5, pretrained="imagenet")


@pytest.mark.parametrize("arch, options", [("fcn", {}), ("deconvnet", {}), ("deeplab", {"backbone": "resnet50"}),
                                           ("deeplab", {"version": "v1", "backbone": "vgg16", "aspp": False})])
def test_structure_only_builds_need_no_weights(hub, arch, options):
    """`segbench validate` and `segbench models` build on the meta device: offline, without the weights."""
    model = build_on_meta(arch, 5, pretrained="imagenet", **options)
    assert all(p.is_meta for p in model.parameters())
