"""Objectives, regularisers and training tricks against hand-computed values on tiny examples."""
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from ganzoo import DataInfo, GANOptions, GanzooError, StepContext
from ganzoo.ema import EMA
from ganzoo.loop import add_spectral_norm, make_scheduler
from ganzoo.recipe import OptimizerSettings
from ganzoo_plugins.losses import R1, R2, LSGAN, Hinge, LSGANOptions, ZeroCentredOptions
from ganzoo_plugins.vanilla import BCEObjective, BCEOptions
from ganzoo_plugins.wgan import (ClipOptions, GradientPenalty, GradientPenaltyOptions, Wasserstein,
                                 WassersteinOptions, WeightClip)



def ctx(batch_size=4, num_classes=None, shape=(1, 2, 2)):
    recipe = SimpleNamespace(train=SimpleNamespace(batch_size=batch_size))
    return SimpleNamespace(recipe=recipe, data=DataInfo(shape, num_classes, 100), device=torch.device("cpu"))


REAL = torch.tensor([[2.0], [-1.0]])
FAKE = torch.tensor([[0.5], [-3.0]])


def sp(x):  # softplus, by hand
    return math.log1p(math.exp(x))


def test_bce_non_saturating_minimax_and_label_smoothing():
    bce = BCEObjective(BCEOptions(), ctx())
    d, terms = bce.d_loss(REAL, FAKE)
    real = (sp(-2.0) + sp(1.0)) / 2          # -log sigmoid(x) = softplus(-x)
    fake = (sp(0.5) + sp(-3.0)) / 2          # -log(1 - sigmoid(x)) = softplus(x)
    assert d.item() == pytest.approx(real + fake, rel=1e-6)
    assert terms["D/real"].item() == pytest.approx(real, rel=1e-6)
    assert bce.g_loss(FAKE)[0].item() == pytest.approx((sp(-0.5) + sp(3.0)) / 2, rel=1e-6)
    minimax = BCEObjective(BCEOptions(generator_loss="minimax"), ctx())
    assert minimax.g_loss(FAKE)[0].item() == pytest.approx(-fake, rel=1e-6)  # log(1 - D(G(z)))
    smoothed = BCEObjective(BCEOptions(label_smoothing=0.1), ctx())
    # target 0.9: 0.9·softplus(-x) + 0.1·softplus(x)
    expected = (0.9 * sp(-2.0) + 0.1 * sp(2.0) + 0.9 * sp(1.0) + 0.1 * sp(-1.0)) / 2
    assert smoothed.d_loss(REAL, FAKE)[1]["D/real"].item() == pytest.approx(expected, rel=1e-6)


def test_lsgan_hinge_and_wasserstein_on_known_outputs():
    ls = LSGAN(LSGANOptions(), ctx())
    assert ls.d_loss(REAL, FAKE)[0].item() == pytest.approx(0.5 * (1 + 4) / 2 + 0.5 * (0.25 + 9) / 2)
    assert ls.g_loss(FAKE)[0].item() == pytest.approx(0.5 * (0.25 + 16) / 2)
    hinge = Hinge(GANOptions(), ctx())
    # D: mean(relu(1 - [2, -1])) + mean(relu(1 + [0.5, -3])) = (0 + 2)/2 + (1.5 + 0)/2
    assert hinge.d_loss(REAL, FAKE)[0].item() == pytest.approx(1.0 + 0.75)
    assert hinge.g_loss(FAKE)[0].item() == pytest.approx(1.25)
    w = Wasserstein(WassersteinOptions(), ctx())
    d, terms = w.d_loss(REAL, FAKE)
    assert d.item() == pytest.approx(-1.25 - 0.5) and terms["W"].item() == pytest.approx(0.5 + 1.25)
    assert w.g_loss(FAKE)[0].item() == pytest.approx(1.25)


class LinearCritic(nn.Module):
    """D(x) = w·x + b: its gradient is w everywhere."""

    def __init__(self, w):
        super().__init__()
        self.lin = nn.Linear(w.numel(), 1)
        with torch.no_grad():
            self.lin.weight.copy_(w.view(1, -1))
            self.lin.bias.fill_(0.3)

    def forward(self, x):
        return self.lin(x.flatten(1))


