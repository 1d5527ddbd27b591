"""Where a MNIST run's FID-LeNet comes from: the mix of digits, or the digits themselves.

    GANZOO_DATA=... python benchmarks/fid_breakdown.py RUN_DIR [--checkpoint PATH] [--samples 10000]

Samples the run's generator (its EMA copy where it keeps one), reads every sample with the MNIST
LeNet and prints, as one JSON object:
- `fid`: FID-LeNet of the samples against the 10,000 test digits (as `ganzoo eval` computes it);
- `mean_term`: the squared distance of the two feature means, the part of `fid` that is not
  covariance;
- `classes`: the share of samples the LeNet reads as each digit, and `confident`, the share read
  with probability >= 0.9 (real test digits: about 0.98);
- `fid_of_the_mix`: the FID of *real* training digits drawn in the samples' class proportions,
  i.e. what the mix alone costs with perfect digits;
- `fid_per_class`: each digit's samples against the test digits of that class (null below 200
  samples), i.e. what the digits cost at any mix.
"""
from __future__ import annotations

import argparse
import json
import os

import torch

import ganzoo
from ganzoo.data import MNIST, load_idx_images
from ganzoo.metrics import fid
from ganzoo_plugins.classifiers import load_classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run directory")
    parser.add_argument("--checkpoint", help="a checkpoint of that run (default: its newest)")
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0, help="seed of the samples and of the resampled real digits")
    args = parser.parse_args()

    root = os.environ.get("GANZOO_DATA")
    cpu = torch.device("cpu")
    lenet = load_classifier("mnist", cpu)
    to_unit = lambda x: x.float().div(127.5).sub(1)  # noqa: E731 (uint8 -> [-1, 1], as the loop feeds D)
    test_x, test_y = load_idx_images(MNIST, "test", root, download=False)
    train_x, train_y = load_idx_images(MNIST, "train", root, download=False)
    real = lenet.features(to_unit(test_x))

    fake_images = ganzoo.load(args.run, args.checkpoint).sample(args.samples, seed=args.seed)
    fake = lenet.features(fake_images)
    probabilities = lenet.probabilities(fake_images)
    predicted = probabilities.argmax(dim=1)
    share = torch.bincount(predicted, minlength=10).double() / len(predicted)

    # real training digits in the samples' proportions: the FID of the mix with perfect digits
    g = torch.Generator().manual_seed(args.seed)
    picked = []
    for digit in range(10):
        pool = torch.nonzero(train_y == digit).flatten()
        count = min(len(pool), round(float(share[digit]) * args.samples))
        picked.append(pool[torch.randperm(len(pool), generator=g)[:count]])
    mix = lenet.features(to_unit(train_x[torch.cat(picked)]))

    mu_fake, mu_real = fake.double().mean(0), real.double().mean(0)
    result = {
        "run": str(args.run), "samples": args.samples,
        "fid": fid(fake, real),
        "mean_term": float(((mu_fake - mu_real) ** 2).sum()),
        "classes": [round(float(s), 4) for s in share],
        "confident": float((probabilities.max(dim=1).values >= 0.9).double().mean()),
        "fid_of_the_mix": fid(mix, real),
        "fid_per_class": [round(fid(fake[predicted == d], real[test_y == d]), 1)
                          if int((predicted == d).sum()) >= 200 else None for d in range(10)],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
