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

from ganzoo import MNIST, auroc, load_checkpoint, load_idx_images
from ganzoo_plugins.anomaly import _features, score_images


def scores(loaded, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each test image's four scores; the latent one is the objective's own (what the metric reports)."""
    nets, objective = loaded.nets, loaded.objective
    residual_l1, residual_l2, features = [], [], []
    with torch.no_grad():
        for batch in x.split(1000):
            _, x_hat, _ = objective.reconstruct(nets, batch)
            residual_l1.append((batch - x_hat).abs().flatten(1).mean(1))
            residual_l2.append((batch - x_hat).pow(2).flatten(1).mean(1))
            features.append((_features(nets["D"], batch, "D") - _features(nets["D"], x_hat, "D")).pow(2).mean(1))
    out = {"latent": score_images(objective, nets, x), "residual_l1": torch.cat(residual_l1),
           "residual_l2": torch.cat(residual_l2)}
    scale = lambda v: (v - v.min()) / (v.max() - v.min())  # noqa: E731
    out["skip_ganomaly"] = 0.9 * scale(out["residual_l1"]) + 0.1 * scale(torch.cat(features))
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
        row = {name: float(auroc(s, labels == anomaly)) for name, s in scores(loaded, x).items()}
        for name, value in row.items():
            table.setdefault(name, []).append(value)
        print(f"{run}: anomaly {anomaly}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
    print("mean: " + ", ".join(f"{k} {statistics.mean(v):.3f}" for k, v in table.items()))


if __name__ == "__main__":
    main()