def test_gradient_penalty_and_r1_of_a_linear_critic():
    w = torch.tensor([3.0, 0.0, 4.0, 0.0])  # ‖w‖ = 5
    nets = {"D": LinearCritic(w)}
    objective = Wasserstein(WassersteinOptions(), ctx())
    step = StepContext(0, 0.0, real=torch.randn(4, 1, 2, 2), fake=torch.randn(4, 1, 2, 2))
    gp, terms = GradientPenalty(GradientPenaltyOptions(weight=10.0), ctx()).penalty(objective, nets, step)
    assert gp.item() == pytest.approx(10.0 * (5 - 1) ** 2)
    assert gp.requires_grad  # it trains D (through the double backward)
    r1, terms = R1(ZeroCentredOptions(gamma=2.0, every=4), ctx()).penalty(objective, nets, step)
    assert r1.item() == pytest.approx(2.0 / 2 * 25 * 4) and "D/r1" in terms  # γ/2·‖w‖², scaled by `every`
    r2, terms = R2(ZeroCentredOptions(gamma=2.0), ctx()).penalty(objective, nets, step)
    assert r2.item() == pytest.approx(2.0 / 2 * 25) and "D/r2" in terms


class TanhCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 1).double()

    def forward(self, x):
        return torch.tanh(self.lin(x.flatten(1))).pow(2)


@pytest.mark.parametrize("penalty", [R1, R2])
def test_zero_centred_penalties_double_backward_matches_gradcheck(penalty):
    # The penalty's gradient w.r.t. D's weights goes through a double backward; gradcheck
    # compares it with finite differences on a tiny nonlinear critic.
    torch.manual_seed(0)
    D = TanhCritic()
    objective = Wasserstein(WassersteinOptions(), ctx())
    images = torch.randn(3, 1, 2, 2, dtype=torch.float64)
    step = StepContext(0, 0.0, real=images, fake=images.flip(0))
    reg = penalty(ZeroCentredOptions(gamma=3.0), ctx())

    def value(weight, bias):
        D.lin.weight, D.lin.bias = weight, bias  # plain tensors in place of the parameters
        return reg.penalty(objective, {"D": D}, step)[0]

    w, b = D.lin.weight.detach().clone(), D.lin.bias.detach().clone()
    del D.lin.weight, D.lin.bias
    assert torch.autograd.gradcheck(value, (w.requires_grad_(), b.requires_grad_()))


def test_gradient_penalty_norms_are_taken_per_pack():
    # PacGAN with pack 2: D sees 2 stacked samples, so one gradient norm per pack of two.
    w = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])  # ‖w‖ = √2 over the stacked input
    objective = Wasserstein(WassersteinOptions(pack=2), ctx(batch_size=4))
    step = StepContext(0, 0.0, real=torch.randn(4, 1, 2, 2), fake=torch.randn(4, 1, 2, 2))
    gp, _ = GradientPenalty(GradientPenaltyOptions(weight=1.0), ctx()).penalty(
        objective, {"D": LinearCritic(w)}, step)
    assert gp.item() == pytest.approx((math.sqrt(2) - 1) ** 2, rel=1e-5)


def test_top_k_generator_update_uses_only_the_fakes_d_scores_most_real():
    # Sinha et al. 2020: k = batch·max(ν, γ^epoch); the other fakes get no gradient at all.
    hinge = Hinge(GANOptions(top_k=0.5, top_k_decay=0.5), ctx(batch_size=4))
    nets = {"G": nn.Linear(2, 4), "D": LinearCritic(torch.tensor([1.0, 0.0, 0.0, 0.0]))}
    nets["G"].latent_dim = 2
    pixels = torch.tensor([0.5, -3.0, 2.0, 1.0])  # D's scores are these + 0.3
    for epoch, kept in [(0.7, [0, 1, 2, 3]), (1.2, [2, 3])]:  # k = 4·max(0.5, 0.5^⌊epoch⌋)
        fake = torch.zeros(4, 1, 2, 2)
        fake[:, 0, 0, 0] = pixels
        fake.requires_grad_(True)
        hinge._for_g = (torch.zeros(4, 2), None, fake)  # what the D phase hands over: z, labels, fakes
        loss, _ = hinge.loss(hinge.phases[1], nets, StepContext(0, epoch))
        assert loss.item() == pytest.approx(-(pixels[kept] + 0.3).mean().item())
        loss.backward()
        assert torch.nonzero(fake.grad[:, 0, 0, 0]).flatten().tolist() == kept


def test_weight_clipping_keeps_every_parameter_inside_c_after_a_step():
    D = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    opt = torch.optim.RMSprop(D.parameters(), lr=1.0)  # a huge step pushes weights far out
    D(torch.randn(16, 4)).mean().backward()
    opt.step()
    assert max(p.abs().max().item() for p in D.parameters()) > 0.01
    WeightClip(ClipOptions(clip=0.01), ctx()).after_step({"D": D})
    assert all(p.abs().max().item() <= 0.01 for p in D.parameters())


