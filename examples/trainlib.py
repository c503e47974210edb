"""The pieces of examples/train_mnist.py: settings, data, schedule, one epoch,
evaluation, the run directory and its files.

train_mnist.py tells the story (load, build, train epoch by epoch, report);
this module holds the parts worth testing on their own. Only minigrad's
public API is used, so the same code runs on the CPU (NumPy) and the GPU
(CuPy): ``xp`` below is the array module of the chosen device.

Reproducibility: the weights are initialised from ``--seed``; epoch e shuffles
(and augments) with generators derived from (seed, e) alone, so a run resumed
from the checkpoint of epoch e repeats exactly what an uninterrupted run does.
"""
import argparse
import contextlib
import io
import json
import math
import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

import minigrad
import minigrad.functional as F
from minigrad import backend, data, models
from minigrad.checkpoint import load_checkpoint, load_meta, save_arrays, save_checkpoint

CHECKPOINT, METRICS, MODEL, CURVES = "checkpoint.npz", "metrics.json", "model.npz", "curves.png"
NUM_CLASSES = 10
VAL_SIZE = 10_000      # validation images taken out of the 60,000 training images
SPLIT_SEED = 0         # the split is the same for every run, whatever --seed says
WARMUP_FRACTION = 0.03  # one-cycle schedule: linear warm-up over this share of the steps
NORMALISATION = {      # (mean, std) of the training pixels / 255, from the data README
    "mnist": (0.1307, 0.3081),
    "varres": (0.0354, 0.1708),
}
PLAIN = {"lr": 1e-3, "schedule": "constant", "augment": False}  # the assignment's setting

DEFAULTS = {
    "model": "fixed", "pooling": "max", "device": "cpu", "epochs": 5, "batch_size": 16,
    "lr": 3e-3, "schedule": "onecycle", "augment": False, "plain": False, "seed": 0,
    "data_dir": None, "out": None, "limit": None, "eval_limit": None, "resume": False,
    "pause_after": None, "eval_batch_size": 256, "log_every": 50,
}
# What may change when a run is resumed; every other setting comes from the checkpoint.
RESUME_ADJUSTABLE = {"device", "data_dir", "eval_batch_size", "log_every", "pause_after",
                     "epochs", "lr", "out", "resume"}
# Of those, the ones that make the continued run differ from an uninterrupted one.
RESUME_CHANGES_RESULT = {"epochs", "lr"}


class UsageError(Exception):
    """A problem with the command line or the run directory (exit code 2)."""


class NonFiniteLoss(Exception):
    """The training loss became NaN or infinite."""


# ----------------------------------------------------------------- settings ---

def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _positive_float(text):
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def build_parser():
    """The command line. Defaults live in DEFAULTS, so that parsing tells
    which options were actually typed (the others are absent)."""
    d = DEFAULTS
    parser = argparse.ArgumentParser(
        prog="train_mnist.py", argument_default=argparse.SUPPRESS,
        description="Train minigrad's CNNs on MNIST or mnist-varres.",
        epilog="Data: --data-dir, else the environment variable MINIGRAD_DATA, else ./data. "
               "Continue a stopped run with: train_mnist.py --out RUN_DIR --resume")
    add = parser.add_argument
    add("--model", choices=["fixed", "varres", "fixed-resized"],
        help="fixed: fixed-resolution CNN on MNIST 28x28; varres: global-pooling CNN on "
             "mnist-varres at native 32/48/64 px, batches bucketed by size; fixed-resized: "
             f"the fixed CNN on mnist-varres resized to 28x28 (default: {d['model']})")
    add("--pooling", choices=["max", "mean"],
        help="global pooling of --model varres (default: max)")
    add("--device", choices=["cpu", "gpu"], help="where to train (default: cpu)")
    add("--epochs", type=_positive_int, help=f"default: {d['epochs']}")
    add("--batch-size", type=_positive_int, help=f"default: {d['batch_size']}")
    add("--lr", type=_positive_float, help=f"peak learning rate of Adam (default: {d['lr']:g})")
    add("--schedule", choices=["onecycle", "constant"],
        help="onecycle: linear warm-up over the first 3%% of the steps, then cosine decay to 0; "
             "constant: --lr throughout (default: onecycle)")
    add("--augment", action=argparse.BooleanOptionalAction,
        help="random rotation/shift/zoom/intensity on each training batch (default: off)")
    add("--plain", action="store_true",
        help="the assignment's exact setting: Adam with constant lr 1e-3, no augmentation")
    add("--seed", type=int,
        help="initial weights, shuffling, augmentation, --limit subset (default: 0)")
    add("--data-dir", help="folder holding mnist/ and mnist-varres.tgz")
    add("--out", help="run directory (default: runs/<model>-<timestamp>)")
    add("--limit", type=_positive_int, metavar="N",
        help="train on N training images (a seeded random subset, all classes present)")
    add("--eval-limit", type=_positive_int, metavar="N",
        help="validate and test on N images each (a seeded subset; for quick runs)")
    add("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    add("--pause-after", type=_positive_int, metavar="EPOCHS",
        help="stop after this many epochs of this invocation, checkpoint kept (then --resume)")
    add("--eval-batch-size", type=_positive_int,
        help=f"evaluation chunk size, bounds the im2col memory (default: {d['eval_batch_size']})")
    add("--log-every", type=_positive_int, metavar="STEPS",
        help="refresh the progress display (one device sync) every STEPS steps "
             f"(default: {d['log_every']})")
    return parser


