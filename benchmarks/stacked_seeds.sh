#!/usr/bin/env bash
# Stacked MNIST over several seeds at once, one process per seed, then one table of modes / KL at
# each evaluation (the recipe evaluates every 5k steps) and the training time of each run.
#
#   bash benchmarks/stacked_seeds.sh OUT_DIR [--set KEY=VALUE ...]
#
# Env: SEEDS (default "0 1 2"), RECIPE (default pacdcgan2_stacked_mnist), THREADS (CPU threads per
# process, default 1), PY (default python3), LIMIT (seconds; a run still going then is stopped, and
# the table keeps the evaluations it made). On a CPU, run as many seeds as cores. Run folders go to
# OUT_DIR/seed-N, and the table to OUT_DIR/table.md. Needs ganzoo importable and GANZOO_DATA set.
set -uo pipefail
out=${1:?usage: stacked_seeds.sh OUT_DIR [--set KEY=VALUE ...]}
shift
SEEDS="${SEEDS:-0 1 2}"
RECIPE="${RECIPE:-pacdcgan2_stacked_mnist}"
PY="${PY:-python3}"
export OMP_NUM_THREADS="${THREADS:-1}"
mkdir -p "$out"

for seed in $SEEDS; do
  ${LIMIT:+timeout "$LIMIT"} "$PY" -m ganzoo run "$RECIPE" --out "$out/seed-$seed" --no-progress --set seed="$seed" "$@" \
      > "$out/seed-$seed.log" 2>&1 &
done
wait

"$PY" - "$out" $SEEDS <<'PY' | tee "$out/table.md"
import json, sys
from pathlib import Path
out, seeds = Path(sys.argv[1]), sys.argv[2:]
rows, steps = {}, set()
for seed in seeds:
    run = out / f"seed-{seed}"
    evals = {}
    if (run / "metrics.jsonl").exists():
        for line in (run / "metrics.jsonl").read_text().splitlines():
            r = json.loads(line)
            if "eval/kl" in r:
                evals[r["step"]] = f"{r['eval/modes']:.0f} / {r['eval/kl']:.3f}"
    summary = run / "summary.json"
    minutes = f"{json.loads(summary.read_text())['train_seconds'] / 60:.1f}" if summary.exists() else "did not finish"
    rows[seed] = (evals, minutes)
    steps |= set(evals)
steps = sorted(steps)
if not steps:
    print("(no evaluation finished)")
print("| seed | " + " | ".join(f"{s // 1000}k" if s % 1000 == 0 else str(s) for s in steps) + " | training minutes |")
print("|---" * (len(steps) + 2) + "|")
for seed, (evals, minutes) in rows.items():
    print(f"| {seed} | " + " | ".join(evals.get(s, "") for s in steps) + f" | {minutes} |")
PY