def test_spectral_norm_makes_each_largest_singular_value_one():
    D = nn.Sequential(nn.Conv2d(1, 8, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(8 * 14 * 14, 1))
    add_spectral_norm(D)
    for _ in range(20):  # one power iteration per training-mode forward
        D(torch.randn(2, 1, 28, 28))
    for layer in (D[0], D[3]):
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2).item()
        assert sigma == pytest.approx(1.0, abs=1e-3)


def test_ema_equals_the_closed_form_running_average():
    net = nn.Linear(3, 2)
    decay, weights = 0.9, [net.weight.detach().clone()]
    ema = EMA(net, decay)
    for _ in range(5):
        with torch.no_grad():
            net.weight.add_(torch.randn_like(net.weight))
        weights.append(net.weight.detach().clone())
        ema.update(net)
    k = len(weights) - 1  # e_k = d^k·p_0 + (1 - d)·Σ_{i=1..k} d^(k-i)·p_i
    expected = decay ** k * weights[0] + sum((1 - decay) * decay ** (k - i) * weights[i] for i in range(1, k + 1))
    assert torch.allclose(ema.module.weight, expected, atol=1e-6)


def test_linear_lr_decay_by_hand():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = make_scheduler(opt, OptimizerSettings(schedule="linear", decay_start=0.6), total=10)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    # constant for steps 0-5, then 0.1·(10 - s)/(10 - 6) for s = 6..9
    assert lrs == pytest.approx([0.1] * 6 + [0.1, 0.075, 0.05, 0.025])


def test_relativistic_built_ins_against_hand_computations():
    from ganzoo_plugins.relativistic import RaGAN, RaGANOptions, RpGAN

    real, fake = [2.0, -1.0], [0.5, -3.0]
    mr, mf = sum(real) / 2, sum(fake) / 2
    rp = RpGAN(GANOptions(), ctx(batch_size=2))
    assert rp.d_loss(REAL, FAKE)[0].item() == pytest.approx((sp(-(2 - 0.5)) + sp(-(-1 + 3))) / 2, rel=1e-6)
    assert rp.g_loss(FAKE, REAL)[0].item() == pytest.approx((sp(-(0.5 - 2)) + sp(-(-3 + 1))) / 2, rel=1e-6)
    ra = RaGAN(RaGANOptions(), ctx(batch_size=2))
    d = sum(sp(-(x - mf)) for x in real) / 2 + sum(sp(y - mr) for y in fake) / 2
    g = sum(sp(-(y - mr)) for y in fake) / 2 + sum(sp(x - mf) for x in real) / 2
    assert ra.d_loss(REAL, FAKE)[0].item() == pytest.approx(d, rel=1e-6)
    assert ra.g_loss(FAKE, REAL)[0].item() == pytest.approx(g, rel=1e-6)
    hinge = RaGAN(RaGANOptions(form="hinge"), ctx(batch_size=2))
    relu = lambda v: max(0.0, v)  # noqa: E731
    d = sum(relu(1 - (x - mf)) for x in real) / 2 + sum(relu(1 + (y - mr)) for y in fake) / 2
    g = sum(relu(1 - (y - mr)) for y in fake) / 2 + sum(relu(1 + (x - mf)) for x in real) / 2
    assert hinge.d_loss(REAL, FAKE)[0].item() == pytest.approx(d, rel=1e-6)
    assert hinge.g_loss(FAKE, REAL)[0].item() == pytest.approx(g, rel=1e-6)
    with pytest.raises(GanzooError, match="top_k must be 1"):
        RpGAN(GANOptions(top_k=0.5), ctx(batch_size=2))


def test_a_relativistic_g_phase_scores_the_d_phase_reals_without_gradients():
    from ganzoo_plugins.relativistic import RpGAN

    objective = RpGAN(GANOptions(), ctx(batch_size=2, shape=(4,)))
    G = nn.Linear(3, 4)
    G.latent_dim = 3
    D = nn.Linear(4, 1)
    step = StepContext(0, 0.0, batch={"image": torch.randn(2, 4)})
    objective.loss(objective.phases[0], {"G": G, "D": D}, step)
    fake = objective._for_g[2]  # the D phase's fakes, reused by the first G update
    D.requires_grad_(False)  # as the loop freezes D in the G phase
    loss, _ = objective.loss(objective.phases[1], {"G": G, "D": D}, step)
    with torch.no_grad():
        expected = torch.nn.functional.softplus(-(D(fake) - D(step.real))).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    loss.backward()
    assert G.weight.grad.abs().sum() > 0 and D.weight.grad is None
