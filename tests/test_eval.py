"""Evaluation: the shipped classifiers, scores during training, `ganzoo eval`, mode coverage."""
import hashlib
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import RECIPES, quick, require_fashion
from ganzoo.data import MNIST, load_idx_images
from ganzoo import FASHION_MNIST, GanzooError
from ganzoo_plugins import classifiers
from ganzoo_plugins.classifiers import SHIPPED, load_classifier


@pytest.mark.parametrize("dataset, source, accuracy", [("mnist", MNIST, 0.99), ("fashion_mnist", FASHION_MNIST, 0.90)])
def test_shipped_classifiers_match_their_hashes_and_accuracy(data_root, dataset, source, accuracy):
    if dataset == "fashion_mnist":
        require_fashion(data_root)
    path = classifiers.WEIGHTS_DIR / SHIPPED[dataset][0]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHIPPED[dataset][1]
    net, record = classifiers.read_classifier(path)
    test_x, test_y = load_idx_images(source, "test", str(data_root), download=False)
    features = load_classifier(dataset, torch.device("cpu"))
    measured = float((features.predict(test_x.float().div(127.5).sub(1)) == test_y).float().mean())
    assert measured == pytest.approx(record["test_accuracy"], abs=2e-4) and measured >= accuracy
    assert features.fingerprint()["weights_sha256"] == SHIPPED[dataset][1]


def test_a_damaged_or_missing_shipped_file_is_one_line(tmp_path, monkeypatch):
    name = SHIPPED["mnist"][0]
    shutil.copy(classifiers.WEIGHTS_DIR / name, tmp_path / name)
    monkeypatch.setattr(classifiers, "WEIGHTS_DIR", tmp_path)
    with (tmp_path / name).open("ab") as f:
        f.write(b"\0")
    with pytest.raises(GanzooError, match=f"{name}: SHA-256 .* is not the shipped") as error:
        load_classifier("mnist", torch.device("cpu"))
    assert "\n" not in str(error.value)
    (tmp_path / name).unlink()
    with pytest.raises(GanzooError, match=f"{name}: classifier file missing"):
        load_classifier("mnist", torch.device("cpu"))


def test_two_processes_score_the_same_samples_identically(data_root, tmp_path):
    samples = tmp_path / "samples.npz"
    g = torch.Generator().manual_seed(0)
    test, _ = load_idx_images(MNIST, "test", None, download=False)
    noisy = test[:2000, 0].int() + torch.randint(-60, 61, (2000, 28, 28), generator=g, dtype=torch.int32)
    np.savez(samples, noisy.clamp(0, 255).to(torch.uint8).unsqueeze(-1).numpy())
    command = [sys.executable, "-m", "ganzoo", "score", str(samples), "--reference", "mnist", "--split", "test",
               "--features", "mnist_lenet"]
    outputs = [subprocess.run(command, capture_output=True, text=True, timeout=300) for _ in range(2)]
    assert all(o.returncode == 0 for o in outputs), outputs[0].stderr
    first, second = (json.loads(o.stdout) for o in outputs)
    assert first["scores"]["fid"] == second["scores"]["fid"] and first["scores"]["fid"] > 0
    assert first["fingerprints"]["fid"]["weights_sha256"] == SHIPPED["mnist"][1]


def test_scores_during_training_and_ganzoo_eval_agree(cli, tmp_path):
    run = tmp_path / "run"
    metrics = ("[{name: fid, samples: 2000}, {name: kid, samples: 2000, subsets: 20, subset_size: 500}, "
               "{name: inception_score, samples: 2000}, {name: precision_recall, samples: 2000}]")
    code, _, err = cli("run", RECIPES / "vanilla_mnist.yaml", "--out", run, *quick(40),
                       "--set", f"eval.metrics={metrics}", "--set", "eval.every=20", "--set", "eval.best=fid",
                       "--set", "data.limit=6000")
    assert code == 0, err
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "eval/fid" in r]
    assert [r["step"] for r in evals] == [20, 40]
    final = evals[-1]
    for key in ("fid", "fid_floor", "kid", "kid_std", "is", "is_floor", "precision", "recall"):
        assert f"eval/{key}" in final, key
    assert final["eval/fid_floor"] < final["eval/fid"]        # real vs real beats 40 steps of training
    assert final["eval/is_floor"] > 9.0                        # the test set is confidently classified
    fingerprint = final["fingerprints"]["fid"]
    assert fingerprint["weights_sha256"] == SHIPPED["mnist"][1]
    assert fingerprint["samples"] == 2000 and fingerprint["reference"] == "test"
    assert fingerprint["reference_samples"] == 10000 and fingerprint["layer"].startswith("penultimate")
    assert fingerprint["train_examples"] == 6000 and fingerprint["subset_seed"] == 0  # trained on a tenth
    scores = json.loads((run / "scores.json").read_text())
    assert scores["final"]["step"] == 40 and scores["best"]["key"] == "fid"
    assert (run / "checkpoints" / "best.pt").is_file()

    code, out, err = cli("eval", run, "--metrics", "fid,inception_score")
    assert code == 0, err
    result = json.loads(out)
    assert result["step"] == 40
    assert result["scores"]["fid"] == pytest.approx(final["eval/fid"], rel=1e-9)
    assert result["scores"]["is"] == pytest.approx(final["eval/is"], rel=1e-9)

    # options beside a name override the recipe's for that metric; a metric named alone keeps them
    code, out, err = cli("eval", run, "--metrics", "[{name: fid, samples: 1000}, inception_score]")
    assert code == 0, err
    result = json.loads(out)
    assert result["fingerprints"]["fid"]["samples"] == 1000
    assert result["scores"]["is"] == pytest.approx(final["eval/is"], rel=1e-9)
    code, _, err = cli("eval", run, "--metrics", "[{name: fid, samples: 1}]")
    assert code == 2 and err.strip() == "ganzoo: error: --metrics fid.samples: expected an integer >= 2, got 1"


