"""Shared tests for every registered architecture, and paper-scale parameter counts."""

import pytest
import torch

from segbench.entries import options_model
from segbench.models import MODELS, build
from segbench.models.fcn import bilinear_kernel
from segbench.probe import parameter_counts

SMALL = {
    "fcn": [{"skip": s, "width": 0.0625, "batch_norm": bn} for s in (32, 16, 8) for bn in (False, True)],
    "deeplab": [{"width": 0.0625, **o} for o in (
        {"version": "v1", "backbone": "vgg16", "aspp": False}, {"version": "v2", "backbone": "vgg16", "aspp": True},
        {"version": "v2", "backbone": "resnet50", "aspp": True}, {"version": "v2", "backbone": "resnet50", "aspp": False},
        {"version": "v3", "backbone": "resnet50", "output_stride": 16}, {"version": "v3", "backbone": "resnet50"})],
    "deconvnet": [{"width": 0.0625, "batch_norm": True}, {"width": 0.25, "batch_norm": False}],  # 4 channels without BN die out
    "unet": [{"width": 0.0625, "padding": p, "upsample": u, "batch_norm": bn}
             for p in ("same", "valid") for u in ("transpose", "bilinear") for bn in (False, True)],
}
VARIANTS = [(arch, opts) for arch in MODELS for opts in SMALL[arch]]


def test_every_registered_model_has_small_variants():
    assert set(SMALL) == set(MODELS)


@pytest.mark.parametrize("arch, options", VARIANTS, ids=lambda v: str(v))
@pytest.mark.parametrize("size", [(67, 93), (32, 32), (17, 100)])
def test_output_matches_input_size_and_trains(arch, options, size):
    torch.manual_seed(0)
    model = build(arch, 5, **options)
    x = torch.randn(2, 3, *size, requires_grad=True)
    y = model(x)
    assert y.shape == (2, 5, *size)
    assert torch.isfinite(y).all()
    target = torch.randint(0, 5, (2, *size))
    torch.nn.functional.cross_entropy(y, target).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    # zero-initialised score layers block the gradient to the input until one step is taken
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    x.grad = None
    torch.nn.functional.cross_entropy(model(x), target).backward()
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize("arch, options", VARIANTS[:2], ids=lambda v: str(v))
def test_same_seed_same_model(arch, options):
    outputs = []
    for _ in range(2):
        torch.manual_seed(3)
        model = build(arch, 4, **options).eval()
        outputs.append(model(torch.ones(1, 3, 40, 40)))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)


def test_every_builder_option_is_validated_by_the_schema():
    for arch in MODELS:
        fields = options_model(arch).model_fields
        assert "num_classes" not in fields and fields


def test_unknown_architecture_lists_the_registered_ones():
    with pytest.raises(ValueError, match="registered: .*fcn"):
        build("segformer", 21)


# Long et al. 2015, Table 1: FCN-VGG16 has 134M parameters (21 classes, PASCAL VOC).
@pytest.mark.parametrize("skip", [32, 16, 8])
def test_fcn_parameter_count_matches_the_paper(skip):
    with torch.device("meta"):
        model = build("fcn", 21, skip=skip)
    total = parameter_counts(model)["total"]
    assert total == pytest.approx(134e6, rel=0.01)
    # hand count of the shared trunk: VGG16 convs + fc6 (7x7x512x4096) + fc7 + score_fr
    vgg = sum(9 * i * o + o for i, o in [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256),
                                         (256, 256), (256, 512)] + [(512, 512)] * 5)
    trunk = vgg + (49 * 512 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 21 + 21)
    skips = {32: 0, 16: 512 * 21 + 21 + 21 * 21 * 16, 8: 2 * 21 * 21 * 16 + 512 * 21 + 21 + 256 * 21 + 21}
    assert total == trunk + skips[skip]


def test_width_scales_channels():
    small = parameter_counts(build("fcn", 21, skip=8, width=0.125))["total"]
    with torch.device("meta"):
        full = parameter_counts(build("fcn", 21, skip=8))["total"]
    assert small < full / 50


def test_bilinear_kernel_upsamples_a_constant_to_a_constant():
    k = bilinear_kernel(1, 4)
    up = torch.nn.functional.conv_transpose2d(torch.ones(1, 1, 5, 5), k, stride=2, padding=1)
    assert up.shape[-2:] == (10, 10)
    torch.testing.assert_close(up[..., 1:-1, 1:-1], torch.ones(1, 1, 8, 8))
    assert k[0, 0].tolist()[0] == pytest.approx([0.0625, 0.1875, 0.1875, 0.0625])


def test_fcn_skips_change_the_output():
    """FCN-16s/8s add pool4/pool3 scores: with non-zero skip weights the outputs differ from 32s."""
    torch.manual_seed(0)
    m8 = build("fcn", 3, skip=8, width=0.0625).eval()
    x = torch.randn(1, 3, 64, 64)
    base = m8(x)
    torch.nn.init.normal_(m8.score_pool3.weight)
    assert not torch.allclose(base, m8(x))


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (2, 5), (4, 1), (7, 7), (9, 3)])
def test_same_conv_on_small_maps_equals_the_full_kernel(size):
    from segbench.models.fcn import SameConv2d
    torch.manual_seed(0)
    conv = SameConv2d(4, 5, 7, padding=3)
    x = torch.randn(2, 4, *size, requires_grad=True)
    full = torch.nn.functional.conv2d(x, conv.weight, conv.bias, padding=3)
    torch.testing.assert_close(conv(x), full)
    for mine, ref in zip(torch.autograd.grad(conv(x).square().sum(), (x, conv.weight)),
                         torch.autograd.grad(full.square().sum(), (x, conv.weight))):
        torch.testing.assert_close(mine, ref)
