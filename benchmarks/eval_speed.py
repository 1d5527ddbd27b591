"""Benchmark d: evaluation speed.

  FID-LeNet on 10k samples: generate 10,000 images with the vanilla generator, take the LeNet
  features, and compute FID against the 10,000 test images (their features cold, i.e. computed
  here, and warm, i.e. already cached as they are after a run's first evaluation).
  Stacked-MNIST mode count on 26k samples: classify the 3 x 26,000 channels and count modes.

    python eval_speed.py [--rounds 5]     (the shipped MNIST LeNet)
"""
import argparse
import statistics
import time

import torch

from ganzoo import metrics as M
from ganzoo.data import MNIST, load_idx_images
from ganzoo_plugins.classifiers import load_classifier
from ganzoo_plugins.datasets import StackedMNIST
from ganzoo_plugins.vanilla import MLPGenerator


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    device = torch.device(args.device)
    net = load_classifier("mnist", device)
    test, labels = load_idx_images(MNIST, "test", None, download=False)
    test = test.float().div(127.5).sub(1)
    G = MLPGenerator(100, 256, (1, 28, 28)).to(device).eval()
    stacked = StackedMNIST(*load_idx_images(MNIST, "test", None, download=False), 26000, data_seed=1,
                           batch_size=64, device=device, seed=0)
    real_stacked = stacked.examples(26000, torch.Generator().manual_seed(0))
    results = {"fid_cold": [], "fid_warm": [], "stacked_modes": []}
    for i in range(args.rounds):
        start = time.perf_counter()
        reference = net.features(test)
        reference_stats = M.feature_statistics(reference)
        cold_reference = time.perf_counter() - start

        start = time.perf_counter()
        with torch.no_grad():
            fake = torch.cat([G(torch.randn(1000, 100, device=device)) for _ in range(10)])
        score = M.frechet_distance(*M.feature_statistics(net.features(fake)), *reference_stats)
        warm = time.perf_counter() - start
        results["fid_warm"].append(warm)
        results["fid_cold"].append(warm + cold_reference)

        start = time.perf_counter()
        digits = torch.stack([net.predict(real_stacked[:, c:c + 1]).cpu() for c in range(3)], dim=1)
        modes, kl = M.stacked_mnist_modes(digits)
        results["stacked_modes"].append(time.perf_counter() - start)
        print(f"  round {i + 1}: FID {score:.1f} in {warm:.2f} s warm / {warm + cold_reference:.2f} s cold; "
              f"{modes} modes (KL {kl:.3f}) in {results['stacked_modes'][-1]:.2f} s", flush=True)
    for name, values in results.items():
        print(f"{name}: median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f}, "
              f"{args.rounds} rounds)")


if __name__ == "__main__":
    main()
