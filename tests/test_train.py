"""examples/train_mnist.py, the program users run, end to end on the real data,
and its training loop (train_mnist.train_epoch, with minigrad.training's LossLog and
evaluate) in this process.

The command line runs as a subprocess, as a user runs it, on a few hundred
real images (MINIGRAD_DATA). Without the data those tests are skipped,
unless the environment variable CI is set: then they fail.
"""
import importlib
import importlib.util
import json
import os
import shutil
import signal
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from commandline import ROOT, check_ok, check_refused, run_cli, start_cli, the_commands_train_epoch
from helpers import DEVICES, host, on

import minigrad
from minigrad import backend, models, nn, optim
from minigrad.checkpoint import load, load_meta
from minigrad.optim.lr_scheduler import StepLR
from minigrad.training import ExponentialMovingAverage, NonFiniteLoss, evaluate

HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
QUICK = ["--epochs", "1", "--eval-limit", "500"]
METRIC_KEYS = {"params", "train_loss", "val_loss", "val_accuracy", "lr", "test_accuracy",
               "seconds", "args", "command", "epochs_completed", "finished", "initial_val_loss",
               "initial_val_accuracy", "train_curve", "processes"}


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


def read_metrics(out):
    return json.loads((Path(out) / "metrics.json").read_text())


def weights(out):
    return load(Path(out) / "model.npz")


# ------------------------------------------------------------- end to end ---

@pytest.mark.parametrize("model", ["fixed", "varres"])
def test_a_short_run_writes_metrics_weights_and_curves(model, data_dir, tmp_path):
    out = tmp_path / "run"
    result = run_cli("--model", model, "--limit", 600, *QUICK, "--log-every", 10, "--out", out)
    check_ok(result)
    metrics = read_metrics(out)
    assert METRIC_KEYS <= set(metrics)
    assert metrics["finished"] and metrics["epochs_completed"] == 1
    assert len(metrics["train_loss"]) == len(metrics["val_loss"]) == 1
    assert len(metrics["val_accuracy"]) == len(metrics["lr"]) == 1
    assert metrics["args"]["model"] == model and metrics["args"]["limit"] == 600
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    # The evaluation before the first step: an untrained network guesses.
    assert metrics["initial_val_accuracy"] < 0.3 < metrics["val_accuracy"][0]
    assert metrics["initial_val_loss"] > metrics["val_loss"][0]
    # The training curve: one point per 10 steps (38 or 39 steps: 4 points), in epochs.
    curve = metrics["train_curve"]
    steps = round(10 / curve["epoch"][0])
    assert steps == (38 if model == "fixed" else 39)  # 600 images; 3 resolutions: 3 last batches
    assert curve["epoch"] == pytest.approx([10 / steps, 20 / steps, 30 / steps, 1.0])
    assert len(curve["loss"]) == 4 and curve["loss"][-1] < curve["loss"][0]
    # The one-cycle schedule ran to its end, far below its peak of 3e-3.
    assert metrics["lr"][0] < 3e-3 / 100
    network = models.fixed_res_cnn() if model == "fixed" else models.var_res_cnn()
    network.load_state_dict(weights(out))  # the right names, shapes and dtypes
    assert metrics["params"] == sum(p.numel() for p in network.parameters())
    if model == "varres":
        assert set(metrics["test_accuracy_by_resolution"]) == {"32", "48", "64"}
    else:
        assert "test_accuracy_by_resolution" not in metrics
    assert load_meta(out / "checkpoint.npz")["epoch"] == 1
    if HAVE_MATPLOTLIB:  # the 'examples' extra, which CI installs
        assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "matplotlib is not installed: curves.png not drawn" in result.stdout
    assert sorted(os.listdir(out)) == sorted(["checkpoint.npz", "metrics.json", "model.npz"]
                                             + ["curves.png"] * HAVE_MATPLOTLIB)


def test_training_on_3000_images_reaches_90_percent(data_dir, tmp_path):
    """One epoch on 3,000 MNIST images with the default settings. Measured:
    94.9-96.0% validation accuracy (seeds 0-2); the floor leaves room for BLAS
    rounding differences between machines."""
    out = tmp_path / "run"
    check_ok(run_cli("--limit", 3000, "--epochs", 1, "--eval-limit", 2000, "--out", out))
    metrics = read_metrics(out)
    assert metrics["val_accuracy"][-1] >= 0.90
    assert metrics["test_accuracy"] >= 0.90
    assert metrics["train_loss"][-1] < 0.8


