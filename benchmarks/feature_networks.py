"""The feature networks ganzoo ships: train them, check a re-creation, and measure their floors.

    GANZOO_DATA=... python benchmarks/feature_networks.py export   # writes plugins/weights/*.pt
    GANZOO_DATA=... python benchmarks/feature_networks.py check    # re-creates them in a temp folder
    GANZOO_DATA=... python benchmarks/feature_networks.py floors   # FID of real train vs test digits

`export` trains the MNIST and Fashion-MNIST LeNets (4 epochs, seed 0) on one thread each, side by
side, so that the run is the same on any machine with the same torch build; it prints the
SHA-256 of each file for `SHIPPED` in plugins/classifiers.py. `check` trains them again the same
way into a temporary folder and prints, as JSON, each one's test accuracy beside the shipped
file's, and whether the weights came out bit-identical (other CPUs and torch builds sum floating
point in another order, so only the accuracy is expected to match). `floors` prints each shipped
network's FID of 10,000 real training images against the test split, the best a generator can do.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from ganzoo.data import load_idx_images
from ganzoo.metrics import fid
from ganzoo_plugins.classifiers import CLASSIFIER_DATA, SHIPPED, WEIGHTS_DIR, load_classifier, read_classifier, \
    train_classifier


def _train(dataset: str, folder: str) -> dict:
    torch.set_num_threads(1)  # one thread: the same sums, hence the same weights, on any core count
    record = train_classifier(dataset, Path(folder) / SHIPPED[dataset][0], root=os.environ.get("GANZOO_DATA"))
    return {"dataset": dataset, "file": SHIPPED[dataset][0], "test_accuracy": record["test_accuracy"],
            "seconds": round(record["seconds"], 1), "sha256": record["sha256"],
            "bytes": (Path(folder) / SHIPPED[dataset][0]).stat().st_size}


def train_all(folder: Path) -> list[dict]:
    with ProcessPoolExecutor(max_workers=len(SHIPPED)) as pool:
        return list(pool.map(_train, SHIPPED, [str(folder)] * len(SHIPPED)))


def floors() -> list[dict]:
    rows = []
    for dataset, (source, _) in CLASSIFIER_DATA.items():
        net = load_classifier(dataset, torch.device("cpu"))
        unit = lambda x: x.float().div(127.5).sub(1)  # noqa: E731
        train_x, _ = load_idx_images(source, "train", None, download=False)
        test_x, _ = load_idx_images(source, "test", None, download=False)
        keep = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(1))[:10000]
        rows.append({"features": net.name, "fid_train_vs_test": round(fid(net.features(unit(train_x[keep])),
                                                                          net.features(unit(test_x))), 3)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["export", "check", "floors"])
    args = parser.parse_args()
    if args.action == "export":
        WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
        for row in train_all(WEIGHTS_DIR):
            print(json.dumps(row))
    elif args.action == "check":
        with tempfile.TemporaryDirectory() as folder:
            for row in train_all(Path(folder)):
                _, shipped = read_classifier(WEIGHTS_DIR / row["file"])
                again, _ = read_classifier(Path(folder) / row["file"])
                same = all(torch.equal(again.state_dict()[k], v) for k, v in shipped["state_dict"].items())
                print(json.dumps({**row, "shipped_test_accuracy": shipped["test_accuracy"],
                                  "shipped_sha256": shipped["sha256"], "bit_identical_weights": same}))
    else:
        for row in floors():
            print(json.dumps(row))


if __name__ == "__main__":
    main()
