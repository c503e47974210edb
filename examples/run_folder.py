"""The run directory of train_mnist.py and its files.

    checkpoint.npz   after every epoch: weights, Adam's state, the metrics so far
                     (and with --ema the weight average)
    metrics.json     settings, per-epoch and per-logged-step results (below)
    model.npz        the final weights (minigrad.load / model.load_state_dict);
                     with --ema, the averaged weights that were tested
    curves.png       training and validation loss, validation accuracy

Every file is written atomically (minigrad.fileio), so a crash or Ctrl-C
leaves the previous version, never half a file; a run marked finished in
metrics.json has all four. Nothing else in the folder is ever touched.

    .lock            while a process trains into the folder: its PID and host. A
                     second run or --resume into a held folder is refused, naming
                     the holder; the lock of a process that died is cleared.
"""
import contextlib
import io
import json
import os
import signal
import socket
import sys
import threading
import time
import uuid
from pathlib import Path

from mnist_settings import CHECKPOINT, DEFAULTS, RESUME_ADJUSTABLE, UsageError

from minigrad import fileio
from minigrad.checkpoint import load_checkpoint, load_meta, save, save_checkpoint

METRICS, MODEL, CURVES, LOCK = "metrics.json", "model.npz", "curves.png", ".lock"
RUN_FILES = (CHECKPOINT, METRICS, MODEL, CURVES)
ACCURACY_TICKS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999]


# ----- one process at a time: the lock -------------------------------------------------------

held = []  # the run folders this process has locked


