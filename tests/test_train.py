"""examples/train_mnist.py, the program users run, end to end on the real data.

The command line runs as a subprocess, as a user runs it, on a few hundred
real images (MINIGRAD_DATA). Without the data the tests are skipped, unless
the environment variable CI is set: then they fail.
"""
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from minigrad import backend, models
from minigrad.checkpoint import load_meta

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPT = EXAMPLES / "train_mnist.py"
sys.path.insert(0, str(EXAMPLES))
import experiments  # noqa: E402  (examples/ is not a package)
import train_mnist  # noqa: E402
import trainlib  # noqa: E402

QUICK = ["--epochs", "1", "--eval-limit", "500"]
METRIC_KEYS = {"params", "train_loss", "val_loss", "val_accuracy", "lr", "test_accuracy",
               "seconds", "args", "command", "epochs_completed", "finished"}


def _data_dir():
    folder = Path(os.environ.get("MINIGRAD_DATA") or "missing")
    if (folder / "mnist").is_dir() and (folder / "mnist-varres.tgz").is_file():
        return str(folder)
    message = ("the real data is needed: set MINIGRAD_DATA to the folder holding mnist/ "
               "and mnist-varres.tgz")
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def data_dir():
    return _data_dir()


def run_cli(*args, timeout=120):
    """Run train_mnist.py with ``args``; returns the CompletedProcess (text output)."""
    env = dict(os.environ)
    # One BLAS thread unless the caller chose: on a shared CPU, OpenBLAS's
    # spinning threads make these small matrices many times slower.
    env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env)


def check_ok(result):
    assert result.returncode == 0, \
        f"exit code {result.returncode}\n{result.stdout}\n{result.stderr}"


def read_metrics(out):
    return json.loads((Path(out) / "metrics.json").read_text())


