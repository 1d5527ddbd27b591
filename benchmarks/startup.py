"""Start-up: how long the command line takes for what it does, as whole processes.

  Medians over --rounds of: `python -c "import torch"` (the floor every command pays),
  `ganzoo --help`, `ganzoo list`, and `ganzoo run vanilla_mnist --set train.steps=1` (one step,
  its sample grid, checkpoint and report), each in a fresh process, taken in turn so that load
  on the machine falls on all of them alike. Prints seconds and the ratio to `import torch`.

    GANZOO_DATA=... python benchmarks/startup.py [--rounds 5]
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "vanilla_mnist.yaml"


def commands(out: Path) -> dict[str, list[str]]:
    ganzoo = [sys.executable, "-m", "ganzoo"]
    return {
        "import torch": [sys.executable, "-c", "import torch"],
        "ganzoo --help": [*ganzoo, "--help"],
        "ganzoo list": [*ganzoo, "list"],
        "ganzoo run (1 step)": [*ganzoo, "run", str(RECIPE), "--set", "train.steps=1", "--set", "loggers=[]",
                                "--out", str(out)],
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, argv in commands(Path(tmp) / f"run{r}").items():
                start = time.perf_counter()
                subprocess.run(argv, check=True, capture_output=True)
                times.setdefault(name, []).append(time.perf_counter() - start)
    floor = statistics.median(times["import torch"])
    print(f"{'command':<22} {'median s':>9} {'x import torch':>15}   (of {args.rounds} runs each)")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<22} {median:>9.2f} {median / floor:>15.2f}")


if __name__ == "__main__":
    main()
