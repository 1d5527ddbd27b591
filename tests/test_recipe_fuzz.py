"""Every recipe key, given hostile values: exit 0 or 2 and at most one line on stderr, never a traceback."""
from __future__ import annotations

import json
import random

import pytest
import yaml

from conftest import RECIPES
from ganzoo import GanzooError
from ganzoo.options import flatten
from ganzoo.recipe import load_recipe

#: recipes that between them use every kind of component slot (objective phases, regularisers,
#: augmentation, EMA, two-domain objectives, points, folders)
FUZZED = ["vanilla_mnist", "dcgan_mnist", "wgan_gp_mnist", "r3gan_stacked_mnist", "ada_fashion_limited",
          "cyclegan_mnist_thick", "pacgan2_r1_ring2d", "cdcgan_mnist", "diffaug_mnist_limited"]
HOSTILE = [None, "", [], {}, "x", -1, 0, 10**30, -10**30, 1e308, float("nan"), "a" * 5000, [[[]]],
           {"a": {"b": {"c": 1}}}, [1, "two", None], True, "1e999", {"name": "nothing"}]
#: values no key accepts, so `ganzoo run` stops before training whatever the key
WRONG_TYPE = [{"a": {"b": {"c": 1}}}, [[[]]], [1, "two", None]]


def _cases(seed: int = 0, per_key: int = 1):
    rng = random.Random(seed)
    for name in FUZZED:
        keys = sorted(flatten(yaml.safe_load(load_recipe(RECIPES / f"{name}.yaml").to_yaml())))
        for key in keys:
            for value in rng.sample(HOSTILE, per_key):
                yield name, key, value


def _check(code: int, err: str, what) -> None:
    assert code in (0, 2), (what, code, err)
    assert "Traceback" not in err, (what, err)
    assert len(err.strip().splitlines()) <= 1, (what, err)


def test_recipe_show_on_hostile_values_of_every_key(cli):
    cases = list(_cases())
    assert len(cases) > 300
    for name, key, value in cases:
        code, _, err = cli("recipe", "show", RECIPES / f"{name}.yaml", "--set", f"{key}={json.dumps(value)}")
        _check(code, err, (name, key, value))


def test_run_and_the_python_api_refuse_wrong_types_before_training(cli, tmp_path):
    import ganzoo

    rng = random.Random(1)
    cases = list(_cases(seed=1, per_key=1))
    for i, (name, key, _) in enumerate(rng.sample(cases, 40)):
        value = WRONG_TYPE[i % len(WRONG_TYPE)]
        out = tmp_path / f"run{i}"
        code, _, err = cli("run", RECIPES / f"{name}.yaml", "--out", out, "--set", "train.steps=1",
                           "--set", f"{key}={json.dumps(value)}")
        _check(code, err, (name, key, value))
        assert code == 2 and not (out / "checkpoints").exists(), (name, key, value, err)
        with pytest.raises(GanzooError):
            ganzoo.train(RECIPES / f"{name}.yaml", out=tmp_path / f"api{i}", **{"train.steps": 1, key: value})
