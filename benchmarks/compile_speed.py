"""torch.compile's effect on the loop: each recipe trained eager and compiled, alternating, with the
steady-state throughput of each (the median log window after the first, so compilation is left out).

    GANZOO_DATA=/path/to/data python benchmarks/compile_speed.py [--rounds 1] [--set device=cuda ...]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from harness import data_root, run_ganzoo


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--vanilla-steps", type=int, default=2000)
    p.add_argument("--dcgan-steps", type=int, default=600)
    p.add_argument("--set", action="append", default=[], help="recipe override for both runs")
    args = p.parse_args()
    data_root()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for recipe, steps in (("vanilla_mnist.yaml", args.vanilla_steps), ("dcgan_mnist.yaml", args.dcgan_steps)):
            eager, compiled = [], []
            for i in range(args.rounds):
                eager.append(run_ganzoo(recipe, steps, Path(tmp) / "run", *args.set, steady=True))
                compiled.append(run_ganzoo(recipe, steps, Path(tmp) / "run", *args.set, "train.compile=true",
                                           steady=True))
                print(f"  {recipe} round {i + 1}: eager {eager[-1]:,.0f} img/s, compiled {compiled[-1]:,.0f} img/s",
                      flush=True)
            ratios = [c / e for c, e in zip(compiled, eager)]
            rows.append((recipe, statistics.median(eager), statistics.median(compiled), statistics.median(ratios),
                         min(ratios), max(ratios)))
    print("\n| recipe | eager img/s | compiled img/s | compiled / eager (median) | min-max | rounds |")
    print("|---|---|---|---|---|---|")
    for recipe, e, c, r, lo, hi in rows:
        print(f"| {recipe} | {e:,.0f} | {c:,.0f} | {r:.2f}x | {lo:.2f}-{hi:.2f}x | {args.rounds} |")


if __name__ == "__main__":
    main()
