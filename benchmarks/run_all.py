"""All throughput benchmarks in one command, each as alternating process pairs on this machine:

  a  vanilla recipe   vs the seed tutorial's loop (seed_loop.py: DataLoader, 2 workers, per-sample transforms)
  b  vanilla recipe   vs the same step written by hand over one data tensor (minimal_loop.py; the limit)
  c  DCGAN recipe     vs a plain DataLoader DCGAN script of the PyTorch-GAN kind (dcgan_dataloader.py)
  d  evaluation speed: FID-LeNet on 10k samples, Stacked-MNIST modes on 26k samples (eval_speed.py)

    GANZOO_DATA=/path/to/data python benchmarks/run_all.py [--rounds 5] [--only a,b,c,d] [--set KEY=VALUE ...]

`--set` passes recipe overrides to the ganzoo side (e.g. train.precision=bf16 on a GPU).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import HERE, Pair, data_root, print_table, run_ganzoo, run_script, unpacked_root


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--only", default="a,b,c,d")
    p.add_argument("--vanilla-steps", type=int, default=1500)
    p.add_argument("--dcgan-steps", type=int, default=300)
    p.add_argument("--set", action="append", default=[], help="recipe override for the ganzoo side")
    args = p.parse_args()
    only = set(args.only.split(","))
    root = data_root()
    pairs = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        unpacked = unpacked_root(root, tmp / "unpacked")
        run = lambda recipe, steps: run_ganzoo(recipe, steps, tmp / "run", *args.set)  # noqa: E731
        if "a" in only:
            pairs.append(Pair("a: vanilla vs seed loop", lambda: run("vanilla_mnist.yaml", args.vanilla_steps),
                              lambda: run_script("seed_loop.py", unpacked, args.vanilla_steps)))
        if "b" in only:
            pairs.append(Pair("b: vanilla vs minimal loop", lambda: run("vanilla_mnist.yaml", args.vanilla_steps),
                              lambda: run_script("minimal_loop.py", root, args.vanilla_steps)))
        if "c" in only:
            # the same maths as the script: fp32, no EMA of G, unless --set says otherwise (after these)
            plain = ("train.precision=fp32", "train.channels_last=false", "networks.G.ema_halflife=null",
                     "networks.G.ema_rampup=null")
            dcgan = lambda: run_ganzoo("dcgan_mnist.yaml", args.dcgan_steps, tmp / "run", *plain, *args.set)  # noqa: E731
            pairs.append(Pair("c: dcgan vs DataLoader script", dcgan,
                              lambda: run_script("dcgan_dataloader.py", unpacked, args.dcgan_steps)))
        # rounds outermost, with the table so far after each: a run cut short keeps every benchmark's rounds
        for i in range(args.rounds):
            for pair in pairs:
                pair.round()
            if pairs and i + 1 < args.rounds:
                print_table(pairs)
    if pairs:
        print_table(pairs)
    if "d" in only:
        print("\nd: evaluation speed", flush=True)
        subprocess.run([sys.executable, str(HERE / "eval_speed.py"), "--rounds", str(args.rounds)], check=True)


if __name__ == "__main__":
    main()
