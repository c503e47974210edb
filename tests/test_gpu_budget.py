"""The GPU's read budget: every read back to the host waits for the device, so a training
step makes none, and the loss comes back once per ``--log-every`` steps.

The CPU stand-in for CuPy counts the transfers (``fake_cupy.count_transfers``); here it is
the GPU module whatever this machine has, so the counts are exact and the same everywhere.
"""
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from commandline import ROOT, environment, the_commands_train_epoch

import minigrad
from minigrad import backend, models, optim
from minigrad.testing import fake_cupy

STEPS, LOG_EVERY = 6, 3


@pytest.fixture
def stand_in_gpu():
    """The stand-in as the GPU module for one test, whatever the GPU module was."""
    previous = backend.gpu_module()
    backend.set_gpu_module(fake_cupy)
    yield
    backend.set_gpu_module(previous)


def mnist_like_batches(count, batch=4, seed=0):
    """``count`` batches of 28×28 images on the host, as (images, labels)."""
    rng = np.random.default_rng(seed)
    return [(minigrad.tensor(rng.random((batch, 1, 28, 28), dtype=np.float32)),
             rng.integers(0, 10, batch)) for _ in range(count)]


def transfers_before_each_step(batches, counts):
    """``batches`` as they are taken, noting (reads, copies) so far as each step begins."""
    seen = []

    def watched():
        for batch in batches:
            seen.append((counts.reads, counts.copies))
            yield batch
    return watched(), seen


def test_a_training_step_reads_nothing_back_and_the_loss_once_per_log_interval(stand_in_gpu):
    minigrad.manual_seed(0)
    model = models.fixed_res_cnn().to("gpu")
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    config = SimpleNamespace(device="gpu", log_every=LOG_EVERY, label_smoothing=0.0)
    logged = []
    with fake_cupy.count_transfers() as counts:
        batches, seen = transfers_before_each_step(mnist_like_batches(STEPS), counts)
        mean = the_commands_train_epoch()(model, optimizer, None, None, batches, config,
                                   lambda *point: logged.append(point))
    seen.append((counts.reads, counts.copies))  # after the last step (and the epoch's mean)
    reads = [after[0] - before[0] for before, after in zip(seen, seen[1:])]
    copies = [after[1] - before[1] for before, after in zip(seen, seen[1:])]
    assert reads == [1 if step % LOG_EVERY == 0 else 0 for step in range(1, STEPS + 1)]
    assert copies == [2] * STEPS  # the images, and the labels (checked on the host first)
    assert [point[0] for point in logged] == [3, 6] and np.isfinite(mean)


def test_the_epochs_mean_reads_back_only_what_is_left(stand_in_gpu):
    minigrad.manual_seed(0)
    model = models.fixed_res_cnn().to("gpu")
    config = SimpleNamespace(device="gpu", log_every=LOG_EVERY, label_smoothing=0.0)
    with fake_cupy.count_transfers() as counts:
        the_commands_train_epoch()(model, optim.SGD(model.parameters(), lr=0.01), None, None,
                            mnist_like_batches(STEPS + 1), config)
    assert counts.reads == STEPS // LOG_EVERY + 1  # two intervals, then the one step left


TIMED_GPU_STEPS = """
import json, sys
sys.path.insert(0, "benchmarks")
from minigrad import backend
from minigrad.testing import fake_cupy
backend.set_gpu_module(fake_cupy)
import step
batches = step.make_batches(4, [16, 24])
one_step, data, sync = step.minigrad_stepper("varres", batches, "gpu")
step.run_cycle(one_step, data, sync)  # the warm-up
with fake_cupy.count_transfers() as counts:
    for _ in range(3):
        step.run_cycle(one_step, data, sync)
print(json.dumps({"steps": 3 * len(data), "reads": counts.reads, "copies": counts.copies}))
"""


def test_the_benchmarks_timed_gpu_step_reads_nothing_back():
    done = subprocess.run([sys.executable, "-c", TIMED_GPU_STEPS], capture_output=True, text=True,
                          cwd=ROOT, env=environment(), timeout=120)
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts == {"steps": 6, "reads": 0, "copies": 6}  # one copy a step: the labels


# ----- no usable GPU: one clear line, never a traceback ---------------------------------------

