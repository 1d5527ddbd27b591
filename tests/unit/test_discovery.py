"""Finding what is installed: recipes with their package, components by plugin, errors that say where."""

from ganzoo import testing

BROKEN_WITH_RECIPES = '''
from pathlib import Path
from ganzoo import Component, hookimpl

@hookimpl
def ganzoo_add_recipe_dirs():
    return [Path(__file__).parent / "broken_recipes"]

@hookimpl
def ganzoo_add_components():
    return [Component("critic", "odd", lambda o, ctx: None)]
'''


def test_recipe_list_names_package_status_and_description(tmp_path, monkeypatch):
    site = testing.make_distribution(tmp_path, "ganzoo_broken", BROKEN_WITH_RECIPES, version="0.2")
    (site / "broken_recipes").mkdir()
    (site / "broken_recipes" / "odd_mnist.yaml").write_text("# needs the broken plugin\ndata: {name: odd}\n")
    monkeypatch.syspath_prepend(str(site))
    code, out, err = testing.run_cli("recipe", "list")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert rows["vanilla_mnist"].split()[1:4] == ["ganzoo", "0.1.0", "ok"]
    assert "seed tutorial" in rows["vanilla_mnist"].lower()
    assert "unavailable: plugin 'ganzoo_broken' failed to load" in rows["odd_mnist"]
    assert "its recipes odd_mnist are unavailable" in err


def test_an_error_in_a_set_override_says_set_not_the_recipe_file():
    code, _, err = testing.run_cli("recipe", "show", "vanilla_mnist", "--set", "train.batch_size=0")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("ganzoo: error: --set train.batch_size=0: train.batch_size: expected an integer >= 1")
    code, _, err = testing.run_cli("run", "vanilla_mnis")
    assert code == 2 and "known recipes:" in err and "built-in" not in err and "did you mean 'vanilla_mnist'" in err
