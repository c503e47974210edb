"""Smoke tests of the benchmark harness, so that it cannot rot: the drivers
run each framework's worker in a fresh process for a step or two and write
their JSON. Nothing here asserts a speed; the checks are that the workers
run, report sane fields, and that the driver's arithmetic is the one it
claims (ratios recomputed from the per-round figures).
"""
import gzip
import importlib.util
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


def run(script, *arguments, **env):
    environment = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, str(BENCHMARKS / script), *map(str, arguments)],
                          capture_output=True, text=True, env=environment, cwd=ROOT, timeout=120)


def check_ratio(summary):
    """The driver's ratio is the median of minigrad / PyTorch over the rounds."""
    assert summary["ratio_min"] <= summary["ratio"] <= summary["ratio_max"]
    assert summary["minigrad"] > 0 and summary["torch"] > 0


def test_step_driver_runs_both_workers_and_reports_their_ratio(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "step.json"
    done = run("step.py", "--setting", "varres-b4-8,12", "--rounds", 1, "--steps", 2,
               "--warmup", 1, "--json", out)
    assert done.returncode == 0, done.stderr
    assert "| variable, batch 4, mixed 8/12 |" in done.stdout
    result = json.loads(out.read_text())
    (row,) = result["results"]
    (one_round,) = row["rounds"]
    for framework in ("minigrad", "torch"):
        worker = one_round[framework]
        assert worker["framework"] == framework and worker["steps"] == 2
        assert worker["ms"] > 0 and worker["peak_mib"] >= 0
    assert one_round["minigrad"]["tracemalloc_mib"] > 0
    assert not one_round["minigrad"]["torch_imported"]  # each framework alone in its process
    check_ratio(row["time_ms"])
    assert row["time_ms"]["ratio"] == pytest.approx(
        one_round["minigrad"]["ms"] / one_round["torch"]["ms"], rel=1e-12)


def write_idx(path, array, magic):
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in array.shape))
        f.write(array.astype(np.uint8).tobytes())


def test_epoch_driver_trains_and_validates_both_frameworks(tmp_path):
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    (tmp_path / "mnist").mkdir()
    write_idx(tmp_path / "mnist" / "train-images-idx3-ubyte.gz",
              rng.integers(0, 256, (60, 28, 28)), 2051)
    write_idx(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, 60), 2049)
    out = tmp_path / "epoch.json"
    done = run("epoch.py", "--limit", 20, "--batch", 8, "--rounds", 1, "--json", out,
               MINIGRAD_DATA=str(tmp_path))
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    (one_round,) = result["per_round"]
    for framework in ("minigrad", "torch"):
        worker = one_round[framework]
        assert (worker["train_images"], worker["val_images"]) == (20, 4)
        assert 0 < worker["load_s"] + worker["train_s"] + worker["val_s"] <= worker["total_s"]
    for phase in ("total_s", "load_s", "train_s", "val_s", "setup_s"):
        check_ratio(result["summary"][phase])


def test_epoch_driver_names_missing_data_before_any_work(tmp_path):
    done = run("epoch.py", "--rounds", 1, MINIGRAD_DATA=str(tmp_path / "nowhere"))
    assert done.returncode != 0
    assert "epoch.py: MNIST file(s) not found" in done.stderr
    assert "MINIGRAD_DATA" in done.stderr


def test_a_bad_setting_is_named():
    done = run("step.py", "--setting", "fixed-b16-32", "--rounds", 1)
    assert done.returncode == 2
    assert "setting 'fixed-b16-32': the fixed network takes 28x28 images only" in done.stderr


def test_gpu_without_cupy_says_why():
    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed here")
    for script in ("step.py", "scaling.py"):
        done = run(script, "--device", "gpu")
        assert done.returncode == 1
        assert (f"{script} --device gpu: minigrad cannot use the GPU: the GPU is unavailable: "
                "CuPy is not installed") in done.stderr


def test_versus_alternates_two_trees_and_reports_their_ratio():
    done = run("versus.py", ROOT, ROOT, "--setting", "fixed-b2-28", "--rounds", 2, "--steps", 1)
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("| fixed-b2-28 |"))
    ms_a, ms_b, ratio = row.split("|")[2:5]
    assert float(ms_a) > 0 and float(ms_b) > 0 and float(ratio.split()[0]) > 0


def test_versus_refuses_a_folder_without_minigrad(tmp_path):
    done = run("versus.py", tmp_path, ROOT)
    assert done.returncode == 2 and "not a minigrad source tree" in done.stderr


def test_conv_floor_times_the_networks_convolutions_against_pytorchs(tmp_path):
    pytest.importorskip("torch")
    from minigrad import models, nn
    out = tmp_path / "floor.json"
    done = run("conv_floor.py", "--setting", "fixed-b2-28", "--rounds", 1, "--steps", 1,
               "--json", out)
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())["results"]["fixed-b2-28"]
    convolutions = [m for m in models.fixed_res_cnn().modules() if isinstance(m, nn.Conv2d)]
    assert [tuple(row["shape"]) for row in rows] == [
        (2, conv.weight.shape[1], conv.weight.shape[0], size)
        for conv, size in zip(convolutions, (28, 14, 7))]
    for row in rows:
        products = [row["minigrad"][key] for key in ("W'U", "dY'Uᵀ", "W'ᵀdY'") if key in row["minigrad"]]
        assert row["products_ms"] == pytest.approx(sum(products), rel=1e-12)
        assert row["torch_conv_ms"] > 0 and row["unfold_fold_ms"] > 0
    assert "W'ᵀdY'" not in rows[0]["minigrad"]  # the image needs no gradient
    assert "| all three |" in done.stdout


def test_a_benchmark_imported_by_python_c_with_blas_overrides_set_still_runs():
    """A machine that sets OPENBLAS_CORETYPE: a script restarts itself without it, but a
    `python -c` program importing a benchmark (as tests do) has no script to restart."""
    code = "import sys; sys.path.insert(0, 'benchmarks'); import step; print('imported')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_CORETYPE="Haswell"),
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"