def parse_config(argv=None):
    """Command line -> settings (a SimpleNamespace with every key of DEFAULTS).

    --plain fixes lr, schedule and augmentation; --resume takes the settings
    of the run in --out and lets only RESUME_ADJUSTABLE ones change.
    Raises UsageError for inconsistent options.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    given = vars(build_parser().parse_args(argv))
    if given.get("plain"):
        clashes = [key for key, value in PLAIN.items() if key in given and given[key] != value]
        if clashes:
            names = ", ".join(f"--{key.replace('_', '-')}" for key in clashes)
            raise UsageError(f"--plain fixes {names} (Adam, constant lr 1e-3, no augmentation); "
                             "drop one of them")
    if given.get("resume"):
        settings = _resumed_settings(given)
    else:
        settings = {**DEFAULTS, **given}
        if settings["plain"]:
            settings.update(PLAIN)
        if "pooling" in given and settings["model"] != "varres":
            raise UsageError("--pooling applies to --model varres only")
        if settings["out"] is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            settings["out"] = os.path.join("runs", f"{settings['model']}-{stamp}")
    settings["command"] = shlex.join(["python", "examples/train_mnist.py", *argv])
    return SimpleNamespace(**settings)


def _resumed_settings(given):
    if "out" not in given:
        raise UsageError("--resume needs --out, the run directory to continue")
    path = Path(given["out"]) / CHECKPOINT
    if not path.is_file():
        raise UsageError(f"nothing to resume: {path} does not exist")
    try:
        meta = load_meta(path)
        settings = dict(meta["metrics"]["args"])
    except (OSError, ValueError, KeyError) as error:
        raise UsageError(f"cannot resume from {path}: not a readable checkpoint "
                         f"({error!r})") from None
    settings["pause_after"] = None  # applies to one invocation only
    for key, value in given.items():
        if key in RESUME_ADJUSTABLE:
            if key in RESUME_CHANGES_RESULT and settings.get(key) != value:
                print(f"note: --{key.replace('_', '-')} {value} differs from the run's "
                      f"{settings.get(key)}; the continued run will not equal an uninterrupted one")
            settings[key] = value
        elif settings.get(key) != value:
            raise UsageError(f"--{key.replace('_', '-')} {value} differs from the run being "
                             f"resumed ({settings.get(key)}); start a new run (another --out) "
                             "to change it")
    if settings["epochs"] < meta["epoch"]:
        raise UsageError(f"--epochs {settings['epochs']}: the run in {given['out']} has already "
                         f"completed {meta['epoch']} epochs")
    return settings


def array_module(device):
    """numpy or the GPU module; raises GPUUnavailableError saying why not."""
    return backend.module_for(device)


# --------------------------------------------------------------------- data ---

def load_data(config):
    """Train / validation / test groups {(H, W): (uint8 images, int64 labels)}.

    The 60,000 training images are split 50,000 / 10,000 (SPLIT_SEED); the
    test split is only for the final report. Test groups stay keyed by the
    original resolution, also when resized, so accuracy can be reported per
    resolution. Returns a SimpleNamespace(train, val, test, mean, std).
    """
    source = "mnist" if config.model == "fixed" else "varres"
    train = load_split(source, config.data_dir, "train")
    test = load_split(source, config.data_dir, "test")
    mean, std = NORMALISATION[source]
    train, val = data.split_groups(train, n_val=VAL_SIZE, seed=SPLIT_SEED)
    if config.limit:
        train = data.limit_groups(train, config.limit, seed=config.seed)
    if config.eval_limit:
        val = data.limit_groups(val, config.eval_limit, seed=SPLIT_SEED)
        test = data.limit_groups(test, config.eval_limit, seed=SPLIT_SEED)
    if config.model == "fixed-resized":
        train = data.resize_groups(train, 28)
        val = data.resize_groups(val, 28)
        test = {shape: data.resize_groups({shape: group}, 28)[(28, 28)]
                for shape, group in test.items()}
    for name, groups in (("training", train), ("validation", val), ("test", test)):
        check_labels(groups, name)
    return SimpleNamespace(train=train, val=val, test=test, mean=mean, std=std)


_loaded = {}  # (source, folder, split) -> groups: several runs in one process load once


def load_split(source, data_dir, split):
    """One split of MNIST ("mnist") or mnist-varres ("varres") as groups
    {(H, W): (images, labels)}; kept in memory for later runs of this process."""
    key = (source, str(data.resolve_data_dir(data_dir).resolve()), split)
    if key not in _loaded:
        if source == "mnist":
            images, labels = data.load_mnist(data_dir, split=split)
            _loaded[key] = {images.shape[1:]: (images, labels)}
        else:
            _loaded[key] = data.load_varres(data_dir, split=split)
    return _loaded[key]


def check_labels(groups, name):
    """Labels must be integers 0-9: checked once on the host (a GPU would
    index out of range silently)."""
    for shape, (_, labels) in groups.items():
        if labels.dtype.kind not in "iu" or (labels.size and (labels.min() < 0
                                                              or labels.max() >= NUM_CLASSES)):
            raise ValueError(f"{name} data, {shape} images: labels must be integers 0-9, "
                             f"got {labels.dtype} from {labels.min()} to {labels.max()}")


def count_images(groups):
    return sum(len(labels) for _, labels in groups.values())


def describe(groups):
    """'10,000' or '10,000 (32: 3,269, 48: 3,381, 64: 3,350)'."""
    text = f"{count_images(groups):,}"
    if len(groups) > 1:
        text += " (" + ", ".join(f"{resolution_key(s)}: {len(g[1]):,}"
                                 for s, g in groups.items()) + ")"
    return text


def resolution_key(shape):
    height, width = shape
    return str(height) if height == width else f"{height}x{width}"


# ------------------------------------------------------------ model, schedule ---

def build_model(config):
    """The network of --model, initialised from --seed."""
    minigrad.manual_seed(config.seed)
    if config.model == "varres":
        return models.var_res_cnn(pooling=config.pooling)
    return models.fixed_res_cnn()


def count_parameters(model):
    return sum(p.size for p in model.parameters())


def learning_rate(step, total_steps, peak, schedule):
    """The learning rate of training step ``step`` (0-based) of ``total_steps``.

    constant: ``peak``. onecycle: linear warm-up to ``peak`` over the first
    WARMUP_FRACTION of the steps, then half a cosine down towards 0.
    """
    if schedule == "constant":
        return peak
    warmup = max(1, round(WARMUP_FRACTION * total_steps))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return peak * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def epoch_generators(seed, epoch):
    """(shuffle, augment) generators of one epoch, derived from (seed, epoch) only."""
    return np.random.default_rng([seed, epoch, 0]), np.random.default_rng([seed, epoch, 1])


# ---------------------------------------------------------------- training ---

def train_one_epoch(model, optimizer, dataset, config, xp, epoch, first_step, total_steps):
    """One pass over the training images; returns the mean training loss.

    Per batch: one host-to-device copy (the uint8 images; labels stay on the
    host, cross_entropy checks them there). The loss sum stays on the device
    and is read back every --log-every steps (on the CPU every step, which
    costs nothing, so a non-finite loss is caught at its exact step).
    """
    shuffle_rng, augment_rng = epoch_generators(config.seed, epoch)
    steps = data.count_batches(dataset.train, config.batch_size)
    check_every = 1 if config.device == "cpu" else config.log_every
    progress = Progress(count_images(dataset.train), f"epoch {epoch + 1}/{config.epochs}")
    model.train()
    epoch_loss, seen = 0.0, 0                 # host numbers, updated at each sync
    window_loss, window_start = 0.0, 0        # loss sum since the last sync (on the device)
    batches = data.iterate_batches(dataset.train, config.batch_size, rng=shuffle_rng)
    for step, (images, labels) in enumerate(batches):
        optimizer.hyper["lr"] = learning_rate(first_step + step, total_steps, config.lr,
                                              config.schedule)
        x = data.to_float(images, xp, dataset.mean, dataset.std)
        if config.augment:
            x = data.augment_batch(x, augment_rng, xp)
        loss = F.cross_entropy(model(minigrad.Tensor(x)), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        window_loss = window_loss + loss.data * len(labels)
        seen += len(labels)
        last = step + 1 == steps
        if (step + 1) % check_every and (step + 1) % config.log_every and not last:
            continue
        total = float(window_loss.item())     # the one device sync
        if not math.isfinite(total):
            where = (f"step {step + 1}" if step == window_start
                     else f"steps {window_start + 1}-{step + 1}")
            raise NonFiniteLoss(f"the training loss became non-finite ({total}) in epoch "
                                f"{epoch + 1}, {where} of {steps} (learning rate "
                                f"{optimizer.hyper['lr']:.3g})")
        epoch_loss += total
        window_loss, window_start = 0.0, step + 1
        progress.update(seen, epoch_loss / seen, force=last)
    progress.close()
    return epoch_loss / count_images(dataset.train)


def evaluate(model, groups, dataset, xp, batch_size):
    """Loss and accuracy over ``groups``, in chunks of ``batch_size`` images,
    without recording a graph. Returns {"loss", "accuracy", "accuracy_by_group"}
    with accuracy_by_group keyed by resolution_key."""
    model.eval()
    loss_sum, correct, by_group = 0.0, 0, {}
    with minigrad.no_grad():
        for shape, (images, labels) in groups.items():  # groups are never empty
            group_loss = group_correct = 0                  # become device scalars
            for start in range(0, len(labels), batch_size):
                batch_labels = labels[start:start + batch_size]
                x = data.to_float(images[start:start + batch_size], xp, dataset.mean, dataset.std)
                logits = model(minigrad.Tensor(x))
                batch_loss = F.cross_entropy(logits, batch_labels).data * len(batch_labels)
                group_loss = group_loss + batch_loss
                hits = logits.data.argmax(axis=1) == xp.asarray(batch_labels)
                group_correct = group_correct + hits.sum()
            group_correct = int(group_correct.item())      # one device sync per group
            loss_sum += float(group_loss.item())
            correct += group_correct
            by_group[resolution_key(shape)] = group_correct / len(labels)
    model.train()
    total = count_images(groups)
    return {"loss": loss_sum / total, "accuracy": correct / total, "accuracy_by_group": by_group}


class Progress:
    """A per-epoch progress display: a tqdm bar on a terminal, else a plain
    line at most every 10 seconds (log files stay short)."""

    def __init__(self, total, label):
        self.total, self.label, self.done = total, label, 0
        self.start = self.last_print = time.perf_counter()
        self.bar = None
        if sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self.bar = tqdm(total=total, desc=label, unit="img", leave=False,
                                dynamic_ncols=True)

    def update(self, done, loss, force=False):
        """``done`` images so far this epoch, ``loss`` their mean loss."""
        if self.bar is not None:
            self.bar.update(done - self.done)
            self.done = done
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
            return
        self.done = done
        now = time.perf_counter()
        if force or now - self.last_print >= 10:
            self.last_print = now
            rate = self.done / max(now - self.start, 1e-9)
            eta = (self.total - self.done) / max(rate, 1e-9)
            print(f"  {self.label}  {self.done:>6,}/{self.total:,} images  loss {loss:.4f}  "
                  f"{rate:.0f} img/s  ETA {format_seconds(eta)}", flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def format_seconds(seconds):
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


# ---------------------------------------------------------------- run files ---

def new_metrics(config, model):
    """The metrics record of a fresh run (grows by one entry per epoch)."""
    return {
        "command": config.command, "commands": [config.command],
        "args": {key: getattr(config, key) for key in DEFAULTS},
        "params": count_parameters(model), "device": config.device,
        "epochs_completed": 0, "train_loss": [], "val_loss": [], "val_accuracy": [],
        "lr": [], "epoch_seconds": [], "images_per_second": [], "seconds": 0.0,
        "finished": False,
    }


def prepare_run_dir(config):
    """The run directory --out, checked: a new run never starts over an
    existing one. It is created once training starts."""
    out = Path(config.out)
    if not config.resume:
        found = [name for name in (CHECKPOINT, METRICS, MODEL) if (out / name).exists()]
        if found:
            raise UsageError(f"{out} already holds a run ({', '.join(found)}); continue it with "
                             "--resume, or choose another --out")
    return out


def start_or_resume(out, config, model, optimizer):
    """(epochs done, metrics): fresh, or loaded with the weights and optimizer
    state from the checkpoint in ``out``."""
    if not config.resume:
        out.mkdir(parents=True, exist_ok=True)
        return 0, new_metrics(config, model)
    meta, _ = load_checkpoint(out / CHECKPOINT, model, optimizer)
    metrics = meta["metrics"]
    metrics["commands"].append(config.command)
    metrics["args"].update({key: getattr(config, key) for key in RESUME_ADJUSTABLE})
    metrics["device"] = config.device
    return meta["epoch"], metrics


def record_epoch(metrics, train_loss, val, lr, seconds, images_per_second):
    """Append one epoch: losses, validation accuracy, the lr of its last step,
    its seconds (training + validation) and training images per second."""
    metrics["epochs_completed"] += 1
    metrics["train_loss"].append(train_loss)
    metrics["val_loss"].append(val["loss"])
    metrics["val_accuracy"].append(val["accuracy"])
    metrics["lr"].append(lr)
    metrics["epoch_seconds"].append(seconds)
    metrics["images_per_second"].append(images_per_second)
    metrics["seconds"] = sum(metrics["epoch_seconds"])


@contextlib.contextmanager
def ctrl_c_deferred():
    """Hold a Ctrl-C back until the block is done (then raise it), so that
    files written together (checkpoint and metrics.json) stay consistent."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: received.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def save_epoch(out, model, optimizer, metrics):
    """Checkpoint (weights, Adam state, epoch, metrics) then metrics.json, both atomic."""
    meta = {"epoch": metrics["epochs_completed"], "metrics": metrics}
    save_checkpoint(out / CHECKPOINT, model, optimizer, meta=meta)
    write_json(out / METRICS, metrics)


