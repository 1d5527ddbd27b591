"""CUDA-only checks (run by benchmarks/gpu_check.sh on a GPU machine; skipped elsewhere)."""
import json

import pytest
import torch

from conftest import RECIPES, quick
from ganzoo import hookimpl

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


class SyncWatch:
    """A test plugin: from the first step on, any host-device synchronisation raises, except in
    the loop's one read per log window."""

    __name__ = "sync_watch"

    @hookimpl
    def ganzoo_train_start(self, run):
        torch.cuda.set_sync_debug_mode("error")


@pytest.mark.parametrize("recipe", ["vanilla_mnist", "dcgan_mnist", "wgan_gp_mnist", "sngan_hinge_mnist"])
def test_no_host_sync_inside_a_log_window(tmp_path, data_root, monkeypatch, recipe):
    from ganzoo.loop import LossWindow, train
    from ganzoo.plugins import load_plugins
    from ganzoo.recipe import load_recipe

    watch = SyncWatch()
    read = LossWindow.read

    def read_allowed(self, world=None):
        torch.cuda.set_sync_debug_mode(0)  # the one sync a window is allowed
        return read(self, world)

    monkeypatch.setattr(LossWindow, "read", read_allowed)
    plugins = load_plugins(extra=(watch,))
    recipe_ = load_recipe(RECIPES / f"{recipe}.yaml", [s for s in quick(50) if s != "--set"] + [
        "device=cuda", "train.log_every=1000", "loggers=[]", "eval={}"], plugins)
    try:
        run = train(recipe_, tmp_path / "run", plugins)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert run.step == 50


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_on_cuda(cli, tmp_path, precision):
    run = tmp_path / "run"
    code, _, err = cli("run", RECIPES / "dcgan_mnist.yaml", "--out", run, *quick(30, **{"train.log_every": 10}),
                       "--set", "device=cuda", "--set", f"train.precision={precision}", "--set", "eval={}")
    assert code == 0, err
    for line in (run / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        assert all(v is not None for k, v in record.items() if k.startswith("loss/"))
