"""U-Net: shapes on any size for every option, the paper's parameter count, valid-padding geometry."""

import pytest
import torch
from torch import nn

from segbench.models.unet import mirror_pad, unet, valid_output_size

OPTIONS = [{"padding": p, "upsample": u, "batch_norm": bn}
           for p in ("same", "valid") for u in ("transpose", "bilinear") for bn in (False, True)]


@pytest.mark.parametrize("options", OPTIONS, ids=str)
@pytest.mark.parametrize("size", [(67, 93), (17, 100), (32, 32)])
def test_output_matches_input_size_and_trains(options, size):
    torch.manual_seed(0)
    model = unet(5, width=0.0625, **options)
    x = torch.randn(2, 3, *size, requires_grad=True)
    y = model(x)
    assert y.shape == (2, 5, *size)
    torch.nn.functional.cross_entropy(y, torch.randint(0, 5, (2, *size))).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_single_image_and_other_input_channels(padding):
    model = unet(3, width=0.0625, in_channels=1, padding=padding, batch_norm=True).eval()
    assert model(torch.randn(1, 1, 9, 31)).shape == (1, 3, 9, 31)


def test_parameter_count_matches_the_paper():
    """31.03M: the paper's layers, 3 input channels, 2 classes, transpose up-convs, no BN.

    The often quoted 31,031,685 (zhixuhao/unet, Keras) is a 1-channel input with an extra
    64->2 3x3 conv before a 2->1 sigmoid; for 3 channels in and a 64->2 classifier it is 31,031,810.
    """
    with torch.device("meta"):
        model = unet(2)
    total = sum(p.numel() for p in model.parameters())
    assert total == pytest.approx(31.03e6, rel=0.01)

    def double(i, o):
        return 9 * i * o + o + 9 * o * o + o
    down = sum(double(i, o) for i, o in [(3, 64), (64, 128), (128, 256), (256, 512), (512, 1024)])
    up = sum(4 * i * (i // 2) + i // 2 + double(i, i // 2) for i in (1024, 512, 256, 128))
    assert total == down + up + 64 * 2 + 2 == 31_031_810


def test_valid_padding_uses_unpadded_convs():
    convs = {p: [m for m in unet(2, width=0.0625, padding=p).modules() if isinstance(m, nn.Conv2d)]
             for p in ("same", "valid")}
    for padding, expected in (("valid", (0, 0)), ("same", (1, 1))):
        three = [m.padding for m in convs[padding] if m.kernel_size == (3, 3)]
        assert three == [expected] * 18


def test_valid_padding_reproduces_the_papers_tile():
    """A 388-pixel output needs the paper's 572-pixel input tile; other sizes round up."""
    assert valid_output_size(388) == 388 and valid_output_size(387) == 388
    assert [valid_output_size(n) for n in (1, 4, 5, 20, 21)] == [4, 4, 20, 20, 36]
    model = unet(2, width=0.0625, padding="valid")
    seen = []
    model.down[0].register_forward_hook(lambda m, args, out: seen.append(args[0].shape[-2:]))
    model.up[-1].register_forward_hook(lambda m, args, out: seen.append(out.shape[-2:]))
    model(torch.randn(1, 3, 388, 5))
    assert seen == [(572, 204), (388, 20)]


def test_mirror_pad_reflects_beyond_the_image_size():
    x = torch.tensor([[[[0.0, 1.0, 2.0]]]])
    assert mirror_pad(x, 0, 0, 5, 4)[0, 0, 0].tolist() == [1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2]
    assert mirror_pad(torch.ones(1, 1, 1, 1), 2, 3, 1, 1).shape == (1, 1, 6, 3)


def identity_unet(padding: str) -> nn.Module:
    """A 1-channel U-Net that copies its (positive) input through the top skip connection only."""
    model = unet(1, width=0.0625, in_channels=1, padding=padding)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for conv in (model.down[0][0], model.down[0][2], model.up[-1].conv[0], model.up[-1].conv[2]):
            conv.weight[0, 0, 1, 1] = 1  # in channel 0 of up[-1].conv[0] is the skip (concatenated first)
        model.classifier.weight[0, 0] = 1
    return model


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("size", [(17, 30), (36, 52), (5, 3)])
def test_output_is_aligned_with_the_input(padding, size):
    """Through the top skip the network is the identity: a crop off by any pixel would shift it."""
    x = torch.rand(1, 1, *size) + 0.1
    torch.testing.assert_close(identity_unet(padding)(x), x)


def symmetrise(model: nn.Module) -> None:
    """Make every kernel left-right and up-down symmetric, so the network commutes with flips."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                w = m.weight
                w.copy_((w + w.flip(-1)) / 2)
                w.copy_((w + w.flip(-2)) / 2)


@pytest.mark.parametrize("upsample", ["transpose", "bilinear"])
def test_valid_padding_is_centred_at_every_level(upsample):
    """At sizes that need no rounding (16k - 60) the padding is symmetric, so a network of
    symmetric kernels must commute with flips: an off-centre skip crop at any depth breaks this."""
    torch.manual_seed(0)
    model = unet(2, width=0.0625, padding="valid", upsample=upsample).eval()
    symmetrise(model)
    x = torch.randn(1, 3, 36, 52)
    y = model(x)
    for dim in (-1, -2):
        torch.testing.assert_close(model(x.flip(dim)), y.flip(dim), rtol=1e-4, atol=1e-5)