def lock(out):
    """Own ``out`` for this process: ``.lock``, made only if absent, names our PID and
    host. A lock of a process that no longer runs on this host is cleared with a
    message; any other lock is refused, naming its holder."""
    path, me = out / LOCK, {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(3):
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if path.is_dir():
                raise UsageError(f"{path} is a folder, not a run's lock file; remove it if no "
                                 f"run uses {out}") from None
            holder = read_lock(path)
            if holder is None or holder_is_running(holder):
                stuck = "" if holder is None else (
                    f"; if that is no training run (its PID reused after a reboot, or another "
                    f"machine that crashed), delete {path}")
                raise UsageError(f"{out} is in use by {describe_holder(holder)}; wait for it to "
                                 f"finish, or choose another --out{stuck}") from None
            what = (f"process {holder['pid']}, which no longer runs" if holder["pid"] > 0 else
                    "an unreadable lock, older than a process takes to write one")
            print(f"note: {out} was locked by {what}; its lock is cleared", file=sys.stderr)
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(descriptor, "w") as file:
            json.dump(me, file)
        held.append(out)
        return
    raise UsageError(f"cannot lock {out}: other processes keep taking it")


def read_lock(path):
    """The holder recorded in a lock file, {"pid": int, "host": str}; None while it is
    being written (a few seconds at most: an empty, unreadable or malformed lock older
    than that counts as dead)."""
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        holder = None
    if isinstance(holder, dict) and type(holder.get("pid")) is int and \
            isinstance(holder.get("host"), str):
        return holder
    try:
        fresh = time.time() - path.stat().st_mtime < 10
    except OSError:
        fresh = False
    return None if fresh else {"pid": -1, "host": socket.gethostname()}


def holder_is_running(holder):
    """True unless the holder is a process of this host that no longer exists."""
    if holder["host"] != socket.gethostname():
        return True  # another machine's process cannot be asked
    if holder["pid"] <= 0:
        return False
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe_holder(holder):
    if holder is None:
        return "another process (its lock is being written)"
    if holder["pid"] <= 0:
        return "an unreadable lock (.lock)"
    return f"process {holder['pid']} on {holder['host']} (its lock: .lock)"


def check_lock(out):
    """Before every write: the folder and its lock must still be there, and the lock
    ours (nothing else took the folder)."""
    if not out.is_dir():
        raise OSError(f"the run folder {out} was removed or moved away during the run; "
                      "nothing more is written")
    if not (out / LOCK).exists():
        raise OSError(f"{out / LOCK} was removed during the run, so another process may "
                      f"write into {out}; nothing more is written")
    holder = read_lock(out / LOCK)
    if holder is None or holder.get("pid") != os.getpid():
        raise OSError(f"{out} is no longer locked by this process (now: "
                      f"{describe_holder(holder)}); nothing more is written")


def release_locks():
    """Remove the locks this process holds (when the command ends, however it ends)."""
    while held:
        out = held.pop()
        holder = read_lock(out / LOCK)
        if holder is not None and holder.get("pid") == os.getpid():
            (out / LOCK).unlink(missing_ok=True)


# ----- the folder and its files ---------------------------------------------------------------

def prepare(config):
    """The run directory --out, locked and checked before any data is loaded: a new
    run needs a new or empty folder; the folder must be writable (a probe file is
    written and removed). The temporary files a killed run left are removed
    first (minigrad's own, named by fileio.atomic_write), so the same command
    can start again."""
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    if out.is_symlink() and not out.exists():
        raise UsageError(f"--out {out} is a symbolic link to {os.readlink(out)}, which does not "
                         "exist (or loops); create its target, or choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock(out)  # first: a folder in use is refused naming its holder
    except OSError as error:
        raise UsageError(f"cannot write into --out {out}: {error.strerror or error}") from None
    check_new_or_empty(out, config)
    try:
        fileio.remove_stale_temporaries(out)
        probe = out / ".write-test"
        fileio.write_bytes(probe, b"")
        probe.unlink()
    except OSError as error:
        raise UsageError(f"cannot write into --out {out}: {error.strerror or error}") from None
    return out


def check_new_or_empty(out, config):
    """A new run needs a new or empty folder (its own lock and temporaries aside)."""
    if not config.resume and out.is_dir():
        if (out / CHECKPOINT).exists():
            found = [name for name in RUN_FILES if (out / name).exists()]
            raise UsageError(f"{out} already holds a run ({', '.join(found)}); continue it with "
                             "--resume, or choose another --out")
        others = sorted(path.name for path in out.iterdir()
                        if fileio.TEMP_MARK not in path.name and path.name != LOCK)
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise UsageError(f"{out} holds other files ({shown}); a new run needs a new or "
                             "empty folder, and nothing in it is ever overwritten")


def new_metrics(config, model, processes=1):
    """The metrics record of a fresh run. Per epoch: training loss, validation loss
    and accuracy, learning rate at the epoch's end, seconds, images per second;
    initial_val_*: the validation before the first step; train_curve: the mean
    training loss of each logged interval, at its end (in epochs); processes:
    how many trained together (--distributed), each on --batch-size images."""
    return {
        "run": uuid.uuid4().hex,  # the run's identity: a checkpoint belongs to one run
        "command": config.command, "commands": [config.command],
        "args": {key: getattr(config, key) for key in DEFAULTS},
        "params": sum(p.numel() for p in model.parameters()), "device": config.device,
        "processes": processes,
        "epochs_completed": 0, "train_loss": [], "val_loss": [], "val_accuracy": [],
        "lr": [], "epoch_seconds": [], "images_per_second": [], "seconds": 0.0,
        "initial_val_loss": None, "initial_val_accuracy": None,
        "train_curve": {"epoch": [], "loss": []}, "finished": False,
    }


def resume(out, config, model, optimizer, processes=1, average=None):
    """(epochs done, metrics) of the run in ``out``; the weights, the optimizer
    state and the weight average (if ``average``) are loaded from its checkpoint.
    It must continue on as many processes as it ran on (the batch of a step
    depends on it)."""
    check_same_run(out)
    try:
        meta, _ = load_checkpoint(out / CHECKPOINT, model, optimizer, {"average": average})
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot resume: {error}") from None
    metrics = meta.get("metrics") if isinstance(meta, dict) else None
    expected = set(new_metrics(config, model, processes)) - {"run"}  # runs before it lack "run"
    missing = sorted(expected - set(metrics)) if isinstance(metrics, dict) else ["metrics"]
    if missing or not isinstance(meta.get("epoch"), int):
        lacks = ", ".join(missing) if missing else "epoch"
        raise UsageError(f"cannot resume: {out / CHECKPOINT}: its record of the run lacks "
                         f"{lacks}; it was not written by this command (or was edited)")
    before = metrics.get("processes", 1)
    if before != processes:
        raise UsageError(f"the run in {out} was trained by {before} process(es) of batch "
                         f"{config.batch_size}, this is {processes}; resume it with as many, "
                         "as the batch of a step depends on it")
    metrics["processes"] = processes
    metrics["commands"].append(config.command)
    metrics["args"].update({key: getattr(config, key) for key in RESUME_ADJUSTABLE})
    metrics["device"] = config.device
    return meta["epoch"], metrics


def record_epoch(metrics, train_loss, val, lr, seconds, images_per_second, curve):
    """Append one epoch's results; ``curve`` holds its (epoch, training loss) points."""
    metrics["epochs_completed"] += 1
    for epoch, loss in curve:
        metrics["train_curve"]["epoch"].append(epoch)
        metrics["train_curve"]["loss"].append(loss)
    metrics["train_loss"].append(train_loss)
    metrics["val_loss"].append(val["loss"])
    metrics["val_accuracy"].append(val["accuracy"])
    metrics["lr"].append(lr)
    metrics["epoch_seconds"].append(seconds)
    metrics["images_per_second"].append(images_per_second)
    metrics["seconds"] = sum(metrics["epoch_seconds"])


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def ctrl_c_deferred():
    """Hold a Ctrl-C (or a SIGTERM, which the command treats alike) back until the
    block is done (then raise it), so that files written together stay consistent."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    received = []
    previous = {number: signal.signal(number, lambda got, frame: received.append(got))
                for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if received:
        raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_ctrl_c():
    """Inside the block, SIGTERM (``kill``, a job scheduler, ``docker stop``) stops the
    command as a Ctrl-C does: the last checkpoint kept, the lock released, one line
    said. The handler before it comes back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_same_run(out):
    """--resume continues the run the folder records: the checkpoint's run identity must
    be the one in metrics.json (a checkpoint copied from another run is refused)."""
    try:
        recorded = json.loads((out / METRICS).read_text()).get("run")
        theirs = load_meta(out / CHECKPOINT).get("metrics", {}).get("run")
    except (OSError, ValueError, AttributeError):
        return  # a missing or damaged file is reported when it is loaded
    if recorded is not None and theirs != recorded:
        raise UsageError(f"cannot resume: {out / CHECKPOINT} belongs to run {theirs}, but "
                         f"{out / METRICS} records run {recorded}; a checkpoint from another "
                         "run is never resumed into this folder")


def check_same_data(metrics, data_now, data_dir):
    """--resume goes on with the data the run trained on: the same image counts and
    digest (``mnist_data.fingerprint``). A new run, or one from before runs recorded
    their data, records it now."""
    recorded = metrics.get("data")
    if recorded is None:
        metrics["data"] = data_now
    elif recorded != data_now:
        raise UsageError(f"cannot resume: the run trained on {_data_text(recorded)}, but the "
                         f"data in {data_dir} gives {_data_text(data_now)}; resume with the "
                         "--data-dir it trained on")


def _data_text(record):
    return (f"{record['train']:,} training, {record['val']:,} validation and "
            f"{record['test']:,} test images (digest {record['digest']})")


def save_epoch(out, model, optimizer, metrics, average=None):
    """Checkpoint (weights, Adam state, the weight average if any, epoch, metrics),
    then metrics.json; call it inside ctrl_c_deferred()."""
    check_lock(out)
    meta = {"epoch": metrics["epochs_completed"], "metrics": metrics}
    save_checkpoint(out / CHECKPOINT, model, optimizer, meta=meta, extras={"average": average})
    write_json(out / METRICS, metrics)


def finish(out, model, metrics, test, by_resolution):
    """Record the test result; write model.npz, curves.png and, last, metrics.json
    marked finished. Returns a warning if curves.png could not be drawn."""
    metrics["test_loss"] = test["loss"]
    metrics["test_accuracy"] = test["accuracy"]
    if by_resolution:
        metrics["test_accuracy_by_resolution"] = test["accuracy_by_group"]
    check_lock(out)
    with ctrl_c_deferred():  # a Ctrl-C now waits, so "finished" means every file exists
        save(model.state_dict(), out / MODEL)
        warning = plot_curves(metrics, out / CURVES)
        metrics["finished"] = True
        write_json(out / METRICS, metrics)
    return warning


def write_json(path, value):
    fileio.write_bytes(path, (json.dumps(value, indent=2) + "\n").encode("utf-8"))


def smooth(values):
    """Centred moving average over about a 25th of the points (fewer at the ends)."""
    half = len(values) // 50
    smoothed = []
    for i in range(len(values)):
        window = values[max(0, i - half):i + half + 1]
        smoothed.append(sum(window) / len(window))
    return smoothed


def plot_curves(metrics, path):
    """Loss (training per logged interval and smoothed, validation per epoch) and
    validation accuracy as a PNG; returns a message if matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import ticker
    except ImportError:
        return f"matplotlib is not installed: {path.name} not drawn (pip install matplotlib)"
    epochs = list(range(metrics["epochs_completed"] + 1))  # epoch 0: before the first step
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    plot_loss(loss_axis, metrics, epochs, ticker)
    plot_accuracy(accuracy_axis, metrics, epochs, ticker)
    for axis in (loss_axis, accuracy_axis):
        axis.set_xticks(epochs)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(metrics["command"], fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    fileio.write_bytes(path, buffer.getvalue())
    return None


def plot_loss(axis, metrics, epochs, ticker):
    """Training loss per logged interval (faint) and smoothed; validation loss per
    epoch. A log scale shows the late, small changes."""
    curve = metrics["train_curve"]
    axis.plot(curve["epoch"], curve["loss"], color="tab:blue", alpha=0.25, linewidth=0.8,
              label=f"training, mean of every {metrics['args']['log_every']} steps")
    axis.plot(curve["epoch"], smooth(curve["loss"]), color="tab:blue",
              label="training (smoothed)")
    axis.plot(epochs, [metrics["initial_val_loss"], *metrics["val_loss"]], "o-",
              color="tab:orange", label="validation")
    axis.set(ylabel="cross-entropy loss (log scale)", yscale="log", title="loss")
    axis.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    axis.yaxis.set_minor_formatter(ticker.NullFormatter())


def plot_accuracy(axis, metrics, epochs, ticker):
    """Validation accuracy per epoch, and the test accuracy once known. A logit
    scale spreads 10% → 90% → 99% → 99.9% evenly, so the last epochs stay readable."""
    accuracy = [metrics["initial_val_accuracy"], *metrics["val_accuracy"]]
    shown = [min(max(value, 0.001), 0.999) for value in accuracy]  # logit(0), logit(1): ±∞
    axis.plot(epochs, shown, "o-", color="tab:orange", label="validation")
    for epoch, value, y in zip(epochs, accuracy, shown):
        axis.annotate(f"{100 * value:.2f}%", (epoch, y), fontsize=8, textcoords="offset points",
                      xytext=(0, -14), ha="center")
    if "test_accuracy" in metrics:
        test = metrics["test_accuracy"]
        axis.axhline(min(max(test, 0.001), 0.999), color="gray", linestyle="--",
                     label=f"test {100 * test:.2f}%")
    low, high = min(shown) / 2, (1 + max(shown)) / 2
    axis.set(ylabel="accuracy (%, logit scale)", yscale="logit", ylim=(low, high),
             title="validation accuracy")
    axis.yaxis.set_major_locator(ticker.FixedLocator([tick for tick in ACCURACY_TICKS
                                               if low <= tick <= high]))
    axis.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{100 * value:g}"))
    axis.yaxis.set_minor_locator(ticker.NullLocator())
