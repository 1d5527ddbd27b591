"""`ganzoo score` and `ganzoo export`: scores of images from anywhere equal the run's own."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import RECIPES, quick
from ganzoo import MNIST, load_idx_images


def _fid(stdout: str) -> float:
    return json.loads(stdout)["scores"]["fid"]


def test_scores_of_folders_equal_the_runs_floor_and_logged_fid(cli, data_root, tmp_path):
    # a short run, scored as training scores it: 10,000 samples, and the floor (10,000 train vs 10,000 test)
    run = tmp_path / "run"
    metrics = "eval.metrics=[{name: fid, samples: 10000, reference_samples: 10000}]"
    code, _, err = cli("run", RECIPES / "dcgan_mnist.yaml", "--out", run, *quick(5), "--set", "train.batch_size=32",
                       "--set", "eval.every=5", "--set", metrics)
    assert code == 0, err
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if "eval/fid" in line][-1]

    # the real test digits as PNG files, scored against the training set: the run's floor
    test, labels = load_idx_images(MNIST, "test", str(data_root), download=False)
    pngs = tmp_path / "test_pngs"
    for digit in range(10):
        (pngs / str(digit)).mkdir(parents=True)
    for i, (image, label) in enumerate(zip(test[:, 0].numpy(), labels.tolist())):
        Image.fromarray(image, "L").save(pngs / str(label) / f"{i:05d}.png")
    code, out, err = cli("score", pngs, "--reference", "mnist", "--features", "mnist_lenet",
                         "--save-stats", tmp_path / "train.npz")
    assert code == 0, err
    assert _fid(out) == pytest.approx(logged["eval/fid_floor"], rel=1e-9)
    code, out, err = cli("score", pngs, "--reference", tmp_path / "train.npz", "--features", "mnist_lenet")
    assert code == 0 and _fid(out) == pytest.approx(logged["eval/fid_floor"], rel=1e-9)

    # the run's samples exported, then scored against the test split: the logged FID, up to 8-bit pixels
    code, _, err = cli("export", run, "-n", 10000, "-o", tmp_path / "samples")
    assert code == 0, err
    manifest = json.loads((tmp_path / "samples" / "manifest.json").read_text())
    assert manifest["count"] == 10000 and manifest["step"] == 5 and manifest["seed"] == 0
    assert len(list((tmp_path / "samples").glob("*.png"))) == 10000
    code, out, err = cli("score", tmp_path / "samples", "--reference", "mnist", "--split", "test",
                         "--features", "mnist_lenet", "--reference-samples", 10000)
    assert code == 0, err
    assert _fid(out) == pytest.approx(logged["eval/fid"], rel=1e-3)
    code, _, err = cli("export", run, "-n", 10000, "--format", "npz", "-o", tmp_path / "samples.npz")
    assert code == 0, err
    with np.load(tmp_path / "samples.npz") as f:
        assert f["arr_0"].shape == (10000, 28, 28, 1) and f["arr_0"].dtype == np.uint8
    code, npz_out, _ = cli("score", tmp_path / "samples.npz", "--reference", "mnist", "--split", "test",
                           "--features", "mnist_lenet", "--reference-samples", 10000)
    assert code == 0 and _fid(npz_out) == pytest.approx(_fid(out), rel=1e-8)


def test_bad_inputs_are_one_line(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    cases = [
        (("score", tmp_path / "missing", "--reference", "mnist"), "missing: no such folder or file of images"),
        (("score", tmp_path / "empty", "--reference", "mnist"), "no image files"),
    ]
    np.savez(tmp_path / "wrong.npz", x=np.zeros(3))
    cases.append((("score", tmp_path / "wrong.npz", "--reference", "mnist"), "no image array (expected arr_0"))
    images = tmp_path / "images"
    images.mkdir()
    Image.new("L", (28, 28)).save(images / "a.png")
    cases.append((("score", images, "--reference", "nowhere"), "--reference: nowhere is not a folder"))
    np.savez(tmp_path / "stats.npz", mu=np.zeros(4), sigma=np.eye(4))
    cases.append((("score", images, "--reference", tmp_path / "stats.npz", "--metrics", "kid"),
                  "only --metrics fid can use it"))
    cases.append((("export", tmp_path / "empty", "-o", tmp_path / "out"), "empty"))
    for args, expected in cases:
        code, _, err = cli(*args)
        assert code == 2 and expected in err and "Traceback" not in err, (args, err)
        assert len([line for line in err.splitlines() if "error" in line]) == 1, err
