"""examples/train_mnist.py with bad input (issue 12): every case is one clear
error line, never a traceback, and nothing the user owns is changed.

The command runs as a subprocess, as a user runs it, on tiny data made here:
60 random MNIST images per split, a handful of mnist-varres PNGs. Downloads
go to a mirror that does not exist ($MINIGRAD_MNIST_MIRROR), so nothing is
fetched from the network. docs/errors.md lists every case and its test.
"""
import gzip
import hashlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from commandline import (
    CTRL_C_WHILE_DECODING,
    ROOT,
    SCRIPT,
    check_ok,
    check_refused,
    environment,
    run_cli,
    start_cli,
)
from datafiles import (
    blank_png,
    idx_bytes,
    png_bytes,
    real_data_dir,
    small_varres_files,
    write_file,
    write_small_mnist,
    write_varres_folder,
    write_varres_tar,
)
from test_data_safety import compressible_idx
from test_distributed import mpiexec_or_skip

import minigrad
from minigrad import models
from minigrad.checkpoint import load, load_meta, save
from minigrad.fileio import TEMP_MARK

TINY = ["--val-size", 20, "--epochs", 1, "--log-every", 1]
HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
FINAL_FILES = {"checkpoint.npz", "metrics.json", "model.npz", "curves.png"} - \
    (set() if HAVE_MATPLOTLIB else {"curves.png"})
INTERNAL_NAMES = ("_int", "_float", "positive_", "non_negative", "SimpleNamespace", "Traceback")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """No download can reach the network: the mirror is a folder that does not exist."""
    return environment(MINIGRAD_MNIST_MIRROR=tmp_path_factory.mktemp("mirror") / "none")


