"""Third-party plugins through the real entry-point machinery (a dist-info on sys.path)."""

from conftest import RECIPES, quick, run_subprocess
from ganzoo.testing import make_distribution

PLUGIN = '''
from dataclasses import dataclass
import torch
from torch import nn
from ganzoo import Component, hookimpl, option


@dataclass(frozen=True)
class ConvDOptions:
    width: int = option(8, "channels", min=1)


class TinyConvD(nn.Module):
    def __init__(self, width, image_shape):
        super().__init__()
        c, h, w = image_shape
        self.body = nn.Sequential(nn.Conv2d(c, width, 4, 2, 1), nn.LeakyReLU(0.2),
                                  nn.Flatten(), nn.Linear(width * (h // 2) * (w // 2), 1))

    def forward(self, x):
        return self.body(x)


@hookimpl
def ganzoo_add_components():
    return [Component("discriminator", "tiny_conv", lambda o, ctx: TinyConvD(o.width, ctx.data.image_shape),
                      ConvDOptions, "a one-layer conv critic from a test package")]
'''


def test_out_of_tree_plugin_is_listed_and_trains(tmp_path, data_root):
    site = tmp_path / "site"
    site.mkdir()
    make_distribution(site, "ganzoo_tinyconv", PLUGIN)
    make_distribution(site, "ganzoo_broken", "raise ImportError('needs libfoo')\n", version="0.0.1")
    env = {"PYTHONPATH": str(site), "GANZOO_DATA": str(data_root)}

    listed = run_subprocess("list", "discriminator", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split()[:5] for line in listed.stdout.splitlines()]
    assert ["discriminator", "tiny_conv", "ganzoo_tinyconv", "ganzoo_tinyconv", "1.2.3"] in rows
    # The broken package is named, and everything else still loads.
    assert "plugin 'ganzoo_broken' from package ganzoo_broken 0.0.1 failed to load: ImportError: needs libfoo" \
        in listed.stderr
    assert "mlp" in listed.stdout

    plugins = run_subprocess("plugins", env=env)
    assert "ganzoo_broken" in plugins.stdout and "failed: ImportError: needs libfoo" in plugins.stdout

    run = tmp_path / "run"
    trained = run_subprocess("run", RECIPES / "vanilla_mnist.yaml", "--set", "networks.D={name: tiny_conv, width: 4}",
                             "--out", run, *quick(4), env=env)
    assert trained.returncode == 0, trained.stderr
    assert (run / "samples" / "step-00000004.png").is_file()
    import yaml
    assert yaml.safe_load((run / "recipe.yaml").read_text())["networks"]["D"]["width"] == 4

    strict = run_subprocess("list", env={**env, "GANZOO_PLUGINS_STRICT": "1"})
    assert strict.returncode == 2 and "ganzoo_broken" in strict.stderr and strict.stderr.count("\n") == 1

    off = run_subprocess("list", env={**env, "GANZOO_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert off.returncode == 0 and "tiny_conv" not in off.stdout and off.stderr == ""


def test_duplicate_component_names_both_plugins(tmp_path, data_root):
    site = tmp_path / "site"
    site.mkdir()
    make_distribution(site, "ganzoo_dupe", '''
        from ganzoo import Component, hookimpl
        @hookimpl
        def ganzoo_add_components():
            return [Component("generator", "mlp", lambda o, ctx: None)]
        ''')
    result = run_subprocess("list", env={"PYTHONPATH": str(site)})
    assert result.returncode == 2
    assert ("duplicate generator 'mlp': registered by plugin 'vanilla' (ganzoo) and by plugin 'ganzoo_dupe' "
            "(ganzoo_dupe)") in result.stderr
