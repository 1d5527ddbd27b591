"""The `folder` dataset against the built-in MNIST: decode and cache times, training throughput.

    python benchmarks/folder_dataset.py DIGITS [--steps 100] [--repeats 3]

DIGITS is what `python benchmarks/mnist_folder.py DIGITS` writes. Prints, as medians of
--repeats: the first build of DIGITS/train (every PNG decoded, with a fresh cache), the second
(read from the cache), and images/s of `dcgan_mnist` for --steps steps on the built-in dataset
(`data.limit: 6000`, the same digits) and on the folder, the two runs alternated so that they
share the machine's state; their ratio is the number to read.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def build_seconds(recipe: str, sets: list[str]) -> float:
    from ganzoo import BuildContext
    from ganzoo.recipe import load_recipe

    recipe = load_recipe(recipe, sets)
    start = time.perf_counter()
    recipe.data.component.build(recipe.data.options, BuildContext(device=torch.device("cpu"), recipe=recipe))
    return time.perf_counter() - start


def images_per_second(recipe: str, steps: int, out: Path, **overrides) -> float:
    import ganzoo

    run = ganzoo.train(recipe, out=out, **{"train.steps": steps, "train.log_every": steps,
                                           "train.sample_every": 10**9, "train.checkpoint_every": 10**9,
                                           "eval": {}, **overrides})
    return [m for m in run.metrics if "images_per_s" in m][-1]["images_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("digits", type=Path)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = {"data.root": str(args.digits / "train"), "data.test_root": str(args.digits / "test")}
    sets = [f"{k}={v}" for k, v in folder.items()]
    first, second, builtin, from_folder = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            os.environ["GANZOO_CACHE"] = f"{tmp}/cache{r}"  # a fresh cache: the first build decodes
            first.append(build_seconds(str(REPO / "recipes/dcgan_folder_mnist.yaml"), sets))
            second.append(build_seconds(str(REPO / "recipes/dcgan_folder_mnist.yaml"), sets))
            builtin.append(images_per_second(str(REPO / "recipes/dcgan_mnist.yaml"), args.steps,
                                             Path(tmp) / f"builtin{r}", **{"data.limit": 6000}))
            from_folder.append(images_per_second(str(REPO / "recipes/dcgan_folder_mnist.yaml"), args.steps,
                                                 Path(tmp) / f"folder{r}", **folder))
    med = statistics.median
    print(f"first build (decode {args.digits / 'train'}): {med(first):.2f} s; second (cache): {med(second):.2f} s")
    print(f"images/s, {args.steps} steps: built-in {med(builtin):.0f}, folder {med(from_folder):.0f}, "
          f"ratio folder/built-in {med(f / b for f, b in zip(from_folder, builtin)):.3f}")


if __name__ == "__main__":
    main()