def finish_run(out, model, metrics, test, varres_data):
    """Record the test result; write model.npz, metrics.json and curves.png."""
    metrics["test_loss"] = test["loss"]
    metrics["test_accuracy"] = test["accuracy"]
    if varres_data:
        metrics["test_accuracy_by_resolution"] = test["accuracy_by_group"]
    metrics["finished"] = True
    save_arrays(out / MODEL, model.state_dict())
    write_json(out / METRICS, metrics)
    return plot_curves(metrics, out / CURVES)


def write_bytes(path, payload):
    """Write ``payload`` to ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path, value):
    write_bytes(path, (json.dumps(value, indent=2) + "\n").encode("utf-8"))


def plot_curves(metrics, path):
    """Loss and accuracy per epoch as a PNG; returns a message if matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return f"matplotlib is not installed: {path.name} not drawn (pip install matplotlib)"
    epochs = list(range(1, len(metrics["train_loss"]) + 1))
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 4))
    loss_axis.plot(epochs, metrics["train_loss"], "o-", label="training")
    loss_axis.plot(epochs, metrics["val_loss"], "s-", label="validation")
    loss_axis.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    loss_axis.legend()
    accuracy_axis.plot(epochs, [100 * a for a in metrics["val_accuracy"]], "s-",
                       color="tab:orange", label="validation")
    if "test_accuracy" in metrics:
        accuracy_axis.axhline(100 * metrics["test_accuracy"], color="gray", linestyle="--",
                              label=f"test {100 * metrics['test_accuracy']:.2f}%")
    accuracy_axis.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    accuracy_axis.legend()
    for axis in (loss_axis, accuracy_axis):
        axis.set_xticks(epochs)
        axis.grid(alpha=0.3)
    figure.suptitle(metrics["command"], fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    write_bytes(path, buffer.getvalue())
    return None
