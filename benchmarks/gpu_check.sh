#!/usr/bin/env bash
# The first contact with a real GPU, as one short script (about 5 minutes): run it on a
# machine with a CUDA GPU, from the repository root, with the test venv and CuPy installed
# (pip install -e '.[test,examples,gpu]'). Each step prints what it found; nothing is
# written outside $OUT (default ./gpu-check).
set -uo pipefail
OUT="${OUT:-gpu-check}"
mkdir -p "$OUT"
PY="${PY:-.venv/bin/python}"
echo "== 1. readiness: CuPy, the device, a kernel, a matmul"
$PY -c "from minigrad import backend; print(backend.gpu_module().cuda.runtime.getDeviceCount(), 'device(s) ready')" 2>&1 | tee "$OUT/ready.txt"
echo "== 2. every op test on the real GPU ('gpu' is CuPy when it works)"
CI=1 HYPOTHESIS_PROFILE=dev timeout 600 $PY -m pytest -q -x -p no:cacheprovider \
  tests/test_ops_basic.py tests/test_conv.py tests/test_pool.py tests/test_loss.py \
  tests/test_torch_face.py tests/test_backend.py 2>&1 | tail -15 | tee "$OUT/tests.txt"
echo "== 3. one short training run on the GPU"
timeout 600 $PY examples/train_mnist.py --device gpu --limit 2000 --epochs 1 --eval-limit 1000 \
  --out "$OUT/run" 2>&1 | tail -5 | tee "$OUT/train.txt"
echo "== 4. the training step, CuPy against PyTorch CUDA"
timeout 900 $PY benchmarks/step.py --device gpu --rounds 3 --json "$OUT/step-gpu.json" 2>&1 \
  | tail -8 | tee "$OUT/step.txt"
