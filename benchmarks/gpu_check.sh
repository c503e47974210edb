#!/usr/bin/env bash
# The first contact with a real GPU, as one short script (under 8 minutes): run it on a
# machine with a CUDA GPU, from the repository root, with the test venv, CuPy and a CUDA
# build of PyTorch installed (pip install -e '.[test,examples,gpu]'), and MNIST where
# MINIGRAD_DATA says. Each step prints what it found and writes it under $OUT (default
# ./gpu-check); besides, CuPy compiles its kernels into a temporary folder, shared by the steps.
#
# On a machine without a usable GPU it stops at step 1 with one line on stderr (why the GPU
# is unavailable, as minigrad's GPUUnavailableError says it) and exit status 1.
set -uo pipefail
OUT="${OUT:-gpu-check}"
PY="${PY:-.venv/bin/python}"
mkdir -p "$OUT"

echo "== 1. readiness: CuPy, the device, a kernel, a matmul"
if ! $PY - > "$OUT/ready.txt" 2>&1 <<'EOF'
import sys

from minigrad import backend

try:
    gpu = backend.gpu_module()
except backend.GPUUnavailableError as error:
    sys.exit(f"gpu_check.sh: {error}")
print(f"{gpu.cuda.runtime.getDeviceCount()} device(s) ready; CuPy {gpu.__version__}")
EOF
then
  tail -n 1 "$OUT/ready.txt" >&2
  exit 1
fi
cat "$OUT/ready.txt"
export CUPY_CACHE_DIR="${CUPY_CACHE_DIR:-$(mktemp -d)}"  # compile each kernel once, not per process
(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || true) > "$OUT/nvidia-smi.txt"

echo "== 2. the 'gpu' half of every op test, on the real GPU ('gpu' is CuPy when it works)"
CI=1 HYPOTHESIS_PROFILE=dev timeout 140 $PY -m pytest -q -x -p no:cacheprovider -k gpu \
  tests/test_ops_basic.py tests/test_conv.py tests/test_pool.py tests/test_loss.py \
  tests/test_torch_face.py tests/test_backend.py tests/test_gpu_budget.py > "$OUT/tests.txt" 2>&1
tail -n 15 "$OUT/tests.txt"

echo "== 3. one short training run on the GPU"
timeout 80 $PY examples/train_mnist.py --device gpu --limit 2000 --epochs 1 --eval-limit 1000 \
  --out "$OUT/run" > "$OUT/train.txt" 2>&1
tail -n 5 "$OUT/train.txt"

echo "== 4. the training step, CuPy against PyTorch CUDA (peak memory: live allocations, both)"
timeout 110 $PY benchmarks/step.py --device gpu --rounds 2 --steps 20 --warmup 3 \
  --json "$OUT/step-gpu.json" > "$OUT/step.txt" 2>&1
tail -n 8 "$OUT/step.txt"

echo "== 5. the batch sweep, 16 to 1,024: where kernel launches bound a step"
timeout 110 $PY benchmarks/step.py --device gpu --batch-sweep --rounds 1 --steps 10 --warmup 3 \
  --json "$OUT/step-gpu-sweep.json" > "$OUT/sweep.txt" 2>&1
tail -n 22 "$OUT/sweep.txt"
echo "results in $OUT"
