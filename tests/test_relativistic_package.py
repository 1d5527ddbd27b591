"""A third-party package written from the docs alone: RaGAN and RpGAN, each in under 40 lines of
top-level ganzoo names, installed through an entry point, trained, and checked by hand."""
import ast
import importlib
import json
import math
import sys

import pytest
import torch

from conftest import RECIPES, quick
from ganzoo import testing

RAGAN = '''
import torch.nn.functional as F

from ganzoo import Component, GANObjective, GANOptions, hookimpl


class RaGAN(GANObjective):
    """Relativistic average GAN (Jolicoeur-Martineau 2018), BCE form."""

    g_loss_uses_real = True

    def d_loss(self, real_out, fake_out):
        loss = F.softplus(-(real_out - fake_out.mean())).mean() + F.softplus(fake_out - real_out.mean()).mean()
        return loss, {"D": loss}

    def g_loss(self, fake_out, real_out):
        loss = F.softplus(-(fake_out - real_out.mean())).mean() + F.softplus(real_out - fake_out.mean()).mean()
        return loss, {"G": loss}


@hookimpl
def ganzoo_add_components():
    return [Component("objective", "my_ragan", RaGAN, GANOptions, "relativistic average GAN")]
'''

RPGAN = '''
import torch.nn.functional as F

from ganzoo import Component, GANObjective, GANOptions, hookimpl


class RpGAN(GANObjective):
    """Relativistic pairing GAN (R3GAN, Huang et al. 2024): each real paired with one fake."""

    g_loss_uses_real = True

    def d_loss(self, real_out, fake_out):
        loss = F.softplus(-(real_out - fake_out)).mean()
        return loss, {"D": loss}

    def g_loss(self, fake_out, real_out):
        loss = F.softplus(-(fake_out - real_out)).mean()
        return loss, {"G": loss}


@hookimpl
def ganzoo_add_components():
    return [Component("objective", "my_rpgan", RpGAN, GANOptions, "relativistic pairing GAN (R3GAN)")]
'''

REAL = torch.tensor([[1.5], [-0.5], [0.25]])
FAKE = torch.tensor([[0.5], [-2.0], [1.0]])


def sp(x):
    return math.log1p(math.exp(x))


def by_hand(name):
    r, f = REAL.flatten().tolist(), FAKE.flatten().tolist()
    mr, mf = sum(r) / 3, sum(f) / 3
    if name == "ragan":
        d = sum(sp(-(x - mf)) for x in r) / 3 + sum(sp(y - mr) for y in f) / 3
        g = sum(sp(-(y - mr)) for y in f) / 3 + sum(sp(x - mf) for x in r) / 3
    else:
        d = sum(sp(-(x - y)) for x, y in zip(r, f)) / 3
        g = sum(sp(-(y - x)) for x, y in zip(r, f)) / 3
    return d, g


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    testing.make_distribution(site, "ganzoo_ragan", RAGAN, version="0.1")
    testing.make_distribution(site, "ganzoo_rpgan", RPGAN, version="0.1")
    monkeypatch.syspath_prepend(str(site))
    return site


@pytest.mark.parametrize("name", ["ragan", "rpgan"])
def test_short_and_only_top_level_names(name):
    source = {"ragan": RAGAN, "rpgan": RPGAN}[name]
    assert len(source.strip().splitlines()) <= 40
    modules = {n.module for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom)}
    assert modules <= {"ganzoo", "torch.nn.functional"}


@pytest.mark.parametrize("name", ["ragan", "rpgan"])
def test_losses_equal_a_hand_computation(site, name):
    module = importlib.import_module(f"ganzoo_{name}")
    (component,) = module.ganzoo_add_components()
    objective = component.build(component.options(), _ctx())
    d, g = by_hand(name)
    assert objective.d_loss(REAL, FAKE)[0].item() == pytest.approx(d, rel=1e-6)
    assert objective.g_loss(FAKE, REAL)[0].item() == pytest.approx(g, rel=1e-6)
    sys.modules.pop(f"ganzoo_{name}")


@pytest.mark.parametrize("name", ["ragan", "rpgan"])
def test_installed_through_its_entry_point_it_trains_20_steps(site, tmp_path, data_root, name):
    env = {"PYTHONPATH": str(site), "GANZOO_DATA": str(data_root)}
    listed = testing.run_subprocess("list", "objective", "--package", f"ganzoo_{name}", env=env)
    assert listed.returncode == 0 and f"my_{name}" in listed.stdout, listed.stderr
    run = tmp_path / "run"
    trained = testing.run_subprocess("run", RECIPES / "dcgan_mnist.yaml", "--set", f"objective.name=my_{name}",
                                     "--set", "train.batch_size=16", "--out", run, *quick(20), env=env)
    assert trained.returncode == 0, trained.stderr
    losses = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in losses if "loss/G" in r] == [10, 20]
    assert all(math.isfinite(r["loss/D"]) and math.isfinite(r["loss/G"]) for r in losses if "loss/G" in r)


def _ctx():
    from types import SimpleNamespace

    from ganzoo import BuildContext, DataInfo

    recipe = SimpleNamespace(train=SimpleNamespace(batch_size=3))
    return BuildContext(device=torch.device("cpu"), recipe=recipe, data=DataInfo((1, 2, 2), None, 10))
