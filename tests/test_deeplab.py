"""DeepLab v1/v2/v3: every valid variant trains at any input size; counts, rates and heads as in the papers."""

import pytest
import torch
import torch.nn.functional as F
import torchvision
from pydantic import ValidationError

from segbench.entries import options_model
from segbench.errors import WeightsError
from segbench.models import MODELS
from segbench.models.backbones import imagenet_cache_path, imagenet_weights
from segbench.models.deeplab import AtrousConv2d, deeplab
from tests.conftest import fill_randomly
from segbench.probe import parameter_counts

VALID = ([("v1", "vgg16", False, 8)]
         + [("v2", b, a, 8) for b in ("vgg16", "resnet50", "resnet101") for a in (True, False)]
         + [("v3", b, True, s) for b in ("resnet50", "resnet101") for s in (16, 8)])
INVALID = [("v1", "resnet50", False, 8, "set backbone: vgg16"), ("v1", "vgg16", True, 8, "set aspp: false"),
           ("v3", "vgg16", True, 8, "resnet50 or resnet101"), ("v3", "resnet50", False, 8, "aspp: false is a v2"),
           ("v2", "resnet50", True, 16, "output_stride: 16 is a v3 option"),
           ("v1", "vgg16", False, 16, "output_stride: 16 is a v3 option")]


def options(version, backbone, aspp, output_stride, **extra):
    return dict(version=version, backbone=backbone, aspp=aspp, output_stride=output_stride, **extra)


def rates(model):
    return [m.dilation[0] for m in model.head.modules() if isinstance(m, AtrousConv2d)]


@pytest.mark.parametrize("variant", VALID, ids=str)
def test_valid_variants_match_the_input_size_and_train(variant):
    torch.manual_seed(0)
    model = deeplab(5, **options(*variant, width=0.0625))
    for size in [(67, 93), (17, 100), (32, 32)]:
        model.zero_grad()
        y = model(torch.randn(2, 3, *size))
        assert y.shape == (2, 5, *size) and torch.isfinite(y).all()
        F.cross_entropy(y, torch.randint(0, 5, (2, *size))).backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("variant, message", [(v[:4], v[4]) for v in INVALID], ids=str)
def test_invalid_combinations_say_what_to_change(variant, message):
    with pytest.raises(ValueError, match=f"^deeplab version {variant[0]}: .*{message}"):
        deeplab(5, **options(*variant))


def test_the_schema_has_every_option_and_the_defaults_build():
    assert MODELS["deeplab"] is deeplab
    schema = options_model("deeplab")
    defaults = {"version": "v3", "backbone": "resnet101", "aspp": True, "output_stride": 8,
                "width": 1.0, "in_channels": 3, "pretrained": "none"}
    assert defaults.items() <= schema.model_validate({}).model_dump().items()
    with pytest.raises(ValidationError):
        schema.model_validate({"backbone": "resnet152"})
    with torch.device("meta"):
        model = deeplab(21)
    assert rates(model) == [12, 24, 36]  # v3 on ResNet-101 at output stride 8


def test_in_channels_and_width():
    model = deeplab(3, version="v2", backbone="resnet50", width=0.0625, in_channels=1).eval()
    assert model(torch.randn(1, 1, 20, 24)).shape == (1, 3, 20, 24)


# Chen et al. 2015, Table 2: DeepLab-LargeFOV has 20.5M parameters (21 classes).
def test_v1_parameter_count_matches_the_paper():
    with torch.device("meta"):
        total = parameter_counts(deeplab(21, version="v1", backbone="vgg16", aspp=False))["total"]
    assert total == pytest.approx(20.5e6, rel=0.01)
    vgg = sum(9 * i * o + o for i, o in [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256),
                                         (256, 256), (256, 512)] + [(512, 512)] * 5)
    assert total == vgg + (9 * 512 * 1024 + 1024) + (1024 * 1024 + 1024) + (1024 * 21 + 21)


@pytest.mark.parametrize("depth", [50, 101])
@pytest.mark.parametrize("output_stride", [16, 8])
def test_v3_parameter_count_equals_torchvision(depth, output_stride):
    builder = getattr(torchvision.models.segmentation, f"deeplabv3_resnet{depth}")
    with torch.device("meta"):
        mine = deeplab(21, version="v3", backbone=f"resnet{depth}", output_stride=output_stride)
        theirs = builder(weights=None, weights_backbone=None, aux_loss=False, num_classes=21)
    assert parameter_counts(mine)["total"] == parameter_counts(theirs)["total"]
    if depth == 101:
        assert parameter_counts(mine)["total"] == pytest.approx(58.6e6, rel=0.01)


