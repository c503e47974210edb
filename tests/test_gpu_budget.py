"""The GPU's read budget: every read back to the host waits for the device, so a training
step makes none, and the loss comes back once per ``--log-every`` steps.

The CPU stand-in for CuPy counts the transfers (``fake_cupy.count_transfers``); here it is
the GPU module whatever this machine has, so the counts are exact and the same everywhere.
"""
import importlib
import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from commandline import ROOT, environment

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


def the_commands_loop():
    """examples/train_mnist.py's train_epoch, imported as the command does."""
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        return importlib.import_module("train_mnist").train_epoch
    finally:
        sys.path.remove(str(ROOT / "examples"))


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
        mean = the_commands_loop()(model, optimizer, None, None, batches, config,
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
        the_commands_loop()(model, optim.SGD(model.parameters(), lr=0.01), None, None,
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