def test_plain_is_the_assignments_setting(data_dir, tmp_path):
    out = tmp_path / "run"
    check_ok(run_cli("--plain", "--limit", 64, "--epochs", 2, "--eval-limit", 64, "--out", out))
    metrics = read_metrics(out)
    assert (metrics["args"]["lr"], metrics["args"]["schedule"]) == (1e-3, "constant")
    assert metrics["args"]["augment"] is False and metrics["lr"] == [1e-3, 1e-3]


# ------------------------------------------- checkpoint, resume and failure ---

@pytest.fixture(scope="module")
def interrupted_and_straight(data_dir, tmp_path_factory):
    """Two runs of the same 2-epoch setting (augmented, so that its random
    numbers must be repeated too; with every recipe option, so that AdamW's
    state and the weight average must be kept too): one straight through, one
    stopped with Ctrl-C as soon as it reports epoch 1 (its checkpoint kept)."""
    root = tmp_path_factory.mktemp("resume")
    setting = ["--limit", 200, "--epochs", 2, "--eval-limit", 200, "--augment",
               "--label-smoothing", 0.1, "--weight-decay", 0.01, "--ema", 0.9]
    check_ok(run_cli(*setting, "--out", root / "straight"))
    process = start_cli(*setting, "--out", root / "interrupted")
    try:
        for line in process.stdout:
            if line.startswith("epoch 1/2"):
                process.send_signal(signal.SIGINT)
                break
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, stdout + stderr
    assert "the checkpoint of epoch 1 is kept" in stderr
    return root / "straight", root / "interrupted"


def test_a_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(
        interrupted_and_straight, tmp_path):
    straight, interrupted = interrupted_and_straight
    resumed = tmp_path / "resumed"
    shutil.copytree(interrupted, resumed)
    assert not (resumed / "model.npz").exists()
    (resumed / f".checkpoint.npz{minigrad.fileio.TEMP_MARK}99999").write_bytes(b"half")
    result = run_cli("--out", resumed, "--resume")
    check_ok(result)
    assert "resuming after epoch 1 of 2" in result.stdout
    expected, got = weights(straight), weights(resumed)
    assert expected.keys() == got.keys()
    for name in expected:
        assert np.array_equal(expected[name], got[name]), name  # bitwise
    for key in ("val_loss", "train_loss", "train_curve", "lr", "initial_val_loss"):
        assert read_metrics(resumed)[key] == read_metrics(straight)[key], key
    assert sorted(os.listdir(resumed)) == sorted(os.listdir(straight))  # temporary removed


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_checkpoint(interrupted_and_straight,
                                                                       tmp_path):
    run = tmp_path / "diverging"
    shutil.copytree(interrupted_and_straight[1], run)
    saved = (run / "checkpoint.npz").read_bytes()
    result = run_cli("--out", run, "--resume", "--lr", 1e9)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "stopped in epoch 2: the training loss became non-finite" in result.stderr
    assert "checkpoint of epoch 1 is kept" in result.stderr
    assert (run / "checkpoint.npz").read_bytes() == saved
    assert not (run / "model.npz").exists()


def test_a_finished_run_or_a_users_folder_is_never_written_into(interrupted_and_straight,
                                                                tmp_path):
    straight = interrupted_and_straight[0]
    before = {p.name: p.read_bytes() for p in straight.iterdir()}
    check_refused(run_cli("--limit", 100, "--epochs", 1, "--out", straight),
                  "already holds a run", "--resume")
    assert {p.name: p.read_bytes() for p in straight.iterdir()} == before
    users = tmp_path / "mine"
    users.mkdir()
    (users / "notes.txt").write_text("mine")
    check_refused(run_cli("--out", users), "holds other files", "new or empty folder")
    assert os.listdir(users) == ["notes.txt"]
    check_refused(run_cli("--out", users / "notes.txt"), "is a file, not a folder")


def test_resume_refuses_to_change_the_training_setting(interrupted_and_straight):
    check_refused(run_cli("--out", interrupted_and_straight[1], "--resume", "--batch-size", 8),
                  "--batch-size 8 differs from the run being resumed (16)")


