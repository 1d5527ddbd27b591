"""DiffAugment's transforms: what each does to an image, gradients through them, the policy option."""
import pytest
import torch

from ganzoo import BuildContext, DataInfo, GanzooError
from ganzoo_plugins.diffaugment import DiffAugment, DiffAugmentOptions, color, cutout, translation


def build(policy, shape=(3, 16, 16)):
    return DiffAugment(DiffAugmentOptions(policy=policy), BuildContext(torch.device("cpu"), None,
                                                                       DataInfo(shape, None, 10)))


def test_translation_shifts_content_by_at_most_an_eighth_and_fills_with_zeros():
    torch.manual_seed(0)
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 8, 8] = 1.0  # one bright pixel per image
    y = translation(x)
    rows, cols = torch.nonzero(y[:, 0] == 1.0)[:, 1:].unbind(1)
    assert len(rows) == 64  # moved, never lost: the shift is at most 2 of 16 pixels
    assert (rows - 8).abs().max() <= 2 and (cols - 8).abs().max() <= 2 and (rows != 8).any()
    full = translation(torch.ones(64, 1, 16, 16))
    assert set(full.unique().tolist()) <= {0.0, 1.0} and (full == 0).any()  # zeros come in at the edges


def test_cutout_zeroes_at_most_a_quarter_of_each_image():
    torch.manual_seed(0)
    y = cutout(torch.ones(256, 2, 16, 16))
    zeroed = (y == 0).float().mean(dim=(1, 2, 3))
    assert zeroed.max() <= 0.25 + 1e-6 and zeroed.mean() > 0.1
    assert torch.equal(y[:, 0], y[:, 1])  # one square through every channel


def test_color_moves_the_brightness_of_each_image_by_at_most_a_half():
    torch.manual_seed(0)
    x = torch.zeros(512, 1, 4, 4)
    shift = color(x).mean(dim=(1, 2, 3))
    assert shift.abs().max() <= 0.5 and shift.std() > 0.2


def test_gradients_flow_to_the_input_and_the_policy_is_checked():
    x = torch.randn(8, 3, 16, 16, requires_grad=True)
    build("color,translation,cutout")(x).square().sum().backward()
    assert x.grad.abs().sum() > 0
    assert torch.equal(build("")(x), x)
    with pytest.raises(GanzooError, match="unknown transform 'flip'; allowed: color, translation, cutout"):
        build("color,flip")
    with pytest.raises(GanzooError, match="needs images"):
        build("color", shape=(2,))