def weights(out):
    with np.load(Path(out) / "model.npz", allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


# ------------------------------------------------------------- end to end ---

@pytest.mark.parametrize("model", ["fixed", "varres"])
def test_a_short_run_writes_metrics_weights_and_curves(model, data_dir, tmp_path):
    out = tmp_path / "run"
    check_ok(run_cli("--model", model, "--limit", 600, *QUICK, "--out", out))
    metrics = read_metrics(out)
    assert METRIC_KEYS <= set(metrics)
    assert metrics["finished"] and metrics["epochs_completed"] == 1
    assert len(metrics["train_loss"]) == len(metrics["val_loss"]) == 1
    assert len(metrics["val_accuracy"]) == len(metrics["lr"]) == 1
    assert metrics["args"]["model"] == model and metrics["args"]["limit"] == 600
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    network = models.fixed_res_cnn() if model == "fixed" else models.var_res_cnn()
    network.load_state_dict(weights(out))  # the right names, shapes and dtypes
    assert metrics["params"] == sum(p.size for p in network.parameters())
    if model == "varres":
        assert set(metrics["test_accuracy_by_resolution"]) == {"32", "48", "64"}
    else:
        assert "test_accuracy_by_resolution" not in metrics
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert load_meta(out / "checkpoint.npz")["epoch"] == 1


def test_training_on_3000_images_reaches_90_percent(data_dir, tmp_path):
    """One epoch on 3,000 MNIST images with the default settings. Measured:
    95.0-95.7% validation accuracy (seeds 0-2); the floor leaves room for BLAS
    rounding differences between machines."""
    out = tmp_path / "run"
    check_ok(run_cli("--limit", 3000, "--epochs", 1, "--eval-limit", 2000, "--out", out))
    metrics = read_metrics(out)
    assert metrics["val_accuracy"][-1] >= 0.90
    assert metrics["test_accuracy"] >= 0.90
    assert metrics["train_loss"][-1] < 0.8


# ------------------------------------------- checkpoint, resume and failure ---

@pytest.fixture(scope="module")
def paused_and_straight(data_dir, tmp_path_factory):
    """Two runs of the same 2-epoch setting (augmented, so that its random
    numbers must be restored too): one straight through, one paused after
    epoch 1 (checkpoint only)."""
    root = tmp_path_factory.mktemp("resume")
    setting = ["--limit", 200, "--epochs", 2, "--eval-limit", 200, "--augment"]
    check_ok(run_cli(*setting, "--out", root / "straight"))
    check_ok(run_cli(*setting, "--pause-after", 1, "--out", root / "paused"))
    return root / "straight", root / "paused"


def test_a_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(paused_and_straight,
                                                                          tmp_path):
    straight, paused = paused_and_straight
    resumed = tmp_path / "resumed"
    shutil.copytree(paused, resumed)
    assert not (resumed / "model.npz").exists()
    result = run_cli("--out", resumed, "--resume")
    check_ok(result)
    assert "resuming after epoch 1 of 2" in result.stdout
    expected, got = weights(straight), weights(resumed)
    assert expected.keys() == got.keys()
    for name in expected:
        assert np.array_equal(expected[name], got[name]), name  # bitwise
    assert read_metrics(resumed)["val_loss"] == read_metrics(straight)["val_loss"]


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_checkpoint(paused_and_straight,
                                                                       tmp_path):
    run = tmp_path / "diverging"
    shutil.copytree(paused_and_straight[1], run)
    saved = (run / "checkpoint.npz").read_bytes()
    result = run_cli("--out", run, "--resume", "--lr", 1e9)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "non-finite" in result.stderr and "epoch 2, step" in result.stderr
    assert "checkpoint of epoch 1 is kept" in result.stderr
    assert (run / "checkpoint.npz").read_bytes() == saved
    assert not (run / "model.npz").exists()


def test_a_finished_run_is_never_overwritten(paused_and_straight):
    straight = paused_and_straight[0]
    before = {p.name: p.read_bytes() for p in straight.iterdir()}
    result = run_cli("--limit", 100, "--epochs", 1, "--out", straight)
    assert result.returncode == 2
    assert "already holds a run" in result.stderr and "--resume" in result.stderr
    assert {p.name: p.read_bytes() for p in straight.iterdir()} == before


def test_resume_refuses_to_change_the_training_setting(paused_and_straight):
    result = run_cli("--out", paused_and_straight[1], "--resume", "--batch-size", 8)
    assert result.returncode == 2
    assert "--batch-size 8 differs from the run being resumed (16)" in result.stderr


def test_ctrl_c_keeps_the_last_epoch_checkpoint(data_dir, tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    process = subprocess.Popen([sys.executable, str(SCRIPT), "--limit", "64", "--epochs", "1000",
                                "--eval-limit", "50", "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not (out / "checkpoint.npz").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (out / "checkpoint.npz").exists(), "no checkpoint within 60 s"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stdout + stderr
    done = load_meta(out / "checkpoint.npz")["epoch"]
    assert f"the checkpoint of epoch {done} is kept" in stderr and "--resume" in stderr
    assert read_metrics(out)["epochs_completed"] == done


# ------------------------------------------------------------------- GPU ---

@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None,
                    reason="CuPy is installed here, so the GPU may well be usable")
def test_gpu_without_cupy_is_a_clear_error_with_exit_code_2(tmp_path):
    result = run_cli("--device", "gpu", "--out", tmp_path / "run", timeout=60)
    assert result.returncode == 2
    assert "the GPU is unavailable: CuPy is not installed" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_the_gpu_path_trains_like_the_cpu_path(data_dir, tmp_path, monkeypatch):
    """In this process 'gpu' is CuPy or its CPU stand-in (see conftest), so the
    device code (one transfer per batch, augmentation and metrics on the
    device) runs here; with the stand-in the weights even match bitwise."""
    monkeypatch.setenv("MINIGRAD_DATA", data_dir)
    setting = ["--limit", "48", "--epochs", "1", "--eval-limit", "60", "--augment",
               "--model", "varres", "--log-every", "2"]
    for device in ("cpu", "gpu"):
        out = str(tmp_path / device)
        assert train_mnist.main([*setting, "--device", device, "--out", out]) == 0
    cpu, gpu = weights(tmp_path / "cpu"), weights(tmp_path / "gpu")
    stand_in = getattr(backend.gpu_module(), "is_stand_in", False)
    for name in cpu:
        if stand_in:
            assert np.array_equal(cpu[name], gpu[name]), name
        else:
            np.testing.assert_allclose(cpu[name], gpu[name], rtol=1e-3, atol=1e-5, err_msg=name)


# ----------------------------------------------------------- experiments ---

def test_experiments_write_one_table_and_one_figure(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_DATA", data_dir)
    out = tmp_path / "experiments"
    assert experiments.main(["--out", str(out), "--only", "5", "--limit", "48",
                             "--eval-limit", "48"]) == 0
    table = (out / "experiments.md").read_text()
    assert "| augmentation (fixed CNN) | no augmentation |" in table
    assert "| augmentation (fixed CNN) | augmented |" in table
    assert (out / "experiments.png").read_bytes()[:4] == b"\x89PNG"
    assert read_metrics(out / "fixed-lr0.001-bs16-augment")["args"]["augment"] is True


# ---------------------------------------------------------- small pieces ---

def test_the_one_cycle_schedule_warms_up_then_decays_to_zero():
    total, peak = 1000, 3e-3
    rates = [trainlib.learning_rate(step, total, peak, "onecycle") for step in range(total)]
    warmup = round(trainlib.WARMUP_FRACTION * total)
    assert rates[0] == pytest.approx(peak / warmup)
    assert max(rates) == pytest.approx(peak) and rates.index(max(rates)) == warmup - 1
    assert all(a <= b for a, b in zip(rates[:warmup], rates[1:warmup]))
    assert all(a >= b for a, b in zip(rates[warmup:], rates[warmup + 1:]))
    assert rates[-1] < 1e-3 * peak
    assert trainlib.learning_rate(500, total, peak, "constant") == peak


def test_plain_is_the_assignments_setting_and_rejects_contradictions():
    config = trainlib.parse_config(["--plain", "--out", "x"])
    assert (config.lr, config.schedule, config.augment) == (1e-3, "constant", False)
    with pytest.raises(trainlib.UsageError, match="--plain fixes --lr"):
        trainlib.parse_config(["--plain", "--lr", "0.01"])
    with pytest.raises(trainlib.UsageError, match="--pooling applies to --model varres"):
        trainlib.parse_config(["--model", "fixed", "--pooling", "mean"])
