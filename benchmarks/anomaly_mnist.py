"""Per-digit anomaly-detection AUROC on MNIST under one protocol: one run per digit and seed.

    python benchmarks/anomaly_mnist.py OUT --recipe ganomaly_mnist --protocol leave_one_out \
        [--digits 0-9] [--seeds 0 1 2] [--set train.steps=1000 ...]

Each run is `ganzoo run recipes/RECIPE.yaml --set data.protocol=... --set data.normal|anomaly=d
--set seed=s` in OUT/<recipe>-<protocol>-d<digit>-s<seed>; a finished run is not run again.
Then OUT/<recipe>-<protocol>.md gets a table: AUROC (and average precision) per digit, the mean
± std over seeds, and the model-free floor (nearest training image in pixels) beside it.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def digits(text: str) -> list[int]:
    if "-" in text:
        first, last = map(int, text.split("-"))
        return list(range(first, last + 1))
    return [int(d) for d in text.split(",")]


def last_scores(run: Path) -> dict | None:
    path = run / "metrics.jsonl"
    if not path.exists():
        return None
    evals = [json.loads(line) for line in path.read_text().splitlines() if '"eval/auroc"' in line]
    return evals[-1] if evals else None


def mean_std(values: list[float]) -> str:
    if not values:
        return "–"
    spread = f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else ""
    return f"{statistics.mean(values):.3f}{spread}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--recipe", required=True, help="a recipe in recipes/, without .yaml")
    parser.add_argument("--protocol", required=True, choices=("one_class", "leave_one_out"))
    parser.add_argument("--digits", type=digits, default=list(range(10)))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more recipe overrides")
    args = parser.parse_args()
    key = "normal" if args.protocol == "one_class" else "anomaly"
    other = "anomaly" if key == "normal" else "normal"
    rows = []
    for digit in args.digits:
        for seed in args.seeds:
            run = args.out / f"{args.recipe}-{args.protocol}-d{digit}-s{seed}"
            if last_scores(run) is None:
                sets = [f"data.protocol={args.protocol}", f"data.{key}={digit}", f"data.{other}=null",
                        f"seed={seed}", *args.set]
                command = [sys.executable, "-m", "ganzoo", "run", str(REPO / "recipes" / f"{args.recipe}.yaml"),
                           "--out", str(run), "--no-progress", *(x for s in sets for x in ("--set", s))]
                if run.exists():  # an unfinished run: start it again from nothing
                    subprocess.run(["rm", "-rf", str(run)], check=True)
                done = subprocess.run(command, capture_output=True, text=True, env=os.environ)
                if done.returncode:
                    sys.exit(f"{run.name} failed:\n" + "\n".join(done.stderr.splitlines()[-10:]))
            scores = last_scores(run)
            rows.append((digit, seed, scores))
            print(f"{run.name}: auroc {scores['eval/auroc']:.4f} (floor {scores['eval/auroc_floor']:.4f}), "
                  f"{scores['time']:.0f} s of training", flush=True)
    table = [f"`python benchmarks/anomaly_mnist.py OUT --recipe {args.recipe} --protocol {args.protocol} "
             f"--seeds {' '.join(map(str, args.seeds))}{''.join(' --set ' + s for s in args.set)}`", "",
             f"| {key} digit | AUROC (mean ± std, {len(args.seeds)} seeds) | average precision | "
             "floor: 1-NN pixels AUROC |", "|---|---|---|---|"]
    means, floors = [], []
    for digit in args.digits:
        mine = [s for d, _, s in rows if d == digit]
        aurocs = [s["eval/auroc"] for s in mine]
        means.append(statistics.mean(aurocs))
        floors.append(mine[0]["eval/auroc_floor"])
        table.append(f"| {digit} | {mean_std(aurocs)} | {mean_std([s['eval/average_precision'] for s in mine])} | "
                     f"{floors[-1]:.3f} |")
    table.append(f"| mean | {statistics.mean(means):.3f} | | {statistics.mean(floors):.3f} |")
    path = args.out / f"{args.recipe}-{args.protocol}.md"
    path.write_text("\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
