"""Every speed option leaves the results correct: 20 DCGAN steps with it against plain fp32 eager."""
import json

import pytest

from conftest import RECIPES, quick

# plain fp32 eager, whatever the recipe's defaults; each option is then set on top
SMALL_DCGAN = ["--set", "train.batch_size=16", "--set", "networks.G.width=8", "--set", "networks.D.width=8",
               "--set", "data.classes=[3]", "--set", "train.precision=fp32", "--set", "train.channels_last=false"]


def _losses(cli, out, *sets):
    code, _, err = cli("run", RECIPES / "dcgan_mnist.yaml", "--out", out, *quick(20, **{"train.log_every": 1}),
                       *SMALL_DCGAN, *sets)
    assert code == 0, err
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [(r["loss/D"], r["loss/G"]) for r in records if "loss/D" in r]


@pytest.fixture(scope="module")
def eager(tmp_path_factory, data_root):
    from ganzoo.cli import main

    out = tmp_path_factory.mktemp("eager") / "run"
    assert main(["run", str(RECIPES / "dcgan_mnist.yaml"), "--out", str(out), *quick(20, **{"train.log_every": 1}),
                 *SMALL_DCGAN]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [(r["loss/D"], r["loss/G"]) for r in records if "loss/D" in r]


@pytest.mark.parametrize("option, rel", [
    ("train.compile=true", 1e-3),
    ("train.channels_last=true", 1e-3),
    ("train.precision=bf16", 0.1),   # 8-bit mantissa: close, not equal
    ("train.precision=fp16", 0.02),  # with a GradScaler
])
def test_option_keeps_losses_close_to_eager_fp32(cli, tmp_path, eager, option, rel):
    fast = _losses(cli, tmp_path / "run", "--set", option)
    assert len(fast) == len(eager) == 20
    for step, ((d, g), (d0, g0)) in enumerate(zip(fast, eager)):
        assert d == pytest.approx(d0, rel=rel, abs=rel) and g == pytest.approx(g0, rel=rel, abs=rel), (option, step)
