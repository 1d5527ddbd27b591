"""Four anomaly scores from the same GANomaly checkpoints, as AUROC on the MNIST test split.

    python benchmarks/anomaly_scores.py RUN [RUN ...]

RUN is a leave-one-out run of `ganomaly_mnist` (e.g. one made by benchmarks/anomaly_mnist.py).
The scores: GANomaly's latent distance ‖z - ẑ‖² (what the recipe's metric reports), the
reconstruction residuals ‖x - x̂‖₁ and ‖x - x̂‖², and Skip-GANomaly's 0.9 · residual + 0.1 ·
D-feature distance (each min-max scaled over the test split, as in Akçay et al. 2019).
Reads the MNIST files under GANZOO_DATA.
"""
from __future__ import annotations

import argparse
import os
import statistics

import torch
from sklearn.metrics import roc_auc_score

from ganzoo.api import load_checkpoint
from ganzoo.data import MNIST, load_idx_images


def scores(loaded, x: torch.Tensor) -> dict[str, torch.Tensor]:
    nets = loaded.nets
    parts = {"latent": [], "residual_l1": [], "residual_l2": [], "features": []}
    with torch.no_grad():
        for batch in x.split(1000):
            z = nets["E"](batch)
            x_hat = nets["G"](z)
            parts["latent"].append((z - nets["E2"](x_hat)).pow(2).mean(1))
            parts["residual_l1"].append((batch - x_hat).abs().flatten(1).mean(1))
            parts["residual_l2"].append((batch - x_hat).pow(2).flatten(1).mean(1))
            parts["features"].append((nets["D"].features(batch) - nets["D"].features(x_hat)).flatten(1).pow(2).mean(1))
    out = {k: torch.cat(v) for k, v in parts.items()}
    scaled = {k: (v - v.min()) / (v.max() - v.min()) for k, v in out.items()}
    out["skip_ganomaly"] = 0.9 * scaled["residual_l1"] + 0.1 * scaled["features"]
    del out["features"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+")
    args = parser.parse_args()
    images, labels = load_idx_images(MNIST, "test", os.environ.get("GANZOO_DATA"), download=False)
    x = images.float() / 127.5 - 1
    table: dict[str, list[float]] = {}
    for run in args.runs:
        loaded = load_checkpoint(run)
        for net in loaded.nets.values():
            net.eval()
        anomaly = loaded.recipe.to_dict()["data"]["anomaly"]
        row = {name: roc_auc_score((labels == anomaly).numpy(), s.numpy()) for name, s in scores(loaded, x).items()}
        for name, value in row.items():
            table.setdefault(name, []).append(value)
        print(f"{run}: anomaly {anomaly}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
    print("mean: " + ", ".join(f"{k} {statistics.mean(v):.3f}" for k, v in table.items()))


if __name__ == "__main__":
    main()
