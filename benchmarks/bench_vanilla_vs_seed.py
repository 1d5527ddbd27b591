"""Benchmark a: vanilla recipe throughput against the seed's own loop, on this machine.

Both run as separate processes, alternating, for the same number of steps at batch 100;
each reports images/s over its training loop (model build and data loading excluded).
Prints every round and the median ratio with its min-max spread.

    GANZOO_DATA=/path/to/data python benchmarks/bench_vanilla_vs_seed.py [--rounds 5] [--steps 1200]
"""
from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def seed_root(data_root: Path, tmp: Path) -> Path:
    """The seed loop reads uncompressed files through torchvision: unpack them once."""
    raw = tmp / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        src = data_root / "MNIST" / "raw" / name
        if src.exists():
            shutil.copy(src, raw / name)
        else:
            with gzip.open(str(src) + ".gz") as f, open(raw / name, "wb") as out:
                shutil.copyfileobj(f, out)
    return tmp


def run_seed(root: Path, steps: int) -> float:
    out = subprocess.run([sys.executable, str(HERE / "seed_loop.py"), str(root), str(steps)],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"images_per_s=(\d+)", out).group(1))


def run_ganzoo(steps: int, tmp: Path, extra: list[str]) -> float:
    out_dir = tmp / f"run-{len(list(tmp.glob('run-*')))}"
    args = [sys.executable, "-m", "ganzoo", "run", str(REPO / "recipes" / "vanilla_mnist.yaml"),
            "--set", f"train.steps={steps}", "--set", "train.checkpoint_every=1000000",
            "--set", "train.sample_every=1000000", "--out", str(out_dir), *extra]
    err = subprocess.run(args, capture_output=True, text=True, check=True).stderr
    shutil.rmtree(out_dir, ignore_errors=True)
    return float(re.search(r"\(([\d,]+) images/s\)", err).group(1).replace(",", ""))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--set", action="append", default=[], help="extra recipe overrides for the ganzoo side")
    args = p.parse_args()
    data_root = Path(os.environ.get("GANZOO_DATA", ""))
    if not (data_root / "MNIST" / "raw").is_dir():
        sys.exit("set GANZOO_DATA to a folder holding MNIST/raw/*-ubyte.gz")
    extra = [a for s in args.set for a in ("--set", s)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = seed_root(data_root, tmp / "seed")
        ratios = []
        for i in range(args.rounds):
            seed = run_seed(root, args.steps)
            ours = run_ganzoo(args.steps, tmp, extra)
            ratios.append(ours / seed)
            print(f"round {i + 1}: seed loop {seed:,.0f} img/s, ganzoo {ours:,.0f} img/s, ratio {ours / seed:.2f}x",
                  flush=True)
    print(f"vanilla vs seed loop: median {statistics.median(ratios):.2f}x "
          f"(min {min(ratios):.2f}x, max {max(ratios):.2f}x, {args.rounds} rounds of {args.steps} steps)")


if __name__ == "__main__":
    main()
