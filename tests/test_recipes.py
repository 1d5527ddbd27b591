"""Every recipe in recipes/ trains a few steps on real data (new recipes are covered automatically)."""
import json
import math

import pytest

from conftest import RECIPES, quick

ALL_RECIPES = sorted(RECIPES.glob("*.yaml"))


@pytest.mark.parametrize("recipe", ALL_RECIPES, ids=[p.stem for p in ALL_RECIPES])
def test_recipe_trains_a_few_steps(cli, tmp_path, recipe):
    run = tmp_path / "run"
    # Evaluation is left to tests/test_eval.py: here, training and the sample grid.
    code, _, err = cli("run", recipe, "--out", run, *quick(3, **{"train.log_every": 1}), "--set", "eval={}")
    assert code == 0, err
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    losses = {k: v for r in records for k, v in r.items() if k.startswith("loss/")}
    assert losses and all(math.isfinite(v) for v in losses.values()), losses
    assert (run / "samples" / "step-00000003.png").stat().st_size > 0
    assert (run / "checkpoints" / "step-00000003.pt").is_file()