def test_resume_names_a_damaged_checkpoint_in_one_line(interrupted_and_straight, tmp_path):
    run = tmp_path / "damaged"
    shutil.copytree(interrupted_and_straight[1], run)
    checkpoint = run / "checkpoint.npz"
    checkpoint.write_bytes(checkpoint.read_bytes()[:5000])
    check_refused(run_cli("--out", run, "--resume"), "checkpoint.npz: not an .npz file")
    shutil.copy(interrupted_and_straight[0] / "model.npz", checkpoint)
    check_refused(run_cli("--out", run, "--resume"), "checkpoint.npz: not a checkpoint")


def test_ctrl_c_keeps_the_last_epoch_checkpoint(data_dir, tmp_path):
    out = tmp_path / "run"
    process = start_cli("--limit", 64, "--epochs", 1000, "--eval-limit", 50, "--out", out)
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
    assert "Traceback" not in stderr
    done = load_meta(out / "checkpoint.npz")["epoch"]
    assert f"the checkpoint of epoch {done} is kept" in stderr and "--resume" in stderr
    assert read_metrics(out)["epochs_completed"] == done


# ---------------------------------------------------------- the command line ---

@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None,
                    reason="CuPy is installed here, so the GPU may well be usable")
@pytest.mark.parametrize("device", ["gpu", "cuda"])
def test_gpu_without_cupy_is_a_clear_error_with_exit_code_2(device, tmp_path):
    result = run_cli("--device", device, "--out", tmp_path / "run", timeout=60)
    check_refused(result, "the GPU is unavailable: CuPy is not installed")
    assert not (tmp_path / "run").exists()


def test_the_gpu_path_trains_like_the_cpu_path(data_dir, tmp_path):
    """'gpu' (and its other name 'cuda') is CuPy or its CPU stand-in, so the
    device code (one transfer per batch, augmentation and metrics on the
    device) runs here; with the stand-in the weights even match bitwise."""
    setting = ["--limit", "48", "--epochs", "1", "--eval-limit", "60", "--augment",
               "--model", "varres", "--log-every", "2"]
    for device in ("cpu", "cuda"):
        check_ok(run_cli(*setting, "--device", device, "--out", tmp_path / device,
                         stand_in=True))
    assert read_metrics(tmp_path / "cuda")["device"] == "gpu"
    cpu, gpu = weights(tmp_path / "cpu"), weights(tmp_path / "cuda")
    stand_in = importlib.util.find_spec("cupy") is None
    for name in cpu:
        if stand_in:
            assert np.array_equal(cpu[name], gpu[name]), name
        else:
            np.testing.assert_allclose(cpu[name], gpu[name], rtol=1e-3, atol=1e-5, err_msg=name)


def test_experiments_write_one_table_and_one_figure(data_dir, tmp_path):
    out = tmp_path / "experiments"
    result = run_cli("--out", out, "--only", 5, "--limit", 48, "--eval-limit", 48,
                     script=ROOT / "examples" / "experiments.py", timeout=300)
    check_ok(result)
    table = (out / "experiments.md").read_text()
    assert "| augmentation (fixed CNN) | no augmentation |" in table
    assert "| augmentation (fixed CNN) | augmented |" in table
    if HAVE_MATPLOTLIB:
        assert (out / "experiments.png").read_bytes()[:4] == b"\x89PNG"
    else:
        assert "matplotlib is not installed: experiments.png not drawn" in result.stdout
    assert read_metrics(out / "fixed-lr0.001-bs16-augment")["args"]["augment"] is True


# ------------------------------------------- the training loop and evaluate ---

def toy_problem(device, count=40, seed=0):
    """A linearly separable 3-class problem as (x, labels) batches of 8."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, count)
    x = (rng.standard_normal((count, 4)) + 3 * np.eye(3, 4)[labels]).astype(np.float32)
    return [(on(device, x[i:i + 8], requires_grad=False), labels[i:i + 8])
            for i in range(0, count, 8)]


def toy_model(device):
    minigrad.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3)).to(device)


def train_epoch(model, optimizer, batches, scheduler=None, device="cpu", log_every=50, log=None,
                loss_limit=None, label_smoothing=0.0, average=None):
    """The command's loop with these options (as --device, --log-every, --label-smoothing)."""
    config = SimpleNamespace(device=device, log_every=log_every, label_smoothing=label_smoothing)
    return the_commands_train_epoch()(model, optimizer, scheduler, average, batches, config, log, loss_limit)


