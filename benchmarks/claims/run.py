"""Run one claim's experiment and write its row; the claims table in docs is made from the rows.

    GANZOO_DATA=... python benchmarks/claims/run.py NAME [--jobs 2] [--out DIR]
    python benchmarks/claims/run.py NAME --smoke      # every arm for 4 steps, one seed: does it run?
    python benchmarks/claims/run.py --table           # docs/claims.md from benchmarks/claims/rows/*.json

A run trains the baseline and the treatment arm (claims.py) through `ganzoo bench`, one seed per
job, reads each run's final score, and writes benchmarks/claims/rows/NAME.json: the claim, the
paper, our setting, each arm's mean ± std over seeds, the verdict, the command and the wall time.
The verdict: "holds" when the treatment's mean is better than the baseline's by more than the
larger of the two standard deviations, "partly" when it is better by less, "does not hold" when
it is not better.
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from claims import CLAIMS, Arm, Claim  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ROWS = HERE / "rows"
TABLE = REPO / "docs" / "claims.md"


def bench_command(claim: Claim, arm: Arm, out: Path, jobs: int, smoke: bool) -> list[str]:
    budget, seeds, metrics = claim.budget, claim.seeds, claim.metrics
    if smoke:  # a handful of steps, one seed, small evaluations
        budget, seeds = ("--steps", "4"), 1
        metrics = re.sub(r"samples: \d+", "samples: 200", metrics)
        if "samples" not in metrics:
            metrics = metrics.replace("}", ", samples: 200}")
        metrics = metrics.replace("name: fid,", "name: fid, reference_samples: 500,")
    command = [sys.executable, "-m", "ganzoo", "bench", str(REPO / "recipes" / f"{arm.recipe}.yaml"), *budget,
               "--seeds", str(seeds), "--jobs", str(jobs), "--metrics", metrics, "-o", str(out)]
    for item in arm.sets:
        command += ["--set", item]
    return command


def final_scores(bench_out: Path, key: str, goal: str) -> list[float]:
    """Each seed's final `key` from a bench folder's runs; a null score (a reverse KL with no
    sample near any mode) counts as the worst possible."""
    scores = []
    for run in sorted(p for p in (bench_out / "runs").iterdir() if p.is_dir()):
        final = json.loads((run / "scores.json").read_text())["final"]
        if key not in final:
            raise SystemExit(f"claims: {run}/scores.json has no final {key!r}")
        worst = float("inf") if goal == "min" else float("-inf")
        scores.append(worst if final[key] is None else float(final[key]))
    return scores


def summary(values: list[float]) -> dict:
    finite = all(abs(v) != float("inf") for v in values)
    return {"seeds": values, "mean": statistics.fmean(values) if finite else max(values, key=abs),
            "std": statistics.pstdev(values) if len(values) > 1 and finite else 0.0}


def verdict(goal: str, baseline: dict, treatment: dict) -> str:
    if baseline["mean"] == treatment["mean"]:  # equal, or both infinitely bad
        return "does not hold"
    gain = (baseline["mean"] - treatment["mean"]) * (1 if goal == "min" else -1)
    if gain <= 0:
        return "does not hold"
    return "holds" if gain > max(baseline["std"], treatment["std"]) else "partly"


def run_claim(claim: Claim, out: Path, jobs: int, smoke: bool) -> dict:
    start = time.perf_counter()
    arms, commands = {}, []
    for label, arm in (("baseline", claim.baseline), ("treatment", claim.treatment)):
        command = bench_command(claim, arm, out / label, jobs, smoke)
        commands.append(shlex.join(["ganzoo", *command[3:]]).replace(str(REPO) + "/", ""))
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise SystemExit(f"claims: {claim.name} {label} failed: {last}")
        arms[label] = summary(final_scores(out / label, claim.key, claim.goal))
    return {"claim": claim.name, "statement": claim.statement, "paper": claim.paper, "setting": claim.setting,
            "key": claim.key, "goal": claim.goal, "baseline": {"arm": _arm_text(claim.baseline), **arms["baseline"]},
            "treatment": {"arm": _arm_text(claim.treatment), **arms["treatment"]},
            "verdict": verdict(claim.goal, arms["baseline"], arms["treatment"]),
            "commands": commands, "wall_minutes": round((time.perf_counter() - start) / 60, 1), "jobs": jobs}


def _arm_text(arm: Arm) -> str:
    return " ".join([arm.recipe, *(f"--set {s}" for s in arm.sets)])


def _cell(arm: dict) -> str:
    return f"{arm['mean']:.3g} ± {arm['std']:.2g} ({len(arm['seeds'])} seeds)"


def table(rows: list[dict]) -> str:
    """The claims page: one row per claim, then each claim's commands."""
    lines = ["# Claims", "",
             "Each method's paper claim, checked in a setting small enough to run on 2 CPU cores within an hour",
             "(both arms, all seeds). Generated by `python benchmarks/claims/run.py --table` from",
             "`benchmarks/claims/rows/*.json`; re-run a row with `python benchmarks/claims/run.py NAME --jobs 2`.",
             "A claim holds when the treatment's mean beats the baseline's by more than the larger standard",
             "deviation, partly when by less.", "",
             "| claim | paper | our setting | score | baseline | treatment | verdict | wall time |",
             "|---|---|---|---|---|---|---|---|"]
    if not rows:
        lines.append("| (no claim has been run yet) | | | | | | | |")
    for row in rows:
        better = "lower is better" if row["goal"] == "min" else "higher is better"
        lines.append(f"| **{row['claim']}**: {row['statement']} | {row['paper']} | {row['setting']} | "
                     f"{row['key']} ({better}) | `{row['baseline']['arm']}`: {_cell(row['baseline'])} | "
                     f"`{row['treatment']['arm']}`: {_cell(row['treatment'])} | **{row['verdict']}** | "
                     f"{row['wall_minutes']} min ({row['jobs']} jobs) |")
    lines += ["", "## Commands", ""]
    for row in rows:
        lines += [f"**{row['claim']}**", "", "```bash", *row["commands"], "```", ""]
    return "\n".join(lines)


def write_table() -> Path:
    rows = [json.loads(p.read_text()) for p in sorted(ROWS.glob("*.json"))]
    TABLE.write_text(table(rows))
    return TABLE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", choices=sorted(CLAIMS))
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (default 2, one thread each)")
    parser.add_argument("--out", type=Path, help="bench folders (default: a temporary folder)")
    parser.add_argument("--smoke", action="store_true", help="4 steps, one seed; writes no row")
    parser.add_argument("--table", action="store_true", help="regenerate docs/claims.md from the rows")
    args = parser.parse_args()
    if args.table:
        print(write_table())
        return
    if args.name is None:
        parser.error("name a claim, or give --table")
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        row = run_claim(CLAIMS[args.name], out / args.name, args.jobs, args.smoke)
        if args.smoke:
            print(json.dumps(row, indent=2))
            return
        ROWS.mkdir(exist_ok=True)
        (ROWS / f"{args.name}.json").write_text(json.dumps(row, indent=2) + "\n")
        print(write_table())


if __name__ == "__main__":
    main()
