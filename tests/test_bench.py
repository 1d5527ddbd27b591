"""`ganzoo bench`: two recipes, two seeds, 100 steps: the table, CSV and chart hold what they claim."""
import csv
import json
import signal
import subprocess
import sys
import time

from PIL import Image

from conftest import RECIPES
from ganzoo_plugins.classifiers import SHIPPED


def test_bench_two_recipes_two_seeds(cli, tmp_path):
    out = tmp_path / "out"
    code, stdout, err = cli("bench", RECIPES / "vanilla_mnist.yaml", RECIPES / "dcgan_mnist.yaml", "--steps", "40",
                            "--seeds", "2", "--jobs", "2", "--metrics", "[{name: fid, samples: 500}]", "--eval-every", "20",
                            "--set", "train.batch_size=32", "-o", out)
    assert code == 0, err
    rows = list(csv.DictReader(open(out / "bench.csv")))
    assert [r["recipe"] for r in rows] == ["vanilla_mnist", "dcgan_mnist"]
    for row in rows:
        assert row["seeds"] == "2" and float(row["steps_mean"]) == 40
        assert float(row["images_per_s_mean"]) > 0 and float(row["train_seconds_mean"]) > 0
        assert float(row["peak_host_mb_mean"]) > 100  # torch alone takes more than that
        assert float(row["best_fid_mean"]) <= float(row["final_fid_mean"])
        assert 0 < float(row["floor"]) < float(row["best_fid_mean"])
        assert "mnist_lenet@" + SHIPPED["mnist"][1][:8] in row["fingerprint"]
    # Every seed's run is there, and the table reports their mean.
    finals = [json.loads((out / "runs" / f"vanilla_mnist-seed{s}" / "scores.json").read_text())["final"]["fid"]
              for s in (0, 1)]
    assert abs(float(rows[0]["final_fid_mean"]) - sum(finals) / 2) < 1e-6
    markdown = (out / "bench.md").read_text().splitlines()
    assert markdown[0].startswith("| recipe | seeds | steps | train time (s) | images/s |")
    assert markdown[2].startswith("| vanilla_mnist | 2 | 40 |") and " ± " in markdown[2]
    chart = Image.open(out / "bench.png")
    assert chart.size[0] > 400 and len(chart.convert("RGB").getcolors(maxcolors=1 << 20)) > 50  # a drawn figure, not blank
    assert "fid" in stdout


def test_sigterm_stops_the_bench_and_its_runs(tmp_path, data_root):
    # `timeout` (as benchmarks/gpu_check.sh uses) sends SIGTERM to the bench alone: its runs must stop too.
    out = tmp_path / "out"
    bench = subprocess.Popen([sys.executable, "-m", "ganzoo", "bench", str(RECIPES / "vanilla_mnist.yaml"),
                              "--steps", "1000000", "--seeds", "2", "--jobs", "2", "--eval-every", "1000000",
                              "--metrics", "[{name: fid, samples: 500}]", "-o", str(out)],
                             stderr=subprocess.PIPE, text=True)
    runs = [out / "runs" / f"vanilla_mnist-seed{s}" for s in (0, 1)]
    deadline = time.monotonic() + 120
    while not all((r / "metrics.jsonl").exists() for r in runs):  # both runs are training
        assert bench.poll() is None and time.monotonic() < deadline, "the runs did not start"
        time.sleep(0.5)
    bench.send_signal(signal.SIGTERM)
    _, err = bench.communicate(timeout=120)
    assert bench.returncode == 2 and "stopped by SIGTERM" in err.strip().splitlines()[-1], err
    for run in runs:  # each run took the SIGTERM itself: it stopped after a step, with a checkpoint
        assert "stopped by SIGTERM" in (run.parent / f"{run.name}.log").read_text()
        assert list((run / "checkpoints").glob("step-*.pt"))
