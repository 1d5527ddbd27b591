"""Per-step losses of a few recipes on the CPU, as JSON: a behaviour check for refactors.

Each recipe trains N steps with a loss line every step and no evaluation, sample grid or
logger, so that two versions of the code can be compared step for step:

    python benchmarks/loss_trace.py -o before.json           # on the old code
    python benchmarks/loss_trace.py -o after.json --compare before.json

--compare exits 1 when any logged loss differs by more than --rtol (relative).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import torch

RECIPES = ["vanilla_mnist", "dcgan_mnist", "wgan_gp_mnist", "wgan_mnist", "lsgan_mnist", "sngan_hinge_mnist",
           "cdcgan_mnist", "pacgan2_ring2d", "pacgan2_r1_ring2d", "cyclegan_mnist_thick"]


def trace(recipe: str, steps: int) -> list[dict]:
    import ganzoo

    overrides = {"device": "cpu", "train.steps": steps, "train.log_every": 1, "train.sample_every": 10 ** 9,
                 "train.checkpoint_every": 10 ** 9, "train.grid_size": 4, "loggers": [], "eval.metrics": [], "eval.best": None}
    with tempfile.TemporaryDirectory() as tmp:
        run = ganzoo.train(recipe, out=Path(tmp) / "run", **overrides)
        return [{k: v for k, v in line.items() if k.startswith("loss/")} for line in run.metrics
                if any(k.startswith("loss/") for k in line)]


def differences(before: dict, after: dict, rtol: float) -> list[str]:
    problems = []
    for recipe, lines in before.items():
        if recipe not in after:
            problems.append(f"{recipe}: missing")
            continue
        for step, (a, b) in enumerate(zip(lines, after[recipe]), 1):
            for key in a.keys() | b.keys():
                x, y = a.get(key), b.get(key)
                if x is None or y is None or not math.isclose(x, y, rel_tol=rtol, abs_tol=1e-12):
                    problems.append(f"{recipe} step {step} {key}: {x} -> {y}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--compare", metavar="JSON")
    parser.add_argument("--rtol", type=float, default=0.0)
    args = parser.parse_args()
    torch.set_num_threads(1)  # one thread: the same reduction order on every machine
    result = {r: trace(r, args.steps) for r in args.recipes.split(",")}
    Path(args.output).write_text(json.dumps(result, indent=1))
    if args.compare:
        problems = differences(json.loads(Path(args.compare).read_text()), result, args.rtol)
        for p in problems[:20]:
            print(p)
        total = sum(len(v) for v in result.values())
        print(f"{len(result)} recipes, {total} loss lines: {len(problems)} differences (rtol {args.rtol})")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
