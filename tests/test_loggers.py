"""The optional loggers end to end, against the versions their extras install (skipped where absent)."""
from __future__ import annotations

import importlib.util

import pytest

from conftest import RECIPES, quick


def _run(cli, out, loggers: str, *extra):
    return cli("run", RECIPES / "dcgan_mnist.yaml", "--out", out, *quick(4), "--set", "train.log_every=2",
               "--set", "train.batch_size=16", "--set", "eval={}", "--set", f"loggers={loggers}", *extra)


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason='needs pip install "ganzoo[mlflow]"')
def test_mlflow_records_params_metrics_and_samples_in_the_run_directory(cli, tmp_path, monkeypatch):
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run = tmp_path / "run"
    code, _, err = _run(cli, run, "[{name: mlflow}]")
    assert code == 0, err
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{run / 'mlflow.db'}")
    (record,) = client.search_runs([client.get_experiment_by_name("ganzoo").experiment_id])
    assert [m.step for m in client.get_metric_history(record.info.run_id, "loss.D")] == [2, 4]
    assert record.data.params["train.batch_size"] == "16"
    assert [a.path for a in client.list_artifacts(record.info.run_id)] == ["samples"]
    assert (run / "mlartifacts").is_dir()


@pytest.mark.skipif(importlib.util.find_spec("wandb") is None, reason='needs pip install "ganzoo[wandb]"')
def test_wandb_offline_writes_its_run_in_the_run_directory(cli, tmp_path):
    run = tmp_path / "run"
    code, _, err = _run(cli, run, "[{name: wandb}]")
    assert code == 0, err
    assert list((run / "wandb").glob("offline-run-*/run-*.wandb"))


def test_a_failing_logger_stops_or_warns_as_the_recipe_says(cli, tmp_path, monkeypatch):
    from ganzoo_plugins.loggers import TensorBoard

    def broken(self, step, scalars):
        raise OSError("the event file went away")

    monkeypatch.setattr(TensorBoard, "scalars", broken)
    code, _, err = _run(cli, tmp_path / "stop", "[{name: tensorboard}]")
    assert code == 2 and "logger tensorboard" in err and "the event file went away" in err
    assert "Traceback" not in err and (tmp_path / "stop" / "checkpoints").is_dir()
    code, _, err = _run(cli, tmp_path / "warn", "[{name: tensorboard, on_error: warn}]")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "loggers[0] (tensorboard) failed in scalars (OSError: the event file went away)" \
        in warnings[0]
