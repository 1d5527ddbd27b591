"""`ganzoo new-plugin NAME`: a ready-to-install plugin package.

    NAME/
      pyproject.toml              the entry point in group "ganzoo.plugins"
      ganzoo_NAME/__init__.py     a generator, a discriminator and an objective, registered by hooks
      ganzoo_NAME/recipes/NAME_mnist.yaml
      tests/test_NAME.py          trains the recipe for a few steps
      README.md
"""
from __future__ import annotations

import keyword
import re
from pathlib import Path

from .errors import GanzooError

PYPROJECT = '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "ganzoo-{dist}"
version = "0.1.0"
description = "A ganzoo plugin: {name}"
requires-python = ">=3.10"
dependencies = ["ganzoo"]

[project.optional-dependencies]
dev = ["pytest"]

# This line is what makes ganzoo find the plugin once the package is installed.
[project.entry-points."ganzoo.plugins"]
{name} = "{package}"

[tool.setuptools]
packages = ["{package}"]

[tool.setuptools.package-data]
{package} = ["recipes/*.yaml"]
'''

MODULE = '''"""{name}: a ganzoo plugin. Everything it adds is registered by the hooks at the bottom.

Edit the networks and the loss below, or add more components: see ganzoo/hookspecs.py for
every hook and `ganzoo list -v` for what is already there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch.nn.functional as F
from torch import nn

from ganzoo import Component, GANObjective, GANOptions, hookimpl, option


@dataclass(frozen=True)
class GeneratorOptions:
    latent_dim: int = option(64, "size of z", min=1)
    width: int = option(128, "hidden units", min=1)


class {Class}Generator(nn.Module):
    """z -> image. Must expose `latent_dim` and return images in [-1, 1], shape (N, C, H, W)."""

    def __init__(self, o: GeneratorOptions, image_shape):
        super().__init__()
        self.latent_dim, self.image_shape = o.latent_dim, tuple(image_shape)
        self.net = nn.Sequential(nn.Linear(o.latent_dim, o.width), nn.LeakyReLU(0.2),
                                 nn.Linear(o.width, o.width), nn.LeakyReLU(0.2),
                                 nn.Linear(o.width, math.prod(image_shape)), nn.Tanh())

    def forward(self, z):
        return self.net(z).view(-1, *self.image_shape)


@dataclass(frozen=True)
class DiscriminatorOptions:
    width: int = option(128, "hidden units", min=1)


class {Class}Discriminator(nn.Module):
    """image -> raw score (N, 1); no sigmoid, the objective applies its own."""

    def __init__(self, o: DiscriminatorOptions, image_shape):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(image_shape), o.width), nn.LeakyReLU(0.2),
                                 nn.Linear(o.width, o.width), nn.LeakyReLU(0.2), nn.Linear(o.width, 1))

    def forward(self, x):
        return self.net(x)


@dataclass(frozen=True)
class ObjectiveOptions(GANOptions):
    margin: float = option(0.0, "added to D's logit on fakes before the loss (0: the plain logistic loss)")


class {Class}Objective(GANObjective):
    """The logistic (non-saturating) GAN loss written out; replace it with your own maths.
    GANObjective runs the D phase then the G phase; these two methods are all it needs."""

    def __init__(self, o: ObjectiveOptions, ctx):
        super().__init__(o, ctx)
        self.margin = o.margin

    def d_loss(self, real_out, fake_out):
        real, fake = F.softplus(-real_out).mean(), F.softplus(fake_out + self.margin).mean()
        return real + fake, {{"D": real + fake, "D/real": real, "D/fake": fake}}

    def g_loss(self, fake_out):
        loss = F.softplus(-fake_out).mean()
        return loss, {{"G": loss}}


@hookimpl
def ganzoo_add_components():
    return [
        Component("generator", "{name}_mlp", lambda o, ctx: {Class}Generator(o, ctx.data.image_shape),
                  GeneratorOptions, "{name}: MLP generator"),
        Component("discriminator", "{name}_mlp", lambda o, ctx: {Class}Discriminator(o, ctx.data.image_shape),
                  DiscriminatorOptions, "{name}: MLP discriminator"),
        Component("objective", "{name}_logistic", {Class}Objective, ObjectiveOptions,
                  "{name}: logistic GAN loss with a margin"),
    ]


@hookimpl
def ganzoo_add_recipe_dirs():
    return [Path(__file__).parent / "recipes"]
'''

RECIPE = '''# {name}: the plugin's generator, discriminator and objective on MNIST.
seed: 0
device: auto
data: {{name: mnist, download: true}}
networks:
  G: {{name: {name}_mlp, latent_dim: 64, width: 128}}
  D: {{name: {name}_mlp, width: 128}}
objective: {{name: {name}_logistic, margin: 0.0}}
optimizers:
  G: {{name: adam, lr: 2.0e-4, betas: [0.5, 0.999]}}
  D: {{name: adam, lr: 2.0e-4, betas: [0.5, 0.999]}}
train:
  batch_size: 64
  steps: 5000
  log_every: 100
  sample_every: 1000
  checkpoint_every: 1000
'''

TEST = '''"""The plugin's components load, and its recipe trains a few steps (skipped without MNIST files)."""
from ganzoo import testing


def test_components_are_registered():
    code, out, err = testing.run_cli("list", "--plugin", "{name}")
    assert code == 0, err
    assert "{name}_mlp" in out and "{name}_logistic" in out


def test_recipe_trains(tmp_path):
    testing.require_data()
    run = testing.train("{name}_mnist", steps=5, out=tmp_path / "run")
    assert run.step == 5
    assert (tmp_path / "run" / "samples" / "step-00000005.png").is_file()
'''

README = '''# ganzoo-{dist}

A [ganzoo](https://pypi.org/project/ganzoo/) plugin.

```bash
pip install -e .                       # registers the plugin through its entry point
ganzoo list --pattern "{name}*"         # its components
ganzoo run {name}_mnist                 # its recipe
python -m pytest                        # its test (GANZOO_DATA must point at the data)
```
'''


def new_plugin(name: str, parent: Path) -> Path:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or keyword.iskeyword(name):
        raise GanzooError(f"new-plugin: {name!r} is not a valid name; use lower-case letters, digits and _, "
                          "starting with a letter (e.g. my_gan)")
    root = Path(parent) / name
    if root.exists():
        raise GanzooError(f"new-plugin: {root} already exists; choose another name or folder")
    package = f"ganzoo_{name}"
    fields = {"name": name, "package": package, "dist": name.replace("_", "-"),
              "Class": "".join(p.title() for p in name.split("_"))}
    files = {
        root / "pyproject.toml": PYPROJECT,
        root / package / "__init__.py": MODULE,
        root / package / "recipes" / f"{name}_mnist.yaml": RECIPE,
        root / "tests" / f"test_{name}.py": TEST,
        root / "README.md": README,
    }
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**fields))
    return root