def test_width_scales_every_channel():
    with torch.device("meta"):
        full = parameter_counts(deeplab(21, version="v2", backbone="resnet101"))["total"]
    small = parameter_counts(deeplab(21, version="v2", backbone="resnet101", width=0.125))["total"]
    assert small < full / 40


@pytest.mark.parametrize("variant, expected", [
    (("v1", "vgg16", False, 8), [12]), (("v2", "vgg16", True, 8), [6, 12, 18, 24]),
    (("v2", "vgg16", False, 8), [12]), (("v2", "resnet50", True, 8), [6, 12, 18, 24]),
    (("v2", "resnet50", False, 8), [12]), (("v3", "resnet50", True, 16), [6, 12, 18]),
    (("v3", "resnet50", True, 8), [12, 24, 36])], ids=str)
def test_head_rates_and_output_stride(variant, expected):
    model = deeplab(4, **options(*variant, width=0.0625)).eval()
    assert rates(model) == expected
    features = model.backbone(torch.randn(1, 3, 65, 65))  # 8k + 1 pixels, as the Caffe models (321)
    assert features.shape[-2:] == (64 // variant[3] + 1,) * 2


@pytest.mark.parametrize("variant, divisor, expected", [
    (("v1", "vgg16", False, 8), 6, [2]), (("v2", "resnet50", True, 8), 6, [1, 2, 3, 4]),
    (("v2", "vgg16", False, 8), 6, [2]), (("v3", "resnet50", True, 8), 6, [2, 4, 6]),
    (("v3", "resnet50", True, 16), 6, [1, 2, 3]), (("v2", "resnet50", True, 8), 5, [1, 2, 4, 5]),
    (("v2", "resnet50", True, 8), 4, [2, 3, 5, 6]), (("v2", "resnet50", False, 8), 36, [1])], ids=str)
def test_rate_divisor_divides_every_head_rate(variant, divisor, expected):
    model = deeplab(4, **options(*variant, width=0.0625, rate_divisor=divisor))
    assert rates(model) == expected
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 4, 64, 64)


def test_rate_divisor_that_merges_branches_names_the_largest_that_does_not():
    with pytest.raises(ValueError, match="turns the head's rates 6/12/18/24 into 1/2/3/3: .* at most 6"):
        deeplab(4, **options("v2", "resnet50", True, 8, width=0.0625, rate_divisor=7))
    with pytest.raises(ValueError, match="rates 12/24/36 into 1/1/2: .* at most 14"):
        deeplab(4, **options("v3", "resnet50", True, 8, width=0.0625, rate_divisor=24))


def test_rate_divisor_is_a_positive_integer():
    schema = options_model("deeplab")
    assert schema.model_validate({}).rate_divisor == 1
    for bad in (0, 1.5, 37):
        with pytest.raises(ValidationError):
            schema.model_validate({"rate_divisor": bad})


def test_v1_trunk_pools_and_dilation():
    model = deeplab(4, version="v1", backbone="vgg16", aspp=False, width=0.0625)
    pools = [stage[-1] for stage in model.backbone]
    assert [(p.kernel_size, p.stride, p.padding) for p in pools] == [(3, 2, 1)] * 3 + [(3, 1, 1)] * 2
    convs = [m for stage in model.backbone for m in stage if isinstance(m, torch.nn.Conv2d)]
    assert [c.dilation[0] for c in convs] == [1] * 10 + [2] * 3
    assert [m.p for m in model.head.modules() if isinstance(m, torch.nn.Dropout)] == [0.5, 0.5]


@pytest.mark.parametrize("backbone", ["vgg16", "resnet50"])
def test_v2_aspp_sums_the_branch_scores(backbone):
    torch.manual_seed(0)
    model = deeplab(4, version="v2", backbone=backbone, width=0.0625).eval()
    x = torch.randn(1, 3, 41, 37)
    with torch.no_grad():
        one = F.interpolate(model.head.branches[0](model.backbone(x)), size=(41, 37), mode="bilinear")
        assert not torch.allclose(model(x), one)
        for branch in model.head.branches[1:]:
            last = branch[-1] if backbone == "vgg16" else branch
            last.weight.zero_()
            last.bias.zero_()
        torch.testing.assert_close(model(x), one)


