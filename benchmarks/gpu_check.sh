#!/usr/bin/env bash
# One call on a CUDA machine (e.g. the lent H200): the CUDA tests, Stacked MNIST over three seeds
# with the paper's networks and R1 (the Stacked MNIST target), the whole-step CUDA-graph ceiling, benchmarks
# a-c with mixed precision off and on, then the compile option, and one summary. Stages run in that
# order of priority under one time budget (BUDGET seconds, default 500): a stage is cut to the time
# left, and skipped when under 20 s is left, so the call ends in time and keeps what it measured.
# STAGES picks stages by name (default: all), e.g. STAGES=cuda_tests,stacked.
#
# The machine has PyTorch but not ganzoo, and no network: ganzoo is put on PYTHONPATH from the
# working tree, and MNIST travels in the ignored folder .data/ (copy $GANZOO_DATA/MNIST there and
# name .data in the device tool's `carry`), the MNIST classifier in .cache-gpu/ (copy
# ~/.cache/ganzoo/classifiers there and carry it too, so the three Stacked MNIST runs need not
# train it). Usage there:  LOG=$OUT bash benchmarks/gpu_check.sh
# Dry run on a CPU:
#   DEVICE=cpu ROUNDS=1 AMP_ROUNDS=1 VANILLA_STEPS=50 DCGAN_STEPS=5 STACKED_STEPS=20 PY=python \
#   bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
export GANZOO_DATA="${GANZOO_DATA:-$PWD/.data}" PYTHONUNBUFFERED=1
export GANZOO_CACHE="${GANZOO_CACHE:-$PWD/.cache-gpu}"
PY="${PY:-python3}"
DEVICE="${DEVICE:-cuda}"
ROUNDS="${ROUNDS:-5}"            # fp32 rounds (on the H200 sandbox one round of a-c took about 2.5 min)
AMP_ROUNDS="${AMP_ROUNDS:-3}"
VANILLA_STEPS="${VANILLA_STEPS:-1500}"
DCGAN_STEPS="${DCGAN_STEPS:-400}"
BUDGET="${BUDGET:-500}"
LOG="${LOG:-/tmp/gpu_check}"
STAGES="${STAGES:-cuda_tests,stacked,graph_ceiling,bench_fp32,bench_bf16,compile}"
STACKED_STEPS="${STACKED_STEPS:-20000}"   # STACKED_LIMIT: seconds for that stage (default 300)
mkdir -p "$LOG"

# ganzoo's import names, from this tree, without installing anything
mkdir -p .gpu
ln -sfn ../ganzoo .gpu/ganzoo
ln -sfn ../plugins .gpu/ganzoo_plugins
ln -sfn ../recipes .gpu/ganzoo_recipes
export PYTHONPATH="$PWD/.gpu:$PWD/tests:${PYTHONPATH:-}"
"$PY" - <<'PY' 2>&1 | tee "$LOG/machine.txt" || exit 1
import os, torch, ganzoo
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {gpu}, {os.cpu_count()} CPU cores; ganzoo {ganzoo.__version__}")
PY

stage() {  # stage NAME SECONDS COMMAND...: run COMMAND under the budget, its output to $LOG/NAME.txt
  local name=$1 limit=$2 left=$((BUDGET - SECONDS))
  shift 2
  [[ ",$STAGES," == *",$name,"* ]] || return 0
  if (( left < 20 )); then echo "== $name: skipped (${left} s of the budget left)"; return; fi
  (( limit > left )) && limit=$left
  echo "== $name (at ${SECONDS} s, limit ${limit} s)"
  timeout "$limit" "$@" 2>&1 | tee "$LOG/$name.txt"
  echo "   rc ${PIPESTATUS[0]} after ${SECONDS} s"
}

BENCH=("$PY" benchmarks/run_all.py --only a,b,c --vanilla-steps "$VANILLA_STEPS" --dcgan-steps "$DCGAN_STEPS"
       --set device="$DEVICE")
stage cuda_tests 150 "$PY" -m pytest -q -m cuda tests/test_cuda.py -p no:cacheprovider
# pacdcgan2_r1_stacked_mnist (PacGAN's own networks, 5x5 kernels, D 64-128-256-512, G 512-256-128-64,
# R1 on D), seeds 0-2 side by side on the one GPU (`ganzoo bench --jobs 3`), scored every 2,000 steps
# as the recipe does; runs stay in /tmp (checkpoints are large)
rm -rf /tmp/stacked
stage stacked "${STACKED_LIMIT:-300}" "$PY" -m ganzoo bench pacdcgan2_r1_stacked_mnist --steps "$STACKED_STEPS" \
    --seeds 3 --jobs 3 --eval-every 2000 --metrics "[{name: stacked_mnist_modes, samples: 26000}]" \
    --set device="$DEVICE" -o /tmp/stacked
if [ -d /tmp/stacked/runs ]; then  # modes / KL at every evaluation, seed by seed, even from a cut stage
  "$PY" - <<'PY' | tee "$LOG/stacked_evals.txt"
import glob, json
for path in sorted(glob.glob("/tmp/stacked/runs/*/metrics.jsonl")):
    evals = [r for r in map(json.loads, open(path)) if "eval/kl" in r]
    print(path.split("/")[-2], "  ".join(f"{r['step']}: {r['eval/modes']:.0f} / {r['eval/kl']:.3f}" for r in evals))
PY
fi
# the ceiling a whole-step CUDA graph would give, in one process (about 30 s on the H200)
stage graph_ceiling 90 "$PY" benchmarks/graph_ceiling.py "$GANZOO_DATA" "$VANILLA_STEPS"
stage bench_fp32 270 "${BENCH[@]}" --rounds "$ROUNDS"
stage bench_bf16 150 "${BENCH[@]}" --rounds "$AMP_ROUNDS" --set train.precision=bf16
# torch.compile, eager and compiled in turn, steady-state throughput (compilation left out)
stage compile 150 "$PY" benchmarks/compile_speed.py --rounds 1 --vanilla-steps "$VANILLA_STEPS" \
    --dcgan-steps "$DCGAN_STEPS" --set device="$DEVICE"

echo "== summary (ratio = ganzoo / baseline; median over the rounds shown)"
for mode in fp32 bf16; do
  # the last table printed (run_all.py prints one after every round, so a cut stage keeps its rounds)
  [ -f "$LOG/bench_$mode.txt" ] && awk '/^\| benchmark \|/{rows=""} /^\| [abc]:/{rows=rows $0 "\n"} END{printf "%s", rows}' \
      "$LOG/bench_$mode.txt" | sed "s/^| /| $mode | /"
done
[ -f "$LOG/stacked_evals.txt" ] && cat "$LOG/stacked_evals.txt"
[ -f "$LOG/compile.txt" ] && grep -E "^\| .*yaml" "$LOG/compile.txt"
[ -f "$LOG/graph_ceiling.txt" ] && grep -E "^(eager|graph):" "$LOG/graph_ceiling.txt"
echo "total ${SECONDS} s"