@pytest.fixture(scope="module")
def tiny_mnist(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-mnist")
    write_small_mnist(folder / "mnist", count=60)
    return folder


@pytest.fixture(scope="module")
def finished_run(tiny_mnist, env, tmp_path_factory):
    """A finished one-epoch run on the tiny MNIST data."""
    out = tmp_path_factory.mktemp("finished") / "run"
    check_ok(run_cli("--data-dir", tiny_mnist, *TINY, "--out", out, env=env))
    return out


def contents(folder):
    """{name: bytes} of every file in ``folder`` (and below), to prove nothing changed."""
    folder = Path(folder)
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def copy_run(run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    return copy


def temporaries(folder):
    return [path.name for path in Path(folder).rglob(f"*{TEMP_MARK}*")]


def start_long_run(tiny_mnist, out, env):
    """A run of 3,000 epochs into ``out``, started (stop it yourself)."""
    return start_cli("--data-dir", tiny_mnist, "--val-size", 20, "--epochs", 3000, "--out", out,
                     env=env)


def wait_for(path, seconds=60):
    """Wait until ``path`` exists (at most ``seconds``)."""
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def dead_pid():
    """The id of a process that has ended."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


# ------------------------------------------------------------------ options ---

@pytest.mark.parametrize("args, message", [
    (["--plain", "--lr", "0.01"], "--plain fixes --lr"),
    (["--model", "fixed", "--pooling", "mean"], "--pooling applies to --model varres"),
    (["--seed", "-1"], "argument --seed: expected a non-negative integer, got '-1'"),
    (["--epochs", "two"], "argument --epochs: expected a positive integer, got 'two'"),
    (["--batch-size", "0"], "argument --batch-size: expected a positive integer, got '0'"),
    (["--val-size", "0"], "argument --val-size: expected a positive integer, got '0'"),
    (["--lr", "nan"], "argument --lr: expected a positive number, got 'nan'"),
    (["--lr", "-1"], "argument --lr: expected a positive number, got '-1'"),
    (["--log-every", "1.5"], "argument --log-every: expected a positive integer, got '1.5'"),
    (["--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    (["--model", "varres", "--redownload"], "--redownload applies to MNIST"),
    (["--cache-dir", "cache"], "--cache-dir applies to mnist-varres"),
    (["--redownload", "--distributed"], "--redownload replaces files that every process"),
    (["--resume"], "--resume needs --out"),
    (["--plain", "--ema", "0.99"], "--plain fixes --ema"),
    (["--label-smoothing", "1"], "argument --label-smoothing: expected a number in [0, 1), got '1'"),
    (["--ema", "1.5"], "argument --ema: expected a number in [0, 1), got '1.5'"),
    (["--weight-decay", "-0.1"],
     "argument --weight-decay: expected a non-negative number, got '-0.1'"),
    (["--data-dir", ""], "argument --data-dir: expected a folder, got ''"),  # issue 21: before,
    (["--cache-dir", " "], "argument --cache-dir: expected a folder, got ' '"),  # the cwd
], ids=lambda value: value if isinstance(value, str) else " ".join(value))
def test_bad_options_are_refused_naming_the_option(args, message, tmp_path, env):
    out = [] if args == ["--resume"] else ["--out", tmp_path / "run"]
    result = run_cli(*args, *out, env=env)
    line = check_refused(result, message)
    assert result.stderr.strip() == line  # one line: the cause, not argparse's usage first
    assert not any(name in result.stderr for name in INTERNAL_NAMES), result.stderr
    assert not (tmp_path / "run").exists()


def test_a_validation_split_larger_than_the_data_names_the_option_and_folder(tiny_mnist, env,
                                                                             tmp_path):
    result = run_cli("--data-dir", tiny_mnist, "--val-size", 1000, "--out", tmp_path / "run",
                     env=env)
    check_refused(result, "cannot load the data: --val-size must be between 0 and 60, the "
                          f"number of images in the MNIST training split in {tiny_mnist}; "
                          "got 1,000")


def test_missing_data_is_one_clear_error(env, tmp_path):
    result = run_cli("--data-dir", tmp_path / "empty", "--out", tmp_path / "run", env=env)
    line = check_refused(result, "cannot load the data: MNIST file(s) not found")
    # The cause first, in one line (the places looked in and the mirrors tried come after).
    assert f"not found: train-images-idx3-ubyte, train-labels-idx1-ubyte, in {tmp_path / 'empty'}"\
        in line and "and the download failed: could not download train-images-idx3-ubyte.gz" \
        in line and "none/train-images-idx3-ubyte.gz: " in line
    assert "--data-dir" in result.stderr and "Looked in:" in result.stderr


def test_random_bytes_inside_a_gzip_file_are_reported_as_a_corrupt_gzip_file(tiny_mnist, env,
                                                                              tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_mnist, data)
    whole = gzip.compress(compressible_idx(count=60))
    middle = len(whole) // 2
    noise = np.random.default_rng(0).integers(1, 256, 16, dtype=np.uint8).tobytes()
    damaged = bytes(a ^ b for a, b in zip(whole[middle:middle + 16], noise))
    images = data / "mnist" / "train-images-idx3-ubyte.gz"
    images.write_bytes(whole[:middle] + damaged + whole[middle + 16:])
    check_refused(run_cli("--data-dir", data, "--out", tmp_path / "run", env=env),
                  f"cannot load the data: {images}: corrupt gzip file (CRC check failed")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its permissions")
def test_an_unreadable_data_file_is_named(tiny_mnist, env, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_mnist, data)
    (data / "mnist" / "train-labels-idx1-ubyte.gz").chmod(0)
    check_refused(run_cli("--data-dir", data, "--out", tmp_path / "run", env=env),
                  "cannot load the data: ", "train-labels-idx1-ubyte.gz: Permission denied")


# -------------------------------------------- the user's own MNIST file (1) ---

LABELS = "t10k-labels-idx1-ubyte"


def test_a_users_mnist_file_failing_its_checksum_is_kept_and_redownload_moves_it_aside(tmp_path):
    """Real files and checksums: the edited labels stop the run (a missing file
    would be downloaded next to them); --redownload fetches a verified copy and
    keeps the user's as <name>.gz.old."""
    real = real_data_dir() / "mnist"
    with gzip.open(real / (LABELS + ".gz"), "rb") as stream:
        genuine = bytearray(stream.read())
    genuine[8] = (genuine[8] + 1) % 10  # one label edited
    mine = write_file(tmp_path / "data" / "mnist" / (LABELS + ".gz"), bytes(genuine), True)
    before = mine.read_bytes()
    env = environment(MINIGRAD_MNIST_MIRROR=real.resolve().as_uri())
    quick = ["--data-dir", tmp_path / "data", "--limit", 64, "--eval-limit", 64, *TINY]
    result = run_cli(*quick, "--out", tmp_path / "run", env=env, timeout=300)
    check_refused(result, f"{mine}: this is not the published {LABELS}.gz",
                  f"is {hashlib.md5(genuine).hexdigest()}, expected "
                  "27ae3e4e09519cfbb04c329615203637", "--redownload")
    assert mine.read_bytes() == before

    check_ok(run_cli(*quick, "--redownload", "--out", tmp_path / "run2", env=env, timeout=300))
    assert mine.with_name(LABELS + ".gz.old").read_bytes() == before
    assert mine.read_bytes() == (real / (LABELS + ".gz")).read_bytes()


# ----------------------------------------------------- the run directory (2, 4) ---

def test_a_new_run_never_writes_into_a_folder_holding_other_files(finished_run, env, tmp_path):
    users = tmp_path / "mine"
    users.mkdir()
    (users / "curves.png").write_bytes(b"my own plot")
    (users / "notes.txt").write_text("mine")
    check_refused(run_cli("--out", users, env=env), "holds other files (curves.png", "new or "
                  "empty folder")
    assert contents(users) == {"curves.png": b"my own plot", "notes.txt": b"mine"}

    before = contents(finished_run)
    check_refused(run_cli("--out", finished_run, env=env), "already holds a run", "--resume")
    assert contents(finished_run) == before


@pytest.mark.parametrize("case", ["file", "below a file", "read-only folder"])
def test_an_out_that_cannot_be_written_is_refused_before_the_data_loads(case, env, tmp_path):
    """The data folder does not exist: had the data been loaded first, the error
    would be about the data."""
    owned = tmp_path / "owned"
    owned.write_text("mine")
    out, message = {"file": (owned, f"--out {owned} is a file, not a folder"),
                    "below a file": (owned / "run", f"cannot write into --out {owned / 'run'}: "
                                                    "Not a directory"),
                    "read-only folder": (tmp_path / "locked", "Permission denied")}[case]
    if case == "read-only folder":
        if os.geteuid() == 0:
            pytest.skip("root writes into a read-only folder")
        out.mkdir(mode=0o555)
    result = run_cli("--data-dir", tmp_path / "no-data", "--out", out, env=env)
    check_refused(result, message)
    assert "loading data" not in result.stdout
    assert owned.read_text() == "mine"


@pytest.mark.parametrize("blocked", ["metrics.json", "model.npz"])
def test_a_write_error_after_training_says_which_checkpoint_is_kept(blocked, finished_run,
                                                                    tiny_mnist, env, tmp_path):
    """A resumed run trains epoch 2, and then cannot write one of its files (a
    folder is in the way, as a full disk would stop it): the message names the
    file and the checkpoint that is kept, read from the file itself."""
    run = copy_run(finished_run, tmp_path)
    (run / blocked).unlink()
    (run / blocked).mkdir()
    result = run_cli("--data-dir", tiny_mnist, "--out", run, "--resume", "--epochs", 2, env=env)
    kept = f"the checkpoint of epoch 2 is kept in {run / 'checkpoint.npz'}"
    line = check_refused(result, "cannot write the run's files (",
                         f"{run / blocked}: Is a directory); {kept}", code=1)
    assert line == result.stderr.strip().splitlines()[-1]
    assert load_meta(run / "checkpoint.npz")["epoch"] == 2
    assert (run / blocked).is_dir() and not any((run / blocked).iterdir())
    if blocked == "model.npz":
        assert not json.loads((run / "metrics.json").read_text())["finished"]
    assert not temporaries(run)


# ------------------------------------------------- odd mnist-varres images (5) ---

def test_varres_images_of_unusable_size_are_skipped_with_a_count(env, tmp_path):
    files = {name: png_bytes(array) for name, array in small_varres_files().items()}
    odd = {"mnist-varres/train/3/900001.png": blank_png(2, 2),
           "mnist-varres/train/4/900002.png": blank_png(600, 600),
           "mnist-varres/train/5/900003.png": blank_png(14_000, 14_000),
           "mnist-varres/test/1/900004.png": blank_png(3, 3)}
    data = tmp_path / "data"
    data.mkdir()
    write_varres_tar(data / "mnist-varres.tgz", {**files, **odd})
    cache = tmp_path / "cache"
    result = run_cli("--model", "varres", "--data-dir", data, "--cache-dir", cache, "--val-size",
                     4, "--epochs", 1, "--out", tmp_path / "run", env=env)
    check_ok(result)
    assert ("skipped 3 train image(s) with a side outside 8-512 pixels (load_varres min_size / "
            "max_size): train/3/900001.png (2 x 2), train/4/900002.png (600 x 600), "
            "train/5/900003.png (14000 x 14000)") in result.stderr
    assert "skipped 1 test image(s)" in result.stderr
    assert "images: train 8 (" in result.stdout and "validation 4 (" in result.stdout
    assert os.listdir(data) == ["mnist-varres.tgz"]  # the cache went to --cache-dir
    assert len(list(cache.glob("mnist-varres-*.npz"))) == 2


# ------------------------------------------------------ damaged checkpoints (6) ---

def damage(kind, checkpoint):
    """Replace ``checkpoint`` by a damaged one of ``kind``; returns the expected words."""
    state = load(checkpoint)
    if kind == "truncated":
        checkpoint.write_bytes(checkpoint.read_bytes()[:5000])
        return "not an .npz file of arrays"
    if kind == "empty":
        checkpoint.write_bytes(b"")
        return "not an .npz file of arrays"
    if kind == "a model.npz":
        shutil.copy(checkpoint.with_name("model.npz"), checkpoint)
        return "not a checkpoint (no meta record)"
    if kind == "a PyTorch .pt file":
        torch.save(torch.nn.Linear(2, 2).state_dict(), checkpoint)
        return "is not a NumPy array (a PyTorch .pt file?"
    if kind == "no optimizer state":
        state = {name: value for name, value in state.items()
                 if not name.startswith("optimizer/")}
        message = "holds no optimizer state, so training cannot resume from it"
    elif kind == "wrong shape":
        state["model/0.weight"] = state["model/0.weight"][:-1]
        message = "'0.weight': expected (16, 1, 3, 3) float32, got (15, 1, 3, 3) float32"
    elif kind == "wrong dtype":
        state["model/0.weight"] = state["model/0.weight"].astype(np.float64)
        message = "'0.weight': expected (16, 1, 3, 3) float32, got (16, 1, 3, 3) float64"
    elif kind == "no Adam step":
        del state["optimizer/state.0.step"]
        message = "the state of parameter 0 lacks step"
    elif kind in ("a metrics key missing", "no metrics"):
        meta = json.loads(state["meta"].tobytes().decode("utf-8"))
        if kind == "no metrics":
            del meta["metrics"]
        else:
            del meta["metrics"]["train_loss"]
        state["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
        message = f"its record of the run lacks {'metrics' if kind == 'no metrics' else 'train_loss'}"
    elif kind == "NaN Adam state":
        state["optimizer/state.3.exp_avg_sq"][0] = np.nan
        message = "'state.3.exp_avg_sq' of the optimizer holds 1 NaN or infinite value(s)"
    else:  # NaN or inf weights
        state["model/0.weight"][0, 0, 0, 0] = np.nan if kind == "NaN weights" else -np.inf
        message = "'0.weight' of the model holds 1 NaN or infinite value(s)"
    save(state, checkpoint)
    return message


@pytest.mark.parametrize("kind", ["truncated", "empty", "no optimizer state", "wrong shape",
                                  "wrong dtype", "a PyTorch .pt file", "a model.npz",
                                  "NaN weights", "inf weights", "NaN Adam state", "no Adam step",
                                  "a metrics key missing", "no metrics"])
def test_resume_refuses_a_damaged_checkpoint_in_one_line_naming_it(kind, finished_run,
                                                                    tiny_mnist, env, tmp_path):
    run = copy_run(finished_run, tmp_path)
    checkpoint = run / "checkpoint.npz"
    message = damage(kind, checkpoint)
    before = contents(run)
    result = run_cli("--data-dir", tiny_mnist, "--out", run, "--resume", "--epochs", 2, env=env)
    line = check_refused(result, f"cannot resume: {checkpoint}: ", message)
    assert result.stderr.strip() == line  # one line
    assert contents(run) == before  # the finished run's model.npz and metrics.json too


def test_resume_on_another_number_of_processes_is_refused(finished_run, tiny_mnist, env,
                                                          tmp_path):
    run = copy_run(finished_run, tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["processes"] = 2
    model = models.fixed_res_cnn()
    optimizer = minigrad.optim.Adam(model.parameters())
    minigrad.checkpoint.load_checkpoint(run / "checkpoint.npz", model, optimizer)
    minigrad.checkpoint.save_checkpoint(run / "checkpoint.npz", model, optimizer,
                                        meta={"epoch": 1, "metrics": metrics})
    before = contents(run)
    check_refused(run_cli("--data-dir", tiny_mnist, "--out", run, "--resume", env=env),
                  "was trained by 2 process(es) of batch 16, this is 1; resume it with as many")
    assert contents(run) == before


# ----------------------------------------------------------------- Ctrl-C (7) ---

def interrupt(process, after_line, signal_number=signal.SIGINT):
    """Send Ctrl-C (or ``signal_number``) once the command prints a line starting with
    ``after_line``; returns (exit code, stdout, stderr)."""
    stdout = []
    try:
        for line in process.stdout:
            stdout.append(line)
            if line.startswith(after_line):
                process.send_signal(signal_number)
                break
        rest, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    return process.returncode, "".join(stdout) + rest, stderr


def test_ctrl_c_while_the_varres_pngs_are_decoded(env, tmp_path):
    """The Ctrl-C comes as the 100th of 400 PNGs is opened (CTRL_C_WHILE_DECODING), so
    it lands in the decoding on any machine; nothing is cached, nothing trained."""
    rng = np.random.default_rng(0)
    files = {f"mnist-varres/{'test' if i % 4 == 0 else 'train'}/{i % 10}/{i:06d}.png":
             png_bytes(rng.integers(0, 256, (32, 32), dtype=np.uint8)) for i in range(400)}
    data = tmp_path / "data"
    write_varres_folder(data, files)
    cache = tmp_path / "cache"
    result = run_cli("--model", "varres", "--data-dir", data, "--cache-dir", cache,
                     "--out", tmp_path / "run", env=env, wrapper=CTRL_C_WHILE_DECODING)
    code, stderr = result.returncode, result.stderr
    assert "loading data" in result.stdout
    assert code == 130, stderr
    assert stderr.strip() == "interrupted while loading the data; nothing was trained"
    assert not cache.exists() or not any(cache.iterdir())
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
@pytest.mark.parametrize("after_line", ["loading data", "before training", "epoch 1/1 "])
def test_ctrl_c_anywhere_leaves_consistent_files_and_no_traceback(after_line, signal_number,
                                                                  tiny_mnist, env, tmp_path):
    """Wherever the Ctrl-C (or a SIGTERM, alike) lands (the run may even finish first):
    exit code 130 with the interrupted message, no lock left, and metrics.json says
    finished only when every final file is there, epochs_completed only what the
    checkpoint holds."""
    out = tmp_path / "run"
    process = start_cli("--data-dir", tiny_mnist, *TINY, "--out", out, env=env)
    code, stdout, stderr = interrupt(process, after_line, signal_number)
    assert not (out / ".lock").exists()
    assert "Traceback" not in stderr
    if code == 0:
        assert "test accuracy" in stdout
    else:
        assert code == 130, stderr
        assert stderr.strip().startswith("interrupted")
    files = set(os.listdir(out))
    assert not temporaries(out)
    if "metrics.json" in files:
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["epochs_completed"] == load_meta(out / "checkpoint.npz")["epoch"]
        assert metrics["finished"] == (files == FINAL_FILES), files
    else:
        assert "checkpoint.npz" not in files


def test_ctrl_c_during_the_final_save_waits_until_every_file_is_written(tmp_path, monkeypatch):
    """run_folder.finish in this process, a Ctrl-C arriving while model.npz is written:
    the KeyboardInterrupt comes once curves.png and metrics.json are written too."""
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    run_folder = importlib.import_module("run_folder")
    config = importlib.import_module("mnist_settings").parse_config(["--out", str(tmp_path)])
    model = models.fixed_res_cnn()
    metrics = run_folder.new_metrics(config, model)
    metrics["initial_val_loss"], metrics["initial_val_accuracy"] = 2.3, 0.1
    run_folder.record_epoch(metrics, 0.5, {"loss": 0.4, "accuracy": 0.9}, 1e-3, 1.0, 100.0,
                            [(0.5, 0.7), (1.0, 0.5)])
    save_weights = run_folder.save

    def save_interrupted(state, path):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C
        save_weights(state, path)
    monkeypatch.setattr(run_folder, "save", save_interrupted)
    run_folder.lock(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_folder.finish(tmp_path, model, metrics, {"loss": 0.4, "accuracy": 0.9}, False)
    run_folder.release_locks()
    assert set(os.listdir(tmp_path)) == FINAL_FILES - {"checkpoint.npz"}
    assert json.loads((tmp_path / "metrics.json").read_text())["finished"]


def test_a_killed_runs_temporary_file_is_removed_when_it_starts_again(tiny_mnist, env,
                                                                      tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    stale = out / f".checkpoint.npz{TEMP_MARK}{dead_pid()}"
    stale.write_bytes(b"half a checkpoint")
    check_ok(run_cli("--data-dir", tiny_mnist, *TINY, "--out", out, env=env))
    assert set(os.listdir(out)) == FINAL_FILES


# ------------------------------------------------------- messages, loss (10) ---

def test_a_learning_rate_that_makes_the_loss_explode_stops_the_run(tiny_mnist, env, tmp_path):
    out = tmp_path / "run"
    result = run_cli("--data-dir", tiny_mnist, *TINY, "--lr", 1e6, "--out", out, env=env)
    line = check_refused(result, "stopped in epoch 1: the training loss exploded: its mean over "
                         "step ", "above the limit of 230", "no epoch was completed, so no "
                         "checkpoint was written. Lower the learning rate", code=1)
    assert result.stderr.strip() == line  # no NumPy overflow warnings either
    assert os.listdir(out) == []


# ------------------------------------------------------------- --distributed ---

def run_mpiexec(processes, *args, env):
    command = [mpiexec_or_skip(), "-n", str(processes), sys.executable,
               str(SCRIPT), "--distributed", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def test_distributed_without_mpi_names_the_install_command(tmp_path):
    """An mpi4py that cannot load its MPI library stands for a missing one."""
    write_file(tmp_path / "fake" / "mpi4py" / "__init__.py",
               b"raise ImportError('no MPI library here')\n")
    env = environment(PYTHONPATH=os.pathsep.join([str(tmp_path / "fake"), str(ROOT)]))
    result = run_cli("--distributed", "--out", tmp_path / "run", env=env)
    check_refused(result, "distributed training needs mpi4py and an MPI library with mpiexec; "
                          "install them with `pip install 'minigrad[distributed]'`")
    assert not (tmp_path / "run").exists()


def test_two_processes_train_like_one_with_twice_the_batch(tiny_mnist, env, tmp_path):
    """Only the first process prints and writes; --batch-size is per process."""
    setting = ["--data-dir", tiny_mnist, "--val-size", 20, "--epochs", 2, "--log-every", 1]
    result = run_mpiexec(2, *setting, "--batch-size", 8, "--out", tmp_path / "two", env=env)
    check_ok(result)
    check_ok(run_cli(*setting, "--batch-size", 16, "--out", tmp_path / "one", env=env))
    assert result.stdout.count("test accuracy") == 1
    assert "batch 8 per process x 2 processes" in result.stdout
    assert set(os.listdir(tmp_path / "two")) == FINAL_FILES
    two, one = (json.loads((tmp_path / name / "metrics.json").read_text())
                for name in ("two", "one"))
    assert (two["processes"], one["processes"]) == (2, 1)
    np.testing.assert_allclose(two["train_curve"]["loss"], one["train_curve"]["loss"], rtol=1e-5)
    assert two["train_curve"]["epoch"] == one["train_curve"]["epoch"]
    weights_two, weights_one = load(tmp_path / "two" / "model.npz"), load(tmp_path / "one" /
                                                                          "model.npz")
    for name, value in weights_one.items():  # float32: one process sums in another order
        assert np.linalg.norm(weights_two[name] - value) <= 1e-4 * np.linalg.norm(value), name


def test_a_refusal_on_the_first_process_stops_every_process_with_one_message(
        finished_run, tiny_mnist, env):
    """The first process alone checks --out; the others learn it failed instead of
    waiting for it until the collectives' time limit."""
    before = contents(finished_run)
    result = run_mpiexec(2, "--data-dir", tiny_mnist, "--out", finished_run, env=env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "already holds a run" in lines[0], result.stderr
    assert contents(finished_run) == before


# ----------------------------------------------------------------- the API (9) ---

@pytest.mark.parametrize("network, side", [(models.fixed_res_cnn, 28), (models.var_res_cnn, 32)])
def test_the_networks_take_an_empty_batch(network, side):
    """N = 0 gives an empty (0, 10) output, as a PyTorch network does."""
    x = minigrad.Tensor(np.zeros((0, 1, side, side), np.float32))
    assert network()(x).shape == (0, 10)


# ------------------------------------------- bad inputs of issue 21, one line each ---

def test_out_expands_the_home_folder_as_data_dir_does(tiny_mnist, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = environment(HOME=home, MINIGRAD_MNIST_MIRROR=tmp_path / "none")
    result = run_cli("--data-dir", tiny_mnist, *TINY, "--out=~/runs/x", env=env)
    check_ok(result)
    assert (home / "runs" / "x" / "model.npz").exists()
    assert not (ROOT / "~").exists()


def test_a_validation_split_that_takes_every_image_is_one_clear_line(tiny_mnist, env, tmp_path):
    result = run_cli("--data-dir", tiny_mnist, "--val-size", 60, "--epochs", 1,
                     "--out", tmp_path / "run", env=env)
    line = check_refused(result, "--val-size 60 takes every image", "choose a smaller --val-size")
    assert result.stderr.strip().splitlines()[-1] == line


# ------------------------------------------------- one process per run folder ---

def test_a_second_run_or_resume_into_a_folder_in_use_is_refused_naming_the_holder(
        tiny_mnist, env, tmp_path):
    """Two runs into one --out: the second (and a --resume) is refused while the first
    trains, naming its PID; the first finishes untouched and its lock goes with it."""
    out = tmp_path / "run"
    first = start_long_run(tiny_mnist, out, env)
    try:
        wait_for(out / "checkpoint.npz")
        assert (out / ".lock").exists()
        for extra in (TINY, ["--resume", "--epochs", 5000]):
            result = run_cli("--data-dir", tiny_mnist, *extra, "--out", out, env=env)
            check_refused(result, f"is in use by process {first.pid}", "choose another --out")
        first.send_signal(signal.SIGINT)
        _, stderr = first.communicate(timeout=60)
    finally:
        first.kill()
    assert first.returncode == 130, stderr
    assert not (out / ".lock").exists()


def test_the_lock_of_a_killed_run_is_cleared_with_a_note(tiny_mnist, env, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").write_text(json.dumps({"pid": dead_pid(), "host": socket.gethostname()}))
    result = run_cli("--data-dir", tiny_mnist, *TINY, "--out", out, env=env)
    check_ok(result)
    assert "which no longer runs; its lock is cleared" in result.stderr
    assert not (out / ".lock").exists() and (out / "model.npz").exists()


def test_resume_refuses_a_checkpoint_of_another_run_and_changes_nothing(finished_run, tiny_mnist,
                                                                         env, tmp_path):
    other = tmp_path / "other"
    check_ok(run_cli("--data-dir", tiny_mnist, *TINY, "--out", other, env=env))
    run = copy_run(finished_run, tmp_path)
    shutil.copy(other / "checkpoint.npz", run / "checkpoint.npz")
    before = contents(run)
    result = run_cli("--data-dir", tiny_mnist, "--out", run, "--resume", "--epochs", 2, env=env)
    check_refused(result, "belongs to run", "records run", "never resumed into this folder")
    assert contents(run) == before  # the finished run's model.npz and metrics.json too


def test_resume_refuses_other_data_than_the_run_trained_on_and_changes_nothing(
        finished_run, tiny_mnist, env, tmp_path):
    relabelled = tmp_path / "relabelled"
    shutil.copytree(tiny_mnist, relabelled)
    labels_file = relabelled / "mnist" / "train-labels-idx1-ubyte.gz"
    labels = np.frombuffer(gzip.decompress(labels_file.read_bytes())[8:], np.uint8)
    write_file(labels_file, idx_bytes((labels + 1) % 10), compress=True)
    run = copy_run(finished_run, tmp_path)
    before = contents(run)
    result = run_cli("--data-dir", relabelled, "--out", run, "--resume", "--epochs", 2, env=env)
    check_refused(result, "cannot resume: the run trained on 40 training, 20 validation and",
                  f"but the data in {relabelled} gives 40 training",
                  "resume with the --data-dir it trained on")
    assert contents(run) == before
    check_ok(run_cli("--data-dir", tiny_mnist, "--out", run, "--resume", "--epochs", 2, env=env))


def test_a_huge_weight_decay_is_named_as_the_cause_when_the_loss_diverges(tiny_mnist, env,
                                                                          tmp_path):
    result = run_cli("--data-dir", tiny_mnist, *TINY, "--weight-decay", 1e5, "--out",
                     tmp_path / "run", env=env)
    line = check_refused(result, "the training loss", "--weight-decay 100000", "lr × decay ≥ 1",
                         code=1)
    assert "Lower the learning rate" not in line


def test_a_stopped_run_with_an_unreadable_checkpoint_does_not_claim_no_epoch_was_done(
        tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    train_mnist = importlib.import_module("train_mnist")
    assert train_mnist.kept_checkpoint(tmp_path) == ("no epoch was completed, so no "
                                                     "checkpoint was written")
    (tmp_path / "checkpoint.npz").write_bytes(b"half a file")
    said = train_mnist.kept_checkpoint(tmp_path)
    assert "is there but cannot be read" in said and "no epoch was completed" not in said


def test_an_old_unreadable_lock_is_cleared_and_a_fresh_one_is_respected(tiny_mnist, env, tmp_path):
    """A lock file that is not a record (a crash while writing it): cleared once it is
    older than a writer needs; a fresh one may still be being written, so it holds."""
    out = tmp_path / "run"
    out.mkdir()
    lock = out / ".lock"
    lock.write_text("garbage")
    check_refused(run_cli("--data-dir", tiny_mnist, *TINY, "--out", out, env=env),
                  "is in use by another process (its lock is being written)")
    os.utime(lock, (time.time() - 60, time.time() - 60))
    result = run_cli("--data-dir", tiny_mnist, *TINY, "--out", out, env=env)
    check_ok(result)
    assert "an unreadable lock, older than a process takes to write one" in result.stderr


# ------------------------------------- issue 21: weak messages, lost or wrong runs ---

FULL_DISK_AFTER_THE_PROBE = """
import errno, os, runpy, sys
calls = []
def fsync_on_a_full_disk(descriptor):  # the --out probe gets through, then the disk is full
    calls.append(descriptor)
    if len(calls) > 1:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
os.fsync = fsync_on_a_full_disk
sys.path.insert(0, os.path.dirname(sys.argv[1]))
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_a_full_disk_names_the_runs_file_never_a_hidden_temporary_one(finished_run, tiny_mnist,
                                                                     env, tmp_path):
    """Before: 'cannot write the run's files ([Errno 28] No space left on device)', no file
    named (or, for other errors, the hidden .checkpoint.npz.tmp-minigrad-PID)."""
    run = copy_run(finished_run, tmp_path)
    before = contents(run)
    result = run_cli("--data-dir", tiny_mnist, "--out", run, "--resume", "--epochs", 2, env=env,
                     wrapper=FULL_DISK_AFTER_THE_PROBE)
    line = check_refused(result, f"cannot write the run's files ({run / 'checkpoint.npz'}: No "
                         "space left on device); the checkpoint of epoch 1 is kept in", code=1)
    assert TEMP_MARK not in result.stderr and "Errno" not in line
    assert contents(run) == before and not temporaries(run)


def test_a_run_folder_removed_during_the_run_is_named_and_never_made_again(tiny_mnist, env,
                                                                          tmp_path):
    """Before: '... is no longer locked by this process (now: process -1 on HOST ...)'."""
    out, away = tmp_path / "run", tmp_path / "moved"
    process = start_long_run(tiny_mnist, out, env)
    try:
        wait_for(out / "checkpoint.npz")
        out.rename(away)  # as a user removing it would, without racing the writer
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr and "process -1" not in stderr, stderr
    line = stderr.strip()
    assert line.startswith("train_mnist.py: error: cannot write the run's files (") and \
        f"{out} no longer exists (removed or moved away)" in line and "\n" not in line, stderr
    assert not out.exists()


@pytest.fixture(scope="module")
def one_step_run(tiny_mnist, env, tmp_path_factory):
    """A finished run of one epoch of one step (--limit 16), at a constant learning rate:
    a resumed epoch's loss is read before its one update, so a huge --lr is not seen there."""
    out = tmp_path_factory.mktemp("one-step") / "run"
    check_ok(run_cli("--data-dir", tiny_mnist, *TINY, "--limit", 16, "--schedule", "constant",
                     "--out", out, env=env))
    return out


@pytest.mark.parametrize("lr, message", [
    (1e39, "the training made the weights NaN or infinite: '0.weight' of the model holds 144 "
           "NaN or infinite value(s) (learning rate 1e+39)"),
    (1e37, "the validation loss is nan: the weights grew too large (learning rate 1e+37)")])
def test_a_diverging_resumed_run_never_writes_over_its_last_good_checkpoint(
        lr, message, one_step_run, tiny_mnist, env, tmp_path):
    """Before: the run finished (exit 0) and replaced checkpoint.npz and model.npz by
    infinite weights, and metrics.json recorded a validation loss of NaN."""
    run = copy_run(one_step_run, tmp_path)
    before = contents(run)
    result = run_cli("--data-dir", tiny_mnist, "--out", run, "--resume", "--epochs", 2,
                     "--lr", lr, env=env)
    line = check_refused(result, f"stopped in epoch 2: {message}; the checkpoint of epoch 1 is "
                         f"kept in {run / 'checkpoint.npz'}. Lower the learning rate", code=1)
    assert result.stderr.strip().splitlines()[-1] == line
    assert contents(run) == before


@pytest.mark.parametrize("case, message", [
    ("an empty --out", "argument --out: expected a folder, got ''"),
    ("a dangling symbolic link", "is a symbolic link to {target}, which does not exist (or "
                                 "loops); create its target, or choose another --out"),
    ("a symbolic link loop", "is a symbolic link to {target}, which does not exist (or loops)"),
    ("a lock without a host", "is in use by another process (its lock is being written)"),
    ("a lock that is a folder", "{out}/.lock is a folder, not a run's lock file; remove it if "
                                "no run uses {out}"),
    ("--resume with checkpoint.npz a folder", "cannot resume: {out}/checkpoint.npz is a folder, "
                                              "not a checkpoint file")])
def test_odd_run_folders_are_one_clear_line(case, message, tiny_mnist, env, tmp_path):
    """Before: 'File exists' for the links, a traceback (KeyError 'host') for the lock,
    'nothing to resume: .../checkpoint.npz does not exist' for the folder."""
    out, target, extra = tmp_path / "run", tmp_path / "nowhere", []
    if case == "an empty --out":
        out = ""
    elif case == "a dangling symbolic link":
        out.symlink_to(target)
    elif case == "a symbolic link loop":
        out.symlink_to(out)
        target = out
    elif case == "a lock without a host":
        out.mkdir()
        (out / ".lock").write_text('{"pid": 12}')
    elif case == "a lock that is a folder":
        (out / ".lock").mkdir(parents=True)
    else:
        (out / "checkpoint.npz").mkdir(parents=True)
        extra = ["--resume"]
    result = run_cli("--data-dir", tiny_mnist, *TINY, "--out", out, *extra, env=env)
    line = check_refused(result, message.format(out=out, target=target))
    assert result.stderr.strip() == line
    assert not (Path(tmp_path) / "nowhere").exists() and "loading data" not in result.stdout


@pytest.mark.parametrize("lock", ['{"pid": 12}', "[1, 2]", '{"pid": "12", "host": "h"}'])
def test_an_old_malformed_lock_is_cleared_as_an_unreadable_one(lock, tiny_mnist, env, tmp_path):
    """Before: a lock that is JSON but not a record was 'being written' forever (or, without
    a host, a traceback)."""
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").write_text(lock)
    os.utime(out / ".lock", (time.time() - 60, time.time() - 60))
    result = run_cli("--data-dir", tiny_mnist, *TINY, "--out", out, env=env)
    check_ok(result)
    assert "an unreadable lock, older than a process takes to write one" in result.stderr
    assert set(os.listdir(out)) == FINAL_FILES


@pytest.mark.parametrize("host", ["this host", "another host"])
def test_a_lock_held_by_a_live_process_says_how_to_clear_it_if_it_is_no_run(host, finished_run,
                                                                           tiny_mnist, env,
                                                                           tmp_path):
    """A live PID (here the test's own: no training run, as after a reboot reused it) or
    another machine's: refused, and the message says how to free a folder whose holder is
    gone (before: only 'wait for it to finish, or choose another --out')."""
    run = copy_run(finished_run, tmp_path)
    holder = {"pid": os.getpid(), "host": socket.gethostname() if host == "this host" else
              "elsewhere"}
    (run / ".lock").write_text(json.dumps(holder))
    before = contents(run)
    result = run_cli("--data-dir", tiny_mnist, "--out", run, "--resume", "--epochs", 2, env=env)
    line = check_refused(result, f"is in use by process {holder['pid']} on {holder['host']}",
                         "choose another --out; if that is no training run",
                         f"delete {run / '.lock'}")
    assert result.stderr.strip() == line and contents(run) == before


@pytest.mark.parametrize("model, option", [("fixed", "--data-dir"), ("varres", "--data-dir"),
                                           ("varres", "--cache-dir")])
def test_a_data_or_cache_folder_that_is_a_file_is_named(model, option, env, tmp_path):
    """Before: for --data-dir, 'MNIST file(s) not found ... and the download failed: [Errno 20]
    Not a directory' (mnist-varres: 'not found'); for --cache-dir, four warnings 'could not
    write the cache file …: File exists' on every run."""
    data = tmp_path / "data"
    data.mkdir()
    write_varres_tar(data / "mnist-varres.tgz",
                     {name: png_bytes(array) for name, array in small_varres_files().items()})
    mine = tmp_path / "notes.txt"
    mine.write_text("mine")
    folders = {"--data-dir": data, "--cache-dir": tmp_path / "cache"}
    folders[option] = mine
    cache = ["--cache-dir", folders["--cache-dir"]] if model == "varres" else []
    result = run_cli("--model", model, "--data-dir", folders["--data-dir"], *cache, *TINY,
                     "--out", tmp_path / "run", env=env)
    what = {"--data-dir": "the data folder (--data-dir or MINIGRAD_DATA)",
            "--cache-dir": "the cache folder (--cache-dir)"}[option]
    line = check_refused(result, f"cannot load the data: {what} {mine} is a file, not a folder")
    assert result.stderr.strip() == line and mine.read_text() == "mine"


@pytest.mark.parametrize("damage", ["zero bytes", "cut short", "missing"])
def test_resume_rebuilds_a_damaged_metrics_json_from_the_checkpoint(damage, finished_run,
                                                                    tiny_mnist, env, tmp_path):
    """Held: the checkpoint records the whole run, so a damaged metrics.json (a disk error, an
    editor) is written again from it; the run continues exactly."""
    run = copy_run(finished_run, tmp_path)
    metrics = run / "metrics.json"
    if damage == "missing":
        metrics.unlink()
    else:
        metrics.write_bytes(b"" if damage == "zero bytes" else metrics.read_bytes()[:300])
    check_ok(run_cli("--data-dir", tiny_mnist, "--out", run, "--resume", "--epochs", 2, env=env))
    record = json.loads(metrics.read_text())
    assert record["epochs_completed"] == 2 and record["finished"]
    assert record["run"] == load_meta(run / "checkpoint.npz")["metrics"]["run"]
