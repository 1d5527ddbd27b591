"""Today's training methods on fixed inputs: LeCam, bCR, ADA, the cosine schedules, the EMA
half-life, the residual networks and training on a subset of the data."""
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from ganzoo import DataInfo, GanzooError, StepContext, cosine
from ganzoo.data import DeviceDataset
from ganzoo.ema import EMA
from ganzoo.recipe import OptimizerSettings
from ganzoo.schedules import make_scheduler
from ganzoo_plugins.ada import ADA, ADAOptions
from ganzoo_plugins.consistency import BalancedConsistency, BCROptions, flip_and_translate
from ganzoo_plugins.lecam import LeCam, LeCamOptions
from ganzoo_plugins.losses import R1, ZeroCentredOptions
from ganzoo_plugins.r3gan import R3GANGeneratorOptions, R3GANOptions
from ganzoo_plugins.r3gan import build_discriminator as r3gan_d
from ganzoo_plugins.r3gan import build_generator as r3gan_g
from ganzoo_plugins.resnet import DiscriminatorOptions, GeneratorOptions
from ganzoo_plugins.resnet import build_discriminator as resnet_d
from ganzoo_plugins.resnet import build_generator as resnet_g


def ctx(shape=(1, 4, 4), batch_size=4, num_classes=None):
    recipe = SimpleNamespace(train=SimpleNamespace(batch_size=batch_size))
    return SimpleNamespace(recipe=recipe, data=DataInfo(shape, num_classes, 100), device=torch.device("cpu"))


class Critic:
    """objective.critic as a GANObjective calls it, on a fixed linear D."""

    def critic(self, D, images, labels=None):
        return D(images)


def test_lecam_against_hand_computation_with_its_moving_anchors():
    lecam = LeCam(LeCamOptions(weight=0.5, decay=0.9, start=1), ctx())
    real, fake = torch.tensor([[2.0], [0.0]]), torch.tensor([[-1.0], [1.0]])
    loss, terms = lecam.penalty(None, None, StepContext(step=0, epoch=0, real_out=real, fake_out=fake))
    a_r, a_f = 0.1 * 1.0, 0.1 * 0.0  # anchors start at 0, then move by (1 - decay) to the batch means 1 and 0
    value = (max(2 - a_f, 0) ** 2 + max(0 - a_f, 0) ** 2) / 2 + (max(a_r + 1, 0) ** 2 + max(a_r - 1, 0) ** 2) / 2
    assert terms["D/lecam"].item() == pytest.approx(value, rel=1e-6)
    assert loss == 0  # before `start` the anchors move but nothing is added
    loss, terms = lecam.penalty(None, None, StepContext(step=1, epoch=0, real_out=real, fake_out=fake))
    assert lecam.anchors.tolist() == pytest.approx([0.9 * 0.1 + 0.1, 0.0])
    assert loss.item() == pytest.approx(0.5 * terms["D/lecam"].item())
    state = lecam.state_dict()
    again = LeCam(LeCamOptions(), ctx())
    again.load_state_dict(state)
    assert torch.equal(again.anchors, lecam.anchors)  # checkpointed with the run


def test_bcr_against_hand_computation_and_zero_for_an_invariant_critic():
    reg = BalancedConsistency(BCROptions(real=10.0, fake=2.0), ctx())
    torch.manual_seed(0)
    real, fake = torch.randn(8, 1, 4, 4), torch.randn(8, 1, 4, 4)
    mean = lambda x: x.mean(dim=(1, 2, 3)).unsqueeze(1)  # noqa: E731
    step = StepContext(step=0, epoch=0, real=real, fake=fake, real_out=mean(real), fake_out=mean(fake))
    torch.manual_seed(1)
    loss, terms = reg.penalty(Critic(), {"D": mean}, step)
    torch.manual_seed(1)  # the same transforms, by hand
    moved_real, moved_fake = flip_and_translate(real), flip_and_translate(fake)
    by_hand_real = (mean(real) - mean(moved_real)).pow(2).mean()
    by_hand_fake = (mean(fake) - mean(moved_fake)).pow(2).mean()
    assert terms["D/bcr_real"].item() == pytest.approx(by_hand_real.item(), rel=1e-5)
    assert loss.item() == pytest.approx(10 * by_hand_real.item() + 2 * by_hand_fake.item(), rel=1e-5)
    constant = torch.ones(8, 1, 4, 4)  # flips and reflected shifts of a constant image change nothing
    step = StepContext(step=0, epoch=0, real=constant, fake=constant, real_out=mean(constant),
                       fake_out=mean(constant))
    assert reg.penalty(Critic(), {"D": mean}, step)[0].item() == 0


