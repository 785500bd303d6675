"""DeconvNet: shapes on any size, the paper's parameter count, unpooling with the encoder's switches."""

import pytest
import torch
import torch.nn.functional as F

from segbench.models.deconvnet import SameConvTranspose2d, deconvnet


@pytest.mark.parametrize("batch_norm", [True, False])
@pytest.mark.parametrize("size", [(67, 93), (17, 100), (32, 32)])
def test_output_matches_input_size_and_trains(batch_norm, size):
    torch.manual_seed(0)
    model = deconvnet(5, width=0.0625, batch_norm=batch_norm)
    x = torch.randn(2, 3, *size, requires_grad=True)
    y = model(x)
    assert y.shape == (2, 5, *size)
    F.cross_entropy(y, torch.randint(0, 5, (2, *size))).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert x.grad.abs().sum() > 0


def test_single_image_and_other_input_channels():
    model = deconvnet(3, width=0.0625, in_channels=1).eval()
    assert model(torch.randn(1, 1, 9, 31)).shape == (1, 3, 9, 31)


def test_parameter_count_matches_the_paper():
    """Noh et al. 2015 report 252M parameters (21 classes, PASCAL VOC); hand count of the layers too."""
    with torch.device("meta"):
        model = deconvnet(21)
    total = sum(p.numel() for p in model.parameters())
    assert total == pytest.approx(252e6, rel=0.01)

    def layers(pairs, k=3):  # conv or deconv without bias, then BN (scale and shift)
        return sum(k * k * i * o + 2 * o for i, o in pairs)
    encoder = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
               (256, 512)] + [(512, 512)] * 5
    decoder = [(512, 512)] * 5 + [(512, 256), (256, 256), (256, 256), (256, 128), (128, 128),
                                  (128, 64), (64, 64), (64, 64)]
    fc = layers([(512, 4096)], 7) + layers([(4096, 4096)], 1) + layers([(4096, 512)], 7)
    assert total == layers(encoder) + fc + layers(decoder) + 64 * 21 + 21


def conv_widths(model):
    return [m.out_channels for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]


def test_min_channels_raises_only_the_narrower_layers():
    """At width 0.125 the paper's 64- and 128-channel layers have 8 and 16 channels; min_channels 16 makes
    the 8s 16 and leaves the rest, in the encoder and the decoder alike (unpooling needs them to agree)."""
    narrow, floored = deconvnet(7, width=0.125), deconvnet(7, width=0.125, min_channels=16)
    assert conv_widths(narrow)[:4] == [8, 8, 16, 16] and conv_widths(narrow)[-3:] == [8, 8, 7]
    assert conv_widths(floored) == [max(16, c) if c != 7 else 7 for c in conv_widths(narrow)]
    assert conv_widths(floored)[:4] == [16, 16, 16, 16] and conv_widths(floored)[-3:] == [16, 16, 7]
    assert floored(torch.randn(1, 3, 40, 52)).shape == (1, 7, 40, 52)
    assert conv_widths(deconvnet(7, width=0.125, min_channels=1)) == conv_widths(narrow)


def test_min_channels_wider_than_vgg16_cannot_load_imagenet_weights():
    with pytest.raises(ValueError, match="min_channels 128"):
        deconvnet(21, min_channels=128, pretrained="imagenet")


def test_unpooling_puts_values_at_the_encoders_argmax_positions():
    """Each unpooling must scatter its input to the switches of the matching encoder pooling, and
    leave every other position zero: plain upsampling (or the wrong stage's switches) fails this."""
    torch.manual_seed(0)
    model = deconvnet(3, width=0.0625).eval()
    pools, unpools = [], []
    model.pool.register_forward_hook(lambda m, args, out: pools.append((args[0], *out)))
    model.unpool.register_forward_hook(lambda m, args, out: unpools.append((args[0], out)))
    model(torch.randn(1, 3, 45, 70))
    assert len(pools) == len(unpools) == 5
    for (before, pooled, switches), (x, unpooled) in zip(reversed(pools), unpools):
        flat = before.flatten(2)
        assert torch.equal(flat.gather(2, switches.flatten(2)), pooled.flatten(2))  # switches = argmax
        expected = torch.zeros_like(flat).scatter_(2, switches.flatten(2), x.flatten(2))
        assert x.count_nonzero() > 0
        assert torch.equal(unpooled, expected.view_as(before))


def test_permuting_the_switches_changes_the_output():
    torch.manual_seed(0)
    model = deconvnet(3, width=0.0625).eval()
    x = torch.randn(1, 3, 64, 64)
    y = model(x)
    unpool = model.unpool.forward

    def swapped(inp, indices, output_size=None):  # move each switch to the other column of its 2x2 window
        return unpool(inp, indices ^ 1, output_size=output_size)
    model.unpool.forward = swapped
    assert not torch.allclose(model(x), y)


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (2, 5), (4, 1), (7, 7), (9, 3)])
def test_same_deconv_on_small_maps_equals_the_full_kernel(size):
    torch.manual_seed(0)
    deconv = SameConvTranspose2d(4, 5, 7, padding=3)
    x = torch.randn(2, 4, *size, requires_grad=True)
    full = F.conv_transpose2d(x, deconv.weight, deconv.bias, padding=3)
    torch.testing.assert_close(deconv(x), full)
    for mine, ref in zip(torch.autograd.grad(deconv(x).square().sum(), (x, deconv.weight)),
                         torch.autograd.grad(full.square().sum(), (x, deconv.weight))):
        torch.testing.assert_close(mine, ref)
