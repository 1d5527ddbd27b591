"""Plugins are checked when they load: each malformed one is disabled with one line naming its
package, the rest load, and strict mode makes it fatal; a hook that raises in a run stops it
with one line, after a checkpoint."""
import json
import textwrap

import pytest

from ganzoo import GanzooError, testing
from ganzoo.plugins import load_plugins

HEAD = '''
from dataclasses import dataclass
from pathlib import Path
from torch import nn
from ganzoo import Component, NoOptions, hookimpl
'''

MALFORMED = {
    "bare_path": ('''
        @hookimpl
        def ganzoo_add_recipe_dirs():
            return Path(".")
        ''', "ganzoo_add_recipe_dirs returned a PosixPath, expected a list of pathlib.Path"),
    "single_component": ('''
        @hookimpl
        def ganzoo_add_components():
            return Component("generator", "lonely", lambda o, ctx: nn.Linear(1, 1))
        ''', "ganzoo_add_components returned a Component, expected a list of ganzoo.Component"),
    "misspelled_hook": ('''
        @hookimpl
        def ganzoo_add_component():
            return []
        ''', "unknown hook ganzoo_add_component (did you mean 'ganzoo_add_components'"),
    "unmarked_hook": ('''
        def ganzoo_add_components():
            return []
        ''', "ganzoo_add_components is not marked with @ganzoo.hookimpl"),
    "wrong_arguments": ('''
        @hookimpl
        def ganzoo_log(run, step, values):
            pass
        ''', "ganzoo_log"),
    "plain_options": ('''
        class Options:
            width = 3
        @hookimpl
        def ganzoo_add_components():
            return [Component("generator", "plain", lambda o, ctx: nn.Linear(1, 1), Options)]
        ''', "component 'plain': options 'Options' is not a dataclass"),
    "unknown_kind": ('''
        @hookimpl
        def ganzoo_add_components():
            return [Component("critic", "odd", lambda o, ctx: nn.Linear(1, 1))]
        ''', "component 'odd' has unknown kind 'critic'"),
    "raising_registration": ('''
        @hookimpl
        def ganzoo_add_components():
            raise RuntimeError("no GPU here")
        ''', "ganzoo_add_components raised RuntimeError: no GPU here"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_plugin_is_disabled_with_one_line_and_the_rest_load(tmp_path, name, capsys, monkeypatch):
    source, message = MALFORMED[name]
    testing.make_distribution(tmp_path, f"bad_{name}", HEAD + textwrap.dedent(source), version="0.3")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins = load_plugins()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"plugin 'bad_{name}' from package bad_{name} 0.3 failed to load" in err
    assert message in err
    assert plugins.info(f"bad_{name}").error and plugins.manager.get_plugin(f"bad_{name}") is None
    assert plugins.registry.get("generator", "mlp")  # the built-ins still work
    monkeypatch.setenv("GANZOO_PLUGINS_STRICT", "1")
    with pytest.raises(GanzooError, match=f"bad_{name}.*GANZOO_PLUGINS_STRICT"):
        load_plugins()


def test_through_the_command_line_never_a_traceback(tmp_path):
    testing.make_distribution(tmp_path, "bad_kind", HEAD + textwrap.dedent(MALFORMED["unknown_kind"][0]))
    result = testing.run_subprocess("list", "generator", env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0 and "mlp" in result.stdout
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    strict = testing.run_subprocess("plugins", env={"PYTHONPATH": str(tmp_path), "GANZOO_PLUGINS_STRICT": "1"})
    assert strict.returncode == 2 and strict.stderr.count("\n") == 1 and "bad_kind" in strict.stderr


RAISING_LOGGER = '''
from ganzoo import hookimpl

@hookimpl
def ganzoo_log(run, step, scalars):
    if step >= 20:
        raise ValueError("the dashboard is down")
'''

WRAPPER = '''
from ganzoo import hookimpl
CALLS = []

@hookimpl(wrapper=True)
def ganzoo_checkpoint(run, step, path):
    CALLS.append(("before", step))
    result = yield
    CALLS.append(("after", step))
    return result
'''


def test_a_hook_that_raises_stops_the_run_with_one_line_after_a_checkpoint(tmp_path):
    testing.make_distribution(tmp_path / "site", "flaky_dashboard", RAISING_LOGGER, version="2.0")
    run = tmp_path / "run"
    result = testing.run_subprocess("run", "gan_ring2d", "--out", run, "--set", "train.steps=40",
                                    "--set", "train.log_every=10", "--set", "eval.metrics=[]", "--set", "eval.best=null",
                                    "--set", "loggers=[]", env={"PYTHONPATH": str(tmp_path / "site")})
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ganzoo: error: plugin 'flaky_dashboard' (flaky_dashboard 2.0) failed in ganzoo_log: "
                           "ValueError: the dashboard is down; checkpoint of step 20 written")
    assert "Traceback" not in result.stderr
    assert (run / "checkpoints" / "step-00000020.pt").is_file()
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [10, 20]


def test_hookwrappers_work_because_hooks_go_through_pluggy(tmp_path, monkeypatch):
    import sys
    import types

    wrapper = types.ModuleType("checkpoint_wrapper")
    exec(WRAPPER, wrapper.__dict__)
    monkeypatch.setitem(sys.modules, "checkpoint_wrapper", wrapper)
    plugins = load_plugins(extra=(wrapper,), autoload=False)
    from ganzoo.loop import train
    from ganzoo.recipe import load_recipe

    recipe = load_recipe("gan_ring2d", ["train.steps=5", "eval.metrics=[]", "eval.best=null", "loggers=[]",
                                        "train.log_every=5"], plugins)
    train(recipe, tmp_path / "run", plugins)
    assert wrapper.CALLS == [("before", 5), ("after", 5)]