# This machine's `import cupy` gives the stand-in, failing as CuPy does without a driver.
CUPY_WITHOUT_A_DEVICE = """import sys

from minigrad.testing import fake_cupy

fake_cupy.set_failure("no-device")
sys.modules["cupy"] = fake_cupy
"""
NO_DEVICE = ("the GPU is unavailable: CuPy found no usable CUDA device: "
             "cudaErrorInsufficientDriver: CUDA driver version is insufficient")


@pytest.fixture
def machine_without_a_device(tmp_path):
    """The environment of a command on a machine with CuPy but no usable GPU."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "cupy.py").write_text(CUPY_WITHOUT_A_DEVICE)
    env = environment()
    env["PYTHONPATH"] = f"{shim}{os.pathsep}{env['PYTHONPATH']}"
    return env


def only_line(done):
    """The one line a refusing command wrote to stderr (failing if there are more)."""
    assert done.returncode != 0 and "Traceback" not in done.stderr + done.stdout, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize("command, start", [
    (["examples/train_mnist.py", "--device", "gpu", "--epochs", "1"], "train_mnist.py: error: "),
    (["examples/train_mnist.py", "--device", "gpu", "--distributed", "--epochs", "1"],
     "train_mnist.py: error: "),
    (["benchmarks/step.py", "--device", "gpu"], "step.py --device gpu: minigrad cannot use the GPU: "),
    (["benchmarks/step.py", "--device", "gpu", "--batch-sweep"],
     "step.py --device gpu: minigrad cannot use the GPU: "),
], ids=["train", "train-distributed", "step", "step-sweep"])
def test_gpu_commands_without_a_device_say_why_in_one_line(machine_without_a_device, tmp_path,
                                                             command, start):
    done = subprocess.run([sys.executable, *command, *(["--out", str(tmp_path / "run")]
                                                        if "train_mnist" in command[0] else [])],
                          capture_output=True, text=True, cwd=ROOT, env=machine_without_a_device,
                          timeout=120)
    line = only_line(done)
    assert line.startswith(start + NO_DEVICE) or (
        "--distributed" in command and line.startswith(start) and "mpi4py" in line), line


def test_gpu_check_without_a_device_says_why_in_one_line(machine_without_a_device, tmp_path):
    out = tmp_path / "out"
    env = dict(machine_without_a_device, OUT=str(out), PY=sys.executable)
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 1
    assert only_line(done) == f"gpu_check.sh: {NO_DEVICE} for CUDA runtime version"
    assert sorted(path.name for path in out.iterdir()) == ["ready.txt"]  # nothing ran after


def test_the_batch_sweep_is_for_the_gpu():
    done = subprocess.run([sys.executable, "benchmarks/step.py", "--batch-sweep"], capture_output=True,
                          text=True, cwd=ROOT, env=environment(), timeout=120)
    assert done.returncode == 2
    assert "step.py: error: --batch-sweep is for the driver with --device gpu" in done.stderr


# ----- the fair peak memory: live allocations, as torch.cuda.max_memory_allocated --------------

LIVE_MEMORY = """
import json, sys, types
sys.path.insert(0, "benchmarks")
import common
gpu = types.SimpleNamespace(cuda=types.SimpleNamespace(MemoryHook=object))  # CuPy's base class
hook = common.live_memory_hook(gpu)
seen = []
for event, size in [("malloc", 512), ("malloc", 2048), ("free", 512), ("free", 4096),
                    ("malloc", 1024), ("malloc", 512)]:
    if event == "malloc":
        hook.malloc_postprocess(device_id=0, size=size - 1, mem_size=size, mem_ptr=1, pmem_id=2)
    else:
        hook.free_postprocess(device_id=0, mem_size=size, mem_ptr=1, pmem_id=2)
    seen.append(hook.in_use)
print(json.dumps({"in_use": seen, "peak": hook.peak, "name": hook.name}))
"""


def test_the_gpu_peak_counts_live_blocks_not_the_pools_cache():
    """Blocks freed before the hook began (4096 here) lower what is in use, as in PyTorch's
    count; the peak is the highest sum of live blocks, whatever the pool keeps cached."""
    done = subprocess.run([sys.executable, "-c", LIVE_MEMORY], capture_output=True, text=True,
                          cwd=ROOT, env=environment(), timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["in_use"] == [512, 2560, 2048, -2048, -1024, -512]
    assert result["peak"] == 2560 and result["name"] == "LiveMemory"