def test_bcr_flip_and_translate_moves_pixels_by_at_most_an_eighth():
    torch.manual_seed(0)
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 8, 8] = 1.0
    y = flip_and_translate(x)
    rows, cols = torch.nonzero(y[:, 0] == 1.0)[:, 1:].unbind(1)
    assert (rows - 8).abs().max() <= 2 and ((cols - 8).abs() <= 2).logical_or((cols - 7).abs() <= 2).all()


def ada(p=0.0, groups="blit,geom,color", batch_size=64, **kw):
    return ADA(ADAOptions(p=p, groups=groups, **kw), ctx((1, 16, 16), batch_size=batch_size))


def test_ada_is_the_identity_at_p_zero_and_moves_images_at_p_one():
    x = torch.randn(16, 1, 16, 16)
    assert torch.equal(ada(0.0)(x), x)
    assert (ada(1.0)(x) - x).abs().mean() > 0.1
    blit = ada(1.0, groups="blit")(x)  # whole-pixel moves: every value is one of the image's own
    assert torch.cdist(blit.reshape(-1, 1), x.reshape(-1, 1)).min(1).values.max() == 0


def test_ada_passes_gradient_to_g_and_applies_one_policy_to_real_and_fake():
    augment = ada(0.8)
    fake = torch.randn(8, 1, 16, 16, requires_grad=True)
    augment(fake).square().sum().backward()
    assert fake.grad.abs().sum() > 0
    x = torch.randn(8, 1, 16, 16)
    torch.manual_seed(3)
    a = augment(x)
    torch.manual_seed(3)
    assert torch.equal(augment(x.clone()), a)  # one module, one p: the same draw gives the same transform


def test_ada_p_rises_when_d_is_overconfident_on_reals_and_falls_when_not():
    augment = ada(0.5, batch_size=100, interval=4, speed_kimg=1.0)  # each adjustment moves p by 0.4
    step = lambda i, sign: StepContext(step=i, epoch=0, real_out=torch.full((8, 1), sign))  # noqa: E731
    for i in range(4):
        terms = augment.update(step(i, 1.0))  # r_t = 1 > 0.6: D overfits
    assert augment.p.item() == pytest.approx(0.9) and terms["augment/rt"].item() == 1.0
    for i in range(4, 7):
        augment.update(step(i, -1.0))
    assert augment.p.item() == pytest.approx(0.9)  # only every `interval` steps
    augment.update(step(7, -1.0))
    assert augment.p.item() == pytest.approx(0.5)
    for i in range(8, 16):
        augment.update(step(i, -1.0))
    assert augment.p.item() == 0.0  # clamped to [0, 1]
    restored = ada()
    restored.load_state_dict(augment.state_dict())
    assert torch.equal(restored.p, augment.p) and torch.equal(restored.signs, augment.signs)


def test_ada_groups_are_checked():
    with pytest.raises(GanzooError, match="unknown group 'noise'; allowed: blit, geom, color"):
        ada(groups="blit,noise")