class _StubEval:
    """Just what StackedMNISTModes reads: the classifier and a set of 'generated' images."""

    def __init__(self, classifier, images):
        self.net, self.images, self.seed = classifier, images, 0

    def feature_net(self, name):
        return self.net

    def fake(self, n):
        return self.images[:n]

    def real(self, split, n):
        return self.images[:n]


def test_stacked_mnist_real_data_and_a_one_digit_generator(data_root):
    from ganzoo_plugins.datasets import StackedMNIST
    from ganzoo_plugins.metrics import StackedMNISTModes, StackedOptions

    digits, labels = load_idx_images(MNIST, "test", str(data_root), download=False)
    classifier = load_classifier("mnist", torch.device("cpu"))
    # 10,000 samples rather than the protocol's 26,000: a uniform sampler then misses a mode with
    # probability e^-10 and scores a KL of about 999 / (2 * 10,000) = 0.05 (0.02 at 26,000)
    stacked = StackedMNIST(digits, labels, 10000, data_seed=1, batch_size=64, device=torch.device("cpu"), seed=0)
    real = stacked.examples(10000, torch.Generator().manual_seed(0))
    metric = StackedMNISTModes(StackedOptions(samples=10000), None)
    scores = metric(_StubEval(classifier, real))
    assert scores["modes"] >= 999 and scores["kl"] < 0.1
    assert scores["confident"] > 0.97  # the classifier is sure of almost every real digit
    few = StackedMNISTModes(StackedOptions(samples=2000), None)
    noise = torch.rand(2000, 3, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert few(_StubEval(classifier, noise))["confident"] < scores["confident"] - 0.2
    one_digit = digits[labels == 7][:1].float().div(127.5).sub(1).expand(2000, 3, 28, 28)
    assert few(_StubEval(classifier, one_digit))["modes"] == 1


def test_2d_recipe_scores_modes_and_keeps_the_best(cli, tmp_path):
    run = tmp_path / "run"
    # 600 steps: from PacGAN's N(0, 0.02) start, G needs a few hundred steps to land samples on
    # modes; a batch of 100 (50 packs of 2) instead of 200 halves the cost and changes none of that
    code, _, err = cli("run", RECIPES / "pacgan2_ring2d.yaml", "--out", run, *quick(600), "--set", "eval.every=200",
                       "--set", "train.batch_size=100")
    assert code == 0, err
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in evals if "eval/modes" in r]
    assert [r["step"] for r in evals] == [200, 400, 600]
    assert evals[0]["eval/modes_floor"] == 8 and evals[0]["eval/hq_floor"] == pytest.approx(0.989, abs=0.01)
    best = json.loads((run / "scores.json").read_text())["best"]
    # (no high-quality sample at all makes the reverse KL infinite, logged as null)
    assert best["value"] == min(r["eval/reverse_kl"] for r in evals if r["eval/reverse_kl"] is not None)
    from PIL import Image
    assert Image.open(run / "samples" / "step-00000600.png").size == (480, 480)  # a scatter plot


def test_cas_trains_on_samples_and_tests_on_real_digits(cli, tmp_path):
    # an untrained conditional G is worth nothing as training data; as many real digits are
    metrics = "eval.metrics=[{name: cas, samples: 1000, epochs: 2}]"
    run = tmp_path / "cond"
    code, _, err = cli("run", RECIPES / "cdcgan_mnist.yaml", "--out", run, *quick(2), "--set", "eval.every=2",
                       "--set", metrics)
    assert code == 0, err
    scores = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if "eval/cas" in line][-1]
    assert scores["eval/cas"] < 0.3 and scores["eval/cas_floor"] > 0.5  # chance is 0.1
    code, _, err = cli("run", RECIPES / "dcgan_mnist.yaml", "--out", tmp_path / "plain", *quick(2), "--set",
                       "eval.every=2", "--set", metrics)
    assert code == 2 and "cas: the run is not class-conditional" in err
