"""The contract a plugin author reads: one place, used by the built-ins themselves, and true in the docs."""
import ast
import re
import types
from pathlib import Path

import pytest
import torch
from torch import nn

import ganzoo
from ganzoo import KINDS, StepContext, testing
from ganzoo.plugins import BUILTIN_PLUGINS, load_plugins

REPO = Path(__file__).resolve().parents[2]


def test_built_in_plugins_import_only_top_level_ganzoo():
    # A built-in plugin is written as a third-party one would be: `from ganzoo import ...` only.
    offenders = []
    for path in sorted((REPO / "plugins").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ganzoo."):
                offenders.append(f"{path.name}:{node.lineno} from {node.module}")
            if isinstance(node, ast.Import):
                offenders += [f"{path.name}:{node.lineno} import {a.name}" for a in node.names
                              if a.name.startswith("ganzoo.")]
    assert offenders == []
    assert {p.stem for p in (REPO / "plugins").glob("*.py")} - {"__init__"} == set(BUILTIN_PLUGINS)


def test_every_exported_name_resolves_and_every_kind_has_a_base_class():
    for name in ganzoo.__all__:
        assert getattr(ganzoo, name) is not None, name
    assert list(KINDS) == ["dataset", "generator", "discriminator", "encoder", "objective", "regularizer", "augmentation",
                           "optimizer", "metric", "features", "logger"]
    plugins = load_plugins(autoload=False)
    for kind in KINDS:
        entries = plugins.registry.list(kind)
        assert entries, f"no built-in {kind}"  # the built-ins use every kind they document


def test_list_prints_the_kinds():
    code, out, _ = testing.run_cli("list", "--plugin", "augment")
    assert code == 0
    assert out.splitlines()[1].split()[:3] == ["augmentation", "flip", "augment"]
    assert out.rstrip().splitlines()[-1] == "kinds: " + ", ".join(KINDS)
    code, _, err = testing.run_cli("list", "--package", "nope")
    assert code == 2 and err.count("\n") == 1 and "no plugin from package 'nope'" in err


def _doc_examples():
    text = (REPO / "docs" / "writing-a-plugin.md").read_text()
    return [block for block in re.findall(r"```python\n(.*?)```", text, re.S) if "ganzoo_add_components" in block]


@pytest.mark.parametrize("index", range(3))
def test_the_worked_examples_of_the_docs_load_and_build(index):
    source = _doc_examples()[index]
    module = types.ModuleType(f"doc_example_{index}")
    exec(compile(source, module.__name__, "exec"), module.__dict__)
    plugins = load_plugins(extra=(module,), autoload=False)
    (entry,) = [e for e in plugins.registry.list() if e.plugin == module.__name__]
    component = entry.component
    ctx = ganzoo.BuildContext(device=torch.device("cpu"), recipe=None,
                              data=ganzoo.DataInfo((1, 32, 32), None, 100))
    if component.kind == "generator":
        G = component.build(component.options(), ctx)
        assert G(torch.randn(2, G.latent_dim)).shape == (2, 1, 32, 32)
    elif component.kind == "augmentation":
        aug = component.build(component.options(), ctx)
        x = torch.randn(4, 1, 32, 32, requires_grad=True)
        aug(x).sum().backward()
        assert x.grad is not None and aug(x).shape == x.shape
    else:
        objective = component.build(component.options(), _gan_ctx())
        real, fake = torch.tensor([[1.0], [2.0]]), torch.tensor([[0.0], [-1.0]])
        assert torch.isfinite(objective.d_loss(real, fake)[0])
        assert torch.isfinite(objective.g_loss(fake, real)[0])


def _gan_ctx():
    recipe = types.SimpleNamespace(train=types.SimpleNamespace(batch_size=2))
    return ganzoo.BuildContext(device=torch.device("cpu"), recipe=recipe, data=ganzoo.DataInfo((1, 2, 2), None, 10))


class Recorder(ganzoo.Augmentation):
    """Counts the D inputs it sees and tags them, so a test can tell that every D input went through it."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, images):
        self.seen.append(images.shape[0])
        return images * 2


class SumCritic(nn.Module):
    def forward(self, x):
        return x.flatten(1).sum(1, keepdim=True)


def test_the_augmentation_sees_every_d_input_real_and_fake_and_g_gets_its_gradient():
    from ganzoo_plugins.vanilla import BCEObjective, BCEOptions

    objective = BCEObjective(BCEOptions(), _gan_ctx())
    objective.augment = Recorder()
    G = nn.Linear(3, 4)
    G.latent_dim = 3
    nets = {"G": nn.Sequential(G, nn.Unflatten(1, (1, 2, 2))), "D": SumCritic()}
    nets["G"].latent_dim = 3
    step = StepContext(0, 0.0, batch={"image": torch.randn(2, 1, 2, 2)})
    objective.loss(objective.phases[0], nets, step)
    assert objective.augment.seen == [2, 2]  # D phase: the real batch, then the fakes
    loss, _ = objective.loss(objective.phases[1], nets, step)
    assert objective.augment.seen == [2, 2, 2]  # G phase: the fakes again
    loss.backward()
    assert G.weight.grad is not None and G.weight.grad.abs().sum() > 0


def test_flip_is_identity_at_p0_mirrors_at_p1_and_keeps_p_in_its_state():
    from ganzoo_plugins.augment import FlipOptions, RandomFlip

    ctx = ganzoo.BuildContext(device=torch.device("cpu"), recipe=None, data=ganzoo.DataInfo((1, 2, 3), None, 10))
    x = torch.arange(12.0).view(2, 1, 2, 3)
    assert torch.equal(RandomFlip(FlipOptions(p=0.0), ctx)(x), x)
    assert torch.equal(RandomFlip(FlipOptions(p=1.0), ctx)(x), x.flip(-1))
    assert RandomFlip(FlipOptions(p=0.3), ctx).state_dict()["p"].item() == pytest.approx(0.3)
    with pytest.raises(ganzoo.GanzooError, match="augmentation flip: needs images"):
        RandomFlip(FlipOptions(), ganzoo.BuildContext(torch.device("cpu"), None, ganzoo.DataInfo((2,), None, 10)))


def test_the_loop_reads_top_to_bottom():
    # Short, shallow functions, in sections numbered as the module docstring numbers them.
    source = (REPO / "ganzoo" / "loop.py").read_text()
    nesting = (ast.If, ast.For, ast.While, ast.With, ast.Try)

    def depth(node, d=0):
        children = [c for c in ast.iter_child_nodes(node) if not isinstance(c, (ast.FunctionDef, ast.ClassDef))]
        return max([depth(c, d + isinstance(c, nesting)) for c in children], default=d)

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef):
            assert node.end_lineno - node.lineno < 60, node.name
            assert depth(node) <= 4, node.name
    sections = re.findall(r"^# --- (\d)\. ", source, re.M)
    assert sections == ["1", "2", "3", "4", "5", "6"]
    assert re.findall(r"^    (\d)\. ", ast.get_docstring(ast.parse(source)), re.M) == sections
