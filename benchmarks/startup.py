"""Start-up: how long the command line takes for what it does, as whole processes.

  Medians over --rounds of: `python -c "import torch"` (the floor every command pays),
  `python -c "import torch; torch.optim.Adam(...)"` (the floor of any process that trains),
  `ganzoo --help`, `ganzoo list`, and `ganzoo run vanilla_mnist --set train.steps=1` (one step,
  its sample grid, checkpoint and report), each in a fresh process, taken in turn so that load
  on the machine falls on all of them alike. Prints seconds and the ratio to `import torch`.

  Then one epoch of the seed tutorial's training, whole processes again: `ganzoo run
  vanilla_mnist --set train.epochs=1` (600 steps of batch 100, with the recipe's grid, checkpoint
  and report) against `seed_loop.py` for 600 steps, alternating, with the ratio of their times.
  `--no-epoch` leaves it out.

    GANZOO_DATA=... python benchmarks/startup.py [--rounds 5] [--no-epoch]
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import HERE, data_root, unpacked_root

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "vanilla_mnist.yaml"
GANZOO = [sys.executable, "-m", "ganzoo"]
SEED_EPOCH, GANZOO_EPOCH = "seed_loop.py (600 steps)", "ganzoo run (1 epoch)"


def commands(out: Path) -> dict[str, list[str]]:
    return {
        "import torch": [sys.executable, "-c", "import torch"],
        # Building a torch optimizer imports torch._dynamo (its constructor is wrapped in
        # torch._disable_dynamo), so this is the floor of any process that trains.
        "import torch + Adam": [sys.executable, "-c", "import torch; torch.optim.Adam([torch.zeros(1, requires_grad=True)])"],
        "ganzoo --help": [*GANZOO, "--help"],
        "ganzoo list": [*GANZOO, "list"],
        "ganzoo run (1 step)": [*GANZOO, "run", str(RECIPE), "--set", "train.steps=1", "--set", "loggers=[]",
                                "--out", str(out)],
    }


def epoch_commands(out: Path, unpacked: Path) -> dict[str, list[str]]:
    """One epoch each: the seed tutorial's script first, then the recipe of the same training."""
    return {
        SEED_EPOCH: [sys.executable, str(HERE / "seed_loop.py"), str(unpacked), "600"],
        GANZOO_EPOCH: [*GANZOO, "run", str(RECIPE), "--set", "train.epochs=1", "--set", "loggers=[]", "--no-progress",
                       "--out", str(out)],
    }


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--no-epoch", action="store_true", help="leave out the one-epoch comparison")
    args = p.parse_args()
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for r in range(args.rounds):
            for name, argv in commands(tmp / f"run{r}").items():
                times.setdefault(name, []).append(timed(argv))
        epoch: dict[str, list[float]] = {}
        if not args.no_epoch:
            unpacked = unpacked_root(data_root(), tmp / "unpacked")
            for r in range(args.rounds):
                for name, argv in epoch_commands(tmp / f"epoch{r}", unpacked).items():
                    epoch.setdefault(name, []).append(timed(argv))
    floor, trains = statistics.median(times["import torch"]), statistics.median(times["import torch + Adam"])
    print(f"{'command':<26} {'median s':>9} {'x import torch':>15} {'x torch + Adam':>15}   (of {args.rounds} runs each)")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<26} {median:>9.2f} {median / floor:>15.2f} {median / trains:>15.2f}")
    if epoch:
        ratios = sorted(s / o for s, o in zip(epoch[SEED_EPOCH], epoch[GANZOO_EPOCH]))
        print(f"\n{'one epoch, whole process':<26} {'median s':>9}")
        for name, values in epoch.items():
            print(f"{name:<26} {statistics.median(values):>9.2f}")
        print(f"ganzoo is {statistics.median(ratios):.2f}x faster than the seed loop "
              f"(per-round ratios {ratios[0]:.2f}-{ratios[-1]:.2f}x)")


if __name__ == "__main__":
    main()