def test_cosine_schedules_of_lr_beta2_and_gamma():
    assert cosine(2.0, 0.5, 0.0) == 2.0 and cosine(2.0, 0.5, 1.0) == 0.5 and cosine(2.0, 0.5, 0.5) == 1.25
    opt = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=2e-4, betas=(0.0, 0.9))
    settings = OptimizerSettings(schedule="cosine", lr_end=5e-5, beta2_end=0.99)
    scheduler = make_scheduler(opt, settings, total=10)
    seen = []
    for _ in range(10):
        seen.append((opt.param_groups[0]["lr"], opt.param_groups[0]["betas"][1]))
        scheduler.step()
    assert seen[0] == pytest.approx((2e-4, 0.9))
    assert seen[5] == pytest.approx((5e-5 + 1.5e-4 * 0.5, 0.9 + 0.09 * 0.5))
    assert opt.param_groups[0]["lr"] == pytest.approx(5e-5) and opt.param_groups[0]["betas"][1] == pytest.approx(0.99)
    resumed = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=2e-4, betas=(0.0, 0.9))
    again = make_scheduler(resumed, settings, total=10)
    again.load_state_dict({"last_epoch": 5})
    assert resumed.param_groups[0]["lr"] == pytest.approx(seen[5][0])
    r1 = R1(ZeroCentredOptions(gamma=1.0, gamma_end=0.1), ctx())
    assert [r1.gamma_at(t) for t in (0.0, 0.5, 1.0)] == pytest.approx([1.0, 0.55, 0.1])


def test_ema_half_life_in_images_with_ramp_up():
    net = nn.Linear(1, 1)
    ema = EMA(net, halflife=1000, rampup=0.05)
    assert ema.decay_at(images_seen=1e6, batch=100) == pytest.approx(0.5 ** 0.1)  # 10 updates halve
    assert ema.decay_at(images_seen=10000, batch=100) == pytest.approx(0.5 ** (100 / 500))  # ramping up
    assert EMA(net, decay=0.999).decay_at(0, 64) == 0.999
    # a fixed decay ramps up the same way: capped early, itself once 0.05 x images seen passes its half-life
    ramped = EMA(net, decay=0.999, rampup=0.05)
    assert ramped.decay_at(images_seen=0, batch=64) == 0.0                       # the first update copies
    assert ramped.decay_at(images_seen=64000, batch=64) == pytest.approx(0.5 ** (64 / 3200))
    assert ramped.decay_at(images_seen=1e7, batch=64) == 0.999


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 28, 28), (1, 32, 32), (3, 32, 32)])
def test_residual_networks_build_at_28_and_32_px(shape):
    context = ctx(shape)
    for G, D in ((resnet_g(GeneratorOptions(width=16), context), resnet_d(DiscriminatorOptions(width=16), context)),
                 (r3gan_g(R3GANGeneratorOptions(width=8, group_channels=4), context),
                  r3gan_d(R3GANOptions(width=8, group_channels=4), context))):
        images = G(torch.randn(2, G.latent_dim))
        assert images.shape == (2, *shape) and D(images).shape == (2, 1)


def test_r3gan_blocks_start_as_the_identity():
    G = r3gan_g(R3GANGeneratorOptions(width=8, group_channels=4), ctx((1, 28, 28)))
    block = G.stages[0][0]
    x = torch.randn(2, block.expand.in_channels, 7, 7)
    assert torch.equal(block(x), x)  # the last conv of every block starts at zero (fix-up)


def test_a_subset_is_fixed_by_its_seed():
    data = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1)
    labels = torch.arange(100) % 10

    def subset(seed):
        ds = DeviceDataset(data, labels, 8, torch.device("cpu"), seed=0)
        ds.subset(20, torch.Generator().manual_seed(seed))
        return ds

    a, b, c = subset(0), subset(0), subset(1)
    assert a.info.size == 20 and torch.equal(a.data, b.data) and not torch.equal(a.data, c.data)
    assert torch.equal(a.labels, a.data.view(-1).long() % 10)  # labels stay with their images
    seen = torch.cat([a.next_batch()["image"] for _ in range(10)]).unique()
    assert len(seen) <= 20  # batches come from the subset only
