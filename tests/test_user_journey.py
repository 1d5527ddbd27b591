"""A new user's path: report, TensorBoard, the Python API, a scaffolded plugin, the docs."""
import doctest
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import RECIPES, quick, run_subprocess


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, data_root):
    from ganzoo.cli import main

    run = tmp_path_factory.mktemp("journey") / "run"
    assert main(["run", str(RECIPES / "vanilla_mnist.yaml"), "--out", str(run),
                 *quick(30, **{"train.sample_every": 10, "train.log_every": 10})]) == 0
    return run


def test_tensorboard_event_file_has_scalars_images_and_the_recipe(trained_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(trained_run / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    tags = events.Tags()
    assert {"loss/D", "loss/G", "images_per_s"} <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("loss/D")] == [10, 20, 30]
    assert "samples" in tags["images"] and [e.step for e in events.Images("samples")] == [10, 20, 30]
    assert any(t.startswith("recipe") for t in tags["tensors"])


def test_report_is_self_contained(trained_run):
    html = (trained_run / "report.html").read_text()
    assert "losses: D" in html or "losses of phase D" in html
    assert html.count('src="data:image/svg+xml;base64,') >= 2  # loss curves of D and G
    assert html.count('src="data:image/png;base64,') >= 1  # the sample grid
    assert "name: mlp" in html and "torch" in html
    # nothing fetched from anywhere: no http(s) URL in any src/href, no script
    assert not re.search(r'(src|href)="(https?:)?//', html) and "<script" not in html


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (.ci/run installs Debian's package)")
def test_report_opens_in_headless_chromium_without_errors(trained_run, tmp_path):
    shot = tmp_path / "report.png"
    result = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                             "--no-first-run", "--disable-background-networking", "--disable-component-update",
                             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
                             "--v=0", f"--screenshot={shot}", "--window-size=1200,2400",
                             (trained_run / "report.html").as_uri()], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.is_file() and shot.stat().st_size > 10_000
    console = "\n".join(line for line in result.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line)
    assert "Uncaught" not in console and "Refused to load" not in result.stderr


def test_python_api_docstring_examples(tmp_path, data_root):
    import ganzoo.api

    failures, tried = doctest.testmod(ganzoo.api, extraglobs={"tmp": tmp_path}, optionflags=doctest.ELLIPSIS)
    assert tried >= 8 and failures == 0


def test_scaffolded_plugin_installs_lists_and_trains(tmp_path, data_root):
    assert run_subprocess("new-plugin", "my_gan", "--dir", tmp_path).returncode == 0
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                              "--target", str(site), str(tmp_path / "my_gan")], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-2000:]
    env = {"PYTHONPATH": str(site), "GANZOO_DATA": str(data_root)}
    listed = run_subprocess("list", "--pattern", "my_gan*", env=env)
    assert listed.returncode == 0
    rows = [line.split()[:4] for line in listed.stdout.split("\n\n")[0].splitlines()[1:]]
    assert ["generator", "my_gan_mlp", "my_gan", "ganzoo-my-gan"] in rows
    assert {r[0] for r in rows} == {"generator", "discriminator", "objective"}
    run = tmp_path / "run"
    trained = run_subprocess("run", "my_gan_mnist", *quick(5), "--out", run, env=env)  # found by name
    assert trained.returncode == 0, trained.stderr
    assert (run / "samples" / "step-00000005.png").is_file()
    own_test = subprocess.run([sys.executable, "-m", "pytest", "-q", str(tmp_path / "my_gan" / "tests")],
                              capture_output=True, text=True, env={**os.environ, **env}, cwd=tmp_path)
    assert own_test.returncode == 0, own_test.stdout[-2000:]


def test_recipe_reference_is_up_to_date(cli):
    from conftest import REPO

    code, out, err = cli("docs", "--check", REPO / "docs" / "recipes.md")
    assert code == 0, err  # stale: regenerate with `ganzoo docs --output docs/recipes.md`


def test_missing_logger_extra_names_it(cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed: wandb is deliberately not a dependency
    code, _, err = cli("run", RECIPES / "vanilla_mnist.yaml", "--out", tmp_path / "r", *quick(2),
                       "--set", "loggers=[{name: wandb}]")
    assert code == 2 and "install it with: pip install \"ganzoo[wandb]\"" in err
