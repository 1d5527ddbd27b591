"""Anomaly detection on real MNIST: the two protocols, GANomaly and f-AnoGAN in the shared loop,
the anomaly_auroc metric with its floor, and `ganzoo score-anomaly`."""
import csv
import json
from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image

from conftest import RECIPES, quick
from ganzoo import MNIST, load_checkpoint, load_idx_images
from ganzoo_plugins.anomaly import AnomalyDataOptions, _mnist_anomaly, anogan_scores

SMALL = ["--set", "train.batch_size=16", "--set", "networks.G.width=8", "--set", "networks.D.width=8"]


def test_each_protocol_trains_on_exactly_its_digits_and_tests_on_the_whole_test_set(data_root):
    ctx = SimpleNamespace(device=torch.device("cpu"), recipe=SimpleNamespace(seed=0, train=SimpleNamespace(batch_size=8)))
    _, train_labels = load_idx_images(MNIST, "train", str(data_root), False)
    _, test_labels = load_idx_images(MNIST, "test", str(data_root), False)
    for protocol, key, digit, normal in (("one_class", "normal", 4, {4}), ("leave_one_out", "anomaly", 4,
                                                                           set(range(10)) - {4})):
        options = AnomalyDataOptions(protocol=protocol, root=str(data_root), **{key: digit})
        train = _mnist_anomaly(options, ctx)
        assert set(train.labels.tolist()) == normal
        assert train.info.size == int(torch.isin(train_labels, torch.tensor(sorted(normal))).sum())
        assert not train.anomalous.any()
        test = _mnist_anomaly(AnomalyDataOptions(protocol=protocol, root=str(data_root), split="test",
                                                 **{key: digit}), ctx).anomaly_examples()
        assert len(test["label"]) == len(test_labels) == 10000
        assert torch.equal(test["anomalous"], ~torch.isin(test["label"], torch.tensor(sorted(normal))))
        assert test["image"].min() >= -1 and test["image"].max() <= 1


def records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_ganomaly_trains_scores_auroc_with_its_floor_and_scores_a_folder(cli, tmp_path):
    run = tmp_path / "run"
    sets = SMALL + ["--set", "networks.E.width=8", "--set", "networks.E2.width=8",
                    "--set", "data.protocol=one_class", "--set", "data.anomaly=null", "--set", "data.normal=7",
                    "--set", "eval.every=4"]
    code, _, err = cli("run", RECIPES / "ganomaly_mnist.yaml", "--out", run, *quick(4), *sets)
    assert code == 0, err
    log = records(run)
    assert {"loss/G/adversarial", "loss/G/contextual", "loss/G/latent", "loss/D"} <= set(log[0])
    scores = log[-1]
    for key in ("auroc", "average_precision", "auroc_floor", "average_precision_floor"):
        assert 0 <= scores[f"eval/{key}"] <= 1, key
    assert scores["eval/auroc_floor"] > 0.9  # the nearest training 7 in pixels already separates 7s well
    fingerprint = scores["fingerprints"]["anomaly_auroc"]
    assert (fingerprint["protocol"], fingerprint["normal"], fingerprint["anomalies"]) == ("one_class", 7, 10000 - 1028)

    images, labels = load_idx_images(MNIST, "test", None, False)
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(images[i, 0].numpy().astype(np.uint8)).save(folder / f"{i}-{int(labels[i])}.png")
    Image.new("RGB", (40, 30), (200, 10, 10)).save(folder / "odd.jpg")  # another size and mode
    code, out, err = cli("score-anomaly", run, "--input", folder, "--output", tmp_path / "scores.csv")
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "scores.csv")))
    assert len(rows) == 4 and all(np.isfinite(float(r["score"])) for r in rows)
    assert any(r["file"].endswith("odd.jpg") for r in rows)
    code, _, err = cli("score-anomaly", run, "--input", tmp_path / "nothing-here")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "nothing-here" in err


def test_fanogan_trains_the_gan_then_only_the_encoder(cli, tmp_path):
    run = tmp_path / "run"
    sets = SMALL + ["--set", "networks.E.width=8", "--set", "train.checkpoint_every=2", "--set", "eval.every=4",
                    "--set", "data.normal=3"]
    code, _, err = cli("run", RECIPES / "fanogan_mnist.yaml", "--out", run, *quick(4), "--set", "train.log_every=1",
                       *sets)
    assert code == 0, err
    log = [r for r in records(run) if "loss/D" in r or "loss/E" in r]
    assert [("loss/D" in r, "loss/E" in r) for r in log] == [(True, False)] * 2 + [(False, True)] * 2
    first, last = (torch.load(run / "checkpoints" / f"step-0000000{s}.pt", weights_only=True)["networks"] for s in (2, 4))
    for role in ("G", "D"):  # frozen in the encoder stage
        assert all(torch.equal(first[role][k], last[role][k]) for k in first[role]), role
    assert any(not torch.equal(first["E"][k], last["E"][k]) for k in first["E"])
    assert 0 <= records(run)[-1]["eval/auroc"] <= 1


def test_any_gan_scores_anomalies_with_its_discriminator_or_by_inverting_its_generator(cli, tmp_path):
    run = tmp_path / "run"
    code, _, err = cli("run", RECIPES / "dcgan_mnist.yaml", "--out", run, *quick(2), *SMALL,
                       "--set", "data={name: mnist_anomaly, protocol: one_class, normal: 1}",
                       "--set", "eval={every: 2, metrics: [{name: anomaly_auroc, samples: 300}]}")
    assert code == 0, err
    scores = records(run)[-1]
    assert 0 <= scores["eval/auroc"] <= 1 and scores["fingerprints"]["anomaly_auroc"]["test_images"] == 300

    loaded = load_checkpoint(run)
    images = _mnist_anomaly(AnomalyDataOptions(normal=1, split="test"), SimpleNamespace(
        device=torch.device("cpu"), recipe=SimpleNamespace(seed=0, train=SimpleNamespace(batch_size=8)))
    ).anomaly_examples()["image"][:64]
    start, fitted = (anogan_scores(loaded.nets, images, steps, 0.1) for steps in (0, 30))
    assert fitted.shape == (64,) and fitted.mean() < start.mean()  # fitting z leaves a smaller residual
    assert all(p.grad is None and p.requires_grad for net in loaded.nets.values() for p in net.parameters())

    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("L", (28, 28), 0).save(folder / "blank.png")
    code, out, err = cli("score-anomaly", run, "--input", folder, "--score", "anogan", "--anogan-steps", "2")
    assert code == 0, err
    assert out.splitlines()[0] == "file,score" and out.splitlines()[1].startswith(str(folder / "blank.png"))
