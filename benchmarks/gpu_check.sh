#!/usr/bin/env bash
# One call on a CUDA machine (e.g. the lent H200): the CUDA tests, then benchmarks a-c with
# mixed precision off and on, and one summary. Planned to finish within 8 minutes.
#
# The machine has PyTorch but not ganzoo, and no network: ganzoo is put on PYTHONPATH from the
# working tree, and MNIST travels in the ignored folder .data/ (copy $GANZOO_DATA/MNIST there and
# name .data in the device tool's `carry`). Usage there:  bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
export GANZOO_DATA="${GANZOO_DATA:-$PWD/.data}" PYTHONUNBUFFERED=1
export GANZOO_CACHE="${GANZOO_CACHE:-$PWD/.cache-gpu}"
PY=python3

# ganzoo's import names, from this tree, without installing anything
mkdir -p .gpu
ln -sfn ../ganzoo .gpu/ganzoo
ln -sfn ../plugins .gpu/ganzoo_plugins
ln -sfn ../recipes .gpu/ganzoo_recipes
export PYTHONPATH="$PWD/.gpu:$PWD/tests:${PYTHONPATH:-}"
$PY - <<'PY' || exit 1
import torch, ganzoo
print(f"torch {torch.__version__}, CUDA {torch.cuda.is_available()}, "
      f"{torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'}; ganzoo {ganzoo.__version__}")
PY

echo "== CUDA tests"
timeout 180 $PY -m pytest -q -m cuda tests/test_cuda.py -p no:cacheprovider 2>&1 | tail -15

echo "== benchmarks a-c, fp32"
timeout 200 $PY benchmarks/run_all.py --rounds 3 --only a,b,c --vanilla-steps 3000 --dcgan-steps 600 \
    --set device=cuda 2>&1 | tee /tmp/fp32.txt | grep -E "^\||median"
echo "== benchmarks a-c, bf16 autocast"
timeout 200 $PY benchmarks/run_all.py --rounds 3 --only a,b,c --vanilla-steps 3000 --dcgan-steps 600 \
    --set device=cuda --set train.precision=bf16 2>&1 | tee /tmp/bf16.txt | grep -E "^\||median"

echo "== summary (ratio = ganzoo / baseline, median of 3 rounds)"
for mode in fp32 bf16; do
  grep -E "^\| [abc]:" /tmp/$mode.txt | sed "s/^| /| $mode | /"
done
