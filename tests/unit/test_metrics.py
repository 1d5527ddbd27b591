"""Metric maths against independent references and hand-built sample sets."""
import math

import numpy as np
import pytest
import torch

from ganzoo import metrics as M
from ganzoo_plugins.toy2d import grid_centers, ring_centers


def test_fid_agrees_with_pytorch_fid_and_the_closed_form():
    from pytorch_fid.fid_score import calculate_frechet_distance

    g = torch.Generator().manual_seed(0)
    a = torch.randn(3000, 16, generator=g) @ torch.randn(16, 16, generator=g)
    b = torch.randn(3000, 16, generator=g) @ torch.randn(16, 16, generator=g) + 0.5
    ours = M.fid(a, b)
    reference = calculate_frechet_distance(*M.feature_statistics(a), *M.feature_statistics(b))
    assert ours == pytest.approx(reference, rel=1e-3)
    # Commuting covariances: ‖μ1 - μ2‖² + Σ(√λ1 - √λ2)².
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    s1, s2 = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 1.0, 9.0])
    assert M.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(5 + 1 + 1 + 0, rel=1e-6)


def test_kid_is_unbiased_on_a_known_case():
    # 1-d features, x ~ N(0, 1), y ~ N(1, 1), kernel (xy + 1)³. With m_a = E[x^a]:
    # E k(x, x') = (m3)² + 3(m2)² + 3(m1)² + 1, so MMD² = 4 + 32 - 2·7 = 22 exactly.
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20_000, 1, generator=g)
    y = torch.randn(20_000, 1, generator=g) + 1
    mean, std = M.kid(x, y, subsets=4000, subset_size=8, generator=g)
    standard_error = std / math.sqrt(4000)
    assert abs(mean - 22.0) < 4 * standard_error
    # The biased (V-statistic) estimate at this subset size is far off: the unbiasedness matters.
    xs, ys = x[:8].double(), y[:8].double()
    biased = ((xs @ xs.T + 1) ** 3).mean() + ((ys @ ys.T + 1) ** 3).mean() - 2 * ((xs @ ys.T + 1) ** 3).mean()
    assert M.mmd2_unbiased(xs, ys).item() != pytest.approx(biased.item())
    same_mean, same_std = M.kid(x[:5000], x[5000:10000], subsets=200, subset_size=500, generator=g)
    assert abs(same_mean) < 4 * same_std / math.sqrt(200)


def test_precision_recall_identical_and_far_apart_sets():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2000, 8, generator=g)
    assert M.precision_recall(a, a.clone()) == (1.0, 1.0)
    far = torch.randn(2000, 8, generator=g) + 100.0
    assert M.precision_recall(far, a) == (0.0, 0.0)


def test_density_coverage_on_gaussians_and_against_the_authors_formulas():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(5000, 64, generator=g), torch.randn(5000, 64, generator=g)
    density, coverage = M.density_coverage(fake, real, k=5)
    assert density == pytest.approx(1.0, abs=0.05)  # Naeem et al. 2020 (10k points): about 1, 0.97 (1 - 2^-k)
    assert coverage == pytest.approx(1 - 0.5 ** 5, abs=0.01)
    assert M.density_coverage(fake + 100, real, k=5) == (0.0, 0.0)
    # prdc's compute_prdc on a small case, written out in numpy
    x, y = real[:300].double().numpy(), (fake[:200] * 1.3 + 0.2).double().numpy()
    d_rr = np.linalg.norm(x[:, None] - x[None], axis=2)
    radii = np.partition(d_rr, 5, axis=1)[:, 5]
    d_rf = np.linalg.norm(x[:, None] - y[None], axis=2)
    expected_density = (d_rf < radii[:, None]).sum(axis=0).mean() / 5
    expected_coverage = (d_rf.min(axis=1) < radii).mean()
    got = M.density_coverage(torch.from_numpy(y), torch.from_numpy(x), k=5)
    assert got == pytest.approx((expected_density, expected_coverage), rel=1e-6)


def test_inception_score_bounds():
    confident_uniform = torch.eye(10).repeat(100, 1)  # every class equally often, each certain
    assert M.inception_score(confident_uniform, splits=10)[0] == pytest.approx(10.0, rel=1e-6)
    one_class = torch.zeros(1000, 10)
    one_class[:, 3] = 1
    assert M.inception_score(one_class, splits=10)[0] == pytest.approx(1.0, rel=1e-6)


def test_stacked_mnist_mode_counts():
    all_modes = torch.tensor([[i // 100, i // 10 % 10, i % 10] for i in range(1000)]).repeat(26, 1)
    modes, kl = M.stacked_mnist_modes(all_modes)
    assert modes == 1000 and kl == pytest.approx(0.0, abs=1e-12)
    one_digit = torch.full((26000, 3), 7)
    modes, kl = M.stacked_mnist_modes(one_digit)
    assert modes == 1 and kl == pytest.approx(math.log(1000))
    half = all_modes[all_modes[:, 0] < 5]  # 500 modes, uniform among them: KL = log 2
    assert M.stacked_mnist_modes(half) == (500, pytest.approx(math.log(2)))


@pytest.mark.parametrize("centers, std, modes", [(ring_centers(8), 0.01, 8), (grid_centers(5), 0.05, 25)])
def test_modes_2d_on_the_true_mixture_and_on_a_collapsed_one(centers, std, modes):
    assert len(torch.unique(centers, dim=0)) == modes  # 8 distinct angles, not linspace's 7
    g = torch.Generator().manual_seed(0)
    which = torch.randint(0, modes, (100_000,), generator=g)
    points = centers[which] + std * torch.randn(100_000, 2, generator=g, dtype=torch.float64)
    captured, hq, kl = M.modes_2d(points[:2500], centers, std)
    assert captured == modes and hq == pytest.approx(0.989, abs=0.006) and kl < 0.02
    # Over many points the HQ fraction is P(chi²₂ < 9) = 1 - e^-4.5.
    assert M.modes_2d(points, centers, std)[1] == pytest.approx(1 - math.exp(-4.5), abs=0.002)
    collapsed = centers[:1] + std * torch.randn(2500, 2, generator=g, dtype=torch.float64)
    captured, hq, kl = M.modes_2d(collapsed, centers, std)
    assert captured == 1 and kl == pytest.approx(math.log(modes))