@pytest.mark.parametrize("device", DEVICES)
def test_the_loop_is_the_plain_loop_with_logging_every_n_steps(device):
    """The same weights as the loop written out, the scheduler stepped once per
    batch, the mean loss returned and logged per interval of 2 steps."""
    batches = toy_problem(device)
    model, reference = toy_model(device), toy_model(device)
    optimizer = optim.SGD(model.parameters(), lr=0.5)
    scheduler = StepLR(optimizer, step_size=2, gamma=0.5)
    logged = []
    mean = train_epoch(model, optimizer, batches, scheduler, device, log_every=2,
                       log=lambda *point: logged.append(point))
    reference_optimizer = optim.SGD(reference.parameters(), lr=0.5)
    losses = []
    for step, (x, labels) in enumerate(batches):
        reference_optimizer.param_groups[0]["lr"] = 0.5 * 0.5 ** (step // 2)
        loss = minigrad.functional.cross_entropy(reference(x), labels)
        reference_optimizer.zero_grad()
        loss.backward()
        reference_optimizer.step()
        losses.append(loss.item())
    for (name, a), b in zip(model.state_dict().items(), reference.state_dict().values()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=name)
    assert scheduler.last_epoch == 5 and optimizer.param_groups[0]["lr"] == 0.5 * 0.5 ** 2
    assert mean == pytest.approx(np.mean(losses), rel=1e-5)
    assert [(step, images) for step, images, _ in logged] == [(2, 16), (4, 32), (5, 40)]
    expected = [np.mean(losses[0:2]), np.mean(losses[2:4]), losses[4]]
    assert [loss for _, _, loss in logged] == pytest.approx(expected, rel=1e-5)


def test_the_loop_moves_each_batch_to_the_device():
    model = toy_model("gpu")
    train_epoch(model, optim.Adam(model.parameters()), toy_problem("cpu"), None, "gpu")
    assert all(backend.device_of(p.grad) == "gpu" for p in model.parameters())


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_the_loop_stops_at_a_non_finite_loss_naming_the_steps():
    model = toy_model("cpu")
    optimizer = optim.SGD(model.parameters(), lr=3e38)
    with pytest.raises(NonFiniteLoss, match=r"non-finite \((nan|inf)\) in steps [0-9]+-[0-9]+ "
                                            r"\(learning rate 3e\+38\)"):
        train_epoch(model, optimizer, toy_problem("cpu", count=400) * 3, None, "cpu",
                        log_every=3)


def test_the_loop_stops_when_the_mean_loss_of_an_interval_exceeds_the_limit():
    """The limit applies to the mean loss of each logged interval (not its sum)."""
    logged = []
    model = toy_model("cpu")
    train_epoch(model, optim.SGD(model.parameters(), lr=0.1), toy_problem("cpu"), None,
                    "cpu", log_every=2, log=lambda *point: logged.append(point[2]))
    highest = max(logged)
    model = toy_model("cpu")
    train_epoch(model, optim.SGD(model.parameters(), lr=0.1), toy_problem("cpu"), None,
                    "cpu", log_every=2, loss_limit=highest * 1.0001)  # the sums are larger
    model = toy_model("cpu")
    first = logged[0] * 0.9999
    with pytest.raises(NonFiniteLoss, match=rf"exploded: its mean over steps 1-2 is "
                                            rf"{logged[0]:.3g}, above the limit of {first:.3g} "
                                            r"\(learning rate 0.1\)"):
        train_epoch(model, optim.SGD(model.parameters(), lr=0.1), toy_problem("cpu"), None,
                        "cpu", log_every=2, loss_limit=first)


@pytest.mark.parametrize("device", DEVICES)
def test_evaluate_gives_mean_loss_and_accuracy_without_a_graph(device):
    batches = toy_problem(device)
    model = toy_model(device)
    model.train()
    result = evaluate(model, batches)
    assert model.training  # restored
    logits = [host(model(x)) for x, _ in batches]
    labels = np.concatenate([labels for _, labels in batches])
    scores = np.concatenate(logits)
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    assert result["count"] == 40
    assert result["loss"] == pytest.approx(-log_probs[np.arange(40), labels].mean(), rel=1e-5)
    assert result["accuracy"] == np.mean(scores.argmax(axis=1) == labels)
    assert all(p.grad is None for p in model.parameters())


def test_evaluate_and_the_loop_refuse_empty_batches():
    model = toy_model("cpu")
    with pytest.raises(ValueError, match="evaluate: batches yielded nothing"):
        evaluate(model, [])
    with pytest.raises(ValueError, match="LossLog: no step was logged"):
        train_epoch(model, optim.SGD(model.parameters(), lr=0.1), [], None, "cpu")


@pytest.mark.parametrize("device", DEVICES)
def test_the_loop_smooths_labels_and_updates_the_average_after_each_step(device):
    """label_smoothing goes to cross_entropy; the average follows each step's weights."""
    batches = toy_problem(device)
    model, reference = toy_model(device), toy_model(device)
    optimizer = optim.AdamW(model.parameters(), lr=0.1)
    average = ExponentialMovingAverage(model, 0.5)
    train_epoch(model, optimizer, batches, None, device, label_smoothing=0.2,
                    average=average)
    reference_optimizer = optim.AdamW(reference.parameters(), lr=0.1)
    expected = {name: host(p) for name, p in reference.named_parameters()}
    for x, labels in batches:
        loss = minigrad.functional.cross_entropy(reference(x), labels, label_smoothing=0.2)
        reference_optimizer.zero_grad()
        loss.backward()
        reference_optimizer.step()
        expected = {name: 0.5 * expected[name] + 0.5 * host(p)
                    for name, p in reference.named_parameters()}
    for (name, a), b in zip(model.state_dict().items(), reference.state_dict().values()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=name)
    for name, value in average.state_dict().items():
        np.testing.assert_allclose(value, expected[name], rtol=1e-6, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("device", DEVICES)
def test_exponential_moving_average_matches_torchs(device):
    """As torch.optim.swa_utils.AveragedModel with get_ema_multi_avg_fn(decay), whose
    first update_parameters copies the weights (ours copies them when made)."""
    torch = pytest.importorskip("torch")
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
    model, twin = toy_model(device), torch.nn.Sequential(torch.nn.Linear(4, 3))
    rng = np.random.default_rng(0)

    def set_weights():
        state = {name: rng.standard_normal(p.shape).astype(np.float32)
                 for name, p in model.named_parameters()}
        model.load_state_dict(state)
        twin.load_state_dict({name: torch.from_numpy(value) for name, value in state.items()})

    set_weights()
    ours = ExponentialMovingAverage(model, 0.75)
    theirs = AveragedModel(twin, multi_avg_fn=get_ema_multi_avg_fn(0.75))
    theirs.update_parameters(twin)
    for _ in range(6):
        set_weights()
        ours.update(model)
        theirs.update_parameters(twin)
    for name, value in ours.state_dict().items():
        expected = theirs.module.state_dict()[name].numpy()
        np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-7, err_msg=name)


def test_the_average_is_applied_inside_the_block_and_survives_a_state_dict_round_trip():
    model = toy_model("cpu")
    average = ExponentialMovingAverage(model, 0.9)
    trained = {name: host(p).copy() for name, p in model.named_parameters()}
    for p in model.parameters():
        p.data = p.data + 1.0
    average.update(model)   # each average moves 0.1 of the way: +0.1
    with average.applied(model):
        for name, p in model.named_parameters():
            np.testing.assert_allclose(host(p), trained[name] + 0.1, rtol=1e-6)
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(host(p), trained[name] + 1.0)  # the trained weights back
    restored = ExponentialMovingAverage(toy_model("cpu"), 0.9)
    restored.load_state_dict(average.state_dict())
    for name, value in restored.state_dict().items():
        np.testing.assert_array_equal(value, average.state_dict()[name])
    with pytest.raises(ValueError, match="ExponentialMovingAverage.load_state_dict: 0.weight "
                                         "has shape"):
        restored.load_state_dict({**average.state_dict(), "0.weight": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="decay must lie in \\[0, 1\\), got 1.0"):
        ExponentialMovingAverage(model, 1.0)