def test_v3_head_layout():
    """1x1 + three atrous branches + image pooling, each 256 wide with BN; projection; 3x3; classifier."""
    with torch.device("meta"):
        head = deeplab(21, version="v3", backbone="resnet50").head
    aspp = head[0]
    assert [type(b[0]).__name__ for b in aspp.branches[:4]] == ["Conv2d"] + ["AtrousConv2d"] * 3
    assert type(aspp.branches[4]).__name__ == "ImagePooling"
    assert all(isinstance(b[1], torch.nn.BatchNorm2d) and b[0].out_channels == 256 for b in aspp.branches[:4])
    project = aspp.project
    assert (project[0].in_channels, project[0].out_channels, project[0].kernel_size) == (5 * 256, 256, (1, 1))
    assert isinstance(project[1], torch.nn.BatchNorm2d) and project[-1].p == 0.1
    assert head[1].kernel_size == (3, 3) and isinstance(head[2], torch.nn.BatchNorm2d)
    assert (head[-1].in_channels, head[-1].out_channels, head[-1].kernel_size) == (256, 21, (1, 1))


def test_v3_image_pooling_survives_a_batch_of_one_in_training():
    model = deeplab(4, version="v3", backbone="resnet50", width=0.0625)
    pooling = model.head[0].branches[-1]
    torch.nn.init.normal_(pooling.bn.bias)
    y = model(torch.randn(1, 3, 33, 33))
    y.sum().backward()
    assert y.shape == (1, 4, 33, 33)
    out = pooling(torch.randn(1, pooling.conv.in_channels, 5, 5))
    torch.testing.assert_close(out, F.relu(pooling.bn.bias).view(1, -1, 1, 1).expand_as(out))
    model.eval()
    assert model(torch.randn(1, 3, 33, 33)).shape == (1, 4, 33, 33)


@pytest.mark.parametrize("rate, size", [(12, (8, 8)), (12, (9, 13)), (6, (8, 8)), (2, (1, 5)), (24, (30, 3))])
def test_atrous_conv_skipping_padding_taps_is_exact(rate, size):
    torch.manual_seed(0)
    conv = AtrousConv2d(3, 4, rate)
    x = torch.randn(2, 3, *size, requires_grad=True)
    full = F.conv2d(x, conv.weight, conv.bias, padding=rate, dilation=rate)
    torch.testing.assert_close(conv(x), full)
    for mine, ref in zip(torch.autograd.grad(conv(x).square().sum(), (x, conv.weight)),
                         torch.autograd.grad(full.square().sum(), (x, conv.weight))):
        torch.testing.assert_close(mine, ref)


@pytest.mark.parametrize("kw", [{"width": 0.5}, {"in_channels": 4}])
def test_imagenet_needs_the_imagenet_shapes(kw):
    with pytest.raises(ValueError, match="pretrained: imagenet needs width 1.0 and in_channels 3"):
        deeplab(5, version="v1", backbone="vgg16", aspp=False, pretrained="imagenet", **kw)


def test_imagenet_offline_says_what_to_download_and_where(hub):
    with pytest.raises(WeightsError) as info:
        deeplab(5, version="v2", backbone="resnet101", pretrained="imagenet")
    message = str(info.value)
    assert imagenet_weights("resnet101").url in message and imagenet_cache_path("resnet101") in message
    assert "\n" not in message


def test_imagenet_vgg16_weights_load_from_the_cache(hub):
    with torch.device("meta"):
        features = torchvision.models.vgg16(weights=None).features
    state = {f"features.{k}": v for k, v in fill_randomly(features).state_dict().items()}
    torch.save(state, imagenet_cache_path("vgg16"))
    model = deeplab(5, version="v1", backbone="vgg16", aspp=False, pretrained="imagenet")
    convs = [m for m in model.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    saved = [m for m in features if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == len(saved) == 13
    for mine, ref in zip(convs, saved):
        assert torch.equal(mine.weight, ref.weight) and torch.equal(mine.bias, ref.bias)


def test_imagenet_resnet50_weights_load_from_the_cache(hub):
    with torch.device("meta"):
        reference = torchvision.models.resnet50(weights=None)
    state = fill_randomly(reference).state_dict()
    torch.save(state, imagenet_cache_path("resnet50"))
    model = deeplab(5, version="v3", backbone="resnet50", output_stride=16, pretrained="imagenet")
    mine = model.backbone.state_dict()
    assert set(mine) == {k for k in state if not k.startswith("fc.")}
    assert all(torch.equal(mine[k], state[k]) for k in mine)


def test_batch_norm_adds_bn_to_the_vgg_trunk_only():
    plain = deeplab(5, version="v1", backbone="vgg16", aspp=False, width=0.0625)
    with_bn = deeplab(5, version="v1", backbone="vgg16", aspp=False, width=0.0625, batch_norm=True)
    bns = [m for m in with_bn.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 13 and not any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.backbone.modules())
    assert with_bn(torch.randn(2, 3, 33, 41)).shape == (2, 5, 33, 41)
    with pytest.raises(ValueError, match="resnet50 always has it: leave batch_norm false"):
        deeplab(5, version="v2", backbone="resnet50", batch_norm=True)
