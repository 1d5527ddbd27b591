"""Sample grids: the same pixels torchvision's save_image writes, without importing it."""
import pytest
import torch
from torchvision.utils import make_grid

from ganzoo.images import grid_pixels


@pytest.mark.parametrize("shape, nrow", [((16, 1, 28, 28), 4), ((10, 3, 8, 8), 4), ((5, 3, 7, 9), 8)])
def test_grid_matches_torchvision(shape, nrow):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0)) * 2.4 - 1.2  # some out of [-1, 1]
    expected = make_grid(x, nrow=nrow, normalize=True, value_range=(-1, 1))
    expected = expected.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8)
    assert torch.equal(grid_pixels(x, nrow), expected)
