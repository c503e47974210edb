#!/usr/bin/env python
"""Train a minigrad CNN on MNIST or mnist-varres.

    python examples/train_mnist.py                          # fixed CNN, MNIST, 5 epochs
    python examples/train_mnist.py --model varres --pooling mean
    python examples/train_mnist.py --model fixed-resized --device gpu
    python examples/train_mnist.py --plain                  # Adam 1e-3 constant, no augmentation
    python examples/train_mnist.py --limit 3000 --epochs 1  # a quick look
    python examples/train_mnist.py --out runs/a --resume    # continue a stopped run
    mpiexec -n 2 python examples/train_mnist.py --distributed  # 2 processes, one model

The data folder is --data-dir, else $MINIGRAD_DATA, else ./data. The run
directory (--out) receives metrics.json, model.npz, curves.png and, after
every epoch, checkpoint.npz; Ctrl-C keeps the last epoch's checkpoint, and
--resume continues from it exactly. Bad input gets a clear error and no
traceback (exit code 2 before training starts, 1 after); docs/errors.md
lists every case. The command line is read in mnist_settings.py, the run
directory written in run_folder.py, and the data prepared in mnist_data.py;
the training loop itself is train_epoch below, a screen long.

Reproducibility: the weights are initialised from --seed; epoch e shuffles
(and augments) with generators derived from (seed, e) alone, and a resumed
run replays the learning-rate schedule up to its step, so a run resumed from
the checkpoint of epoch e repeats exactly what an uninterrupted run does.
"""
import contextlib
import math
import os
import sys
import time
import warnings
from pathlib import Path

import mnist_data
import run_folder
from mnist_settings import UsageError, parse_config

import minigrad
from minigrad import GPUUnavailableError, data, distributed, models, optim
from minigrad import functional as F
from minigrad.checkpoint import load_meta, non_finite
from minigrad.data import count_batches
from minigrad.optim.lr_scheduler import OneCycleLR
from minigrad.training import ExponentialMovingAverage, LossLog, NonFiniteLoss, evaluate

WARMUP_FRACTION = 0.03  # of the one-cycle schedule's steps spent rising to the peak
# A network that guesses uniformly among 10 classes has a loss of ln 10 = 2.3; a
# logged mean loss a hundred times that means training has diverged: stop, as for NaN.
LOSS_LIMIT = 100 * math.log(mnist_data.NUM_CLASSES)
ARITHMETIC_WARNINGS = "(overflow|invalid value|divide by zero) encountered"  # NumPy's words


def build_model(config):
    """The network of --model, initialised from --seed, on --device."""
    minigrad.manual_seed(config.seed)
    if config.model == "varres":
        model = models.var_res_cnn(pooling=config.pooling)
    else:
        model = models.fixed_res_cnn()
    return model.to(config.device)


def build_schedule(optimizer, config, dataset, steps_done):
    """--schedule as a scheduler (None for constant), at step ``steps_done``.

    A resumed run replays the schedule's steps: the same arithmetic as an
    uninterrupted run, and a --lr or --epochs given with --resume applies.
    """
    if config.schedule == "constant":
        for group in optimizer.param_groups:
            group["lr"] = config.lr  # a resumed run may change it
        return None
    steps_per_epoch = count_batches(dataset.train, mnist_data.global_batch(config))
    scheduler = OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch,
                           pct_start=WARMUP_FRACTION, cycle_momentum=False)
    for _ in range(steps_done):
        scheduler.step()
    return scheduler


def weights_to_evaluate(model, average):
    """A block in which ``model`` holds the weights to evaluate and save: with
    --ema the averaged ones (its own come back after), else its own."""
    return average.applied(model) if average is not None else contextlib.nullcontext()


def evaluate_groups(model, groups, dataset, config):
    """evaluate() for each image size; the totals, and accuracy by resolution."""
    results = {}
    for shape, group in groups.items():
        batches = mnist_data.batches({shape: group}, config.eval_batch_size, dataset,
                                     config.device)
        results[mnist_data.resolution_key(shape)] = evaluate(model, batches)
    count = sum(result["count"] for result in results.values())
    loss = sum(result["loss"] * result["count"] for result in results.values())
    correct = sum(result["accuracy"] * result["count"] for result in results.values())
    return {"loss": loss / count, "accuracy": correct / count,
            "accuracy_by_group": {key: result["accuracy"] for key, result in results.items()}}


def train_epoch(model, optimizer, scheduler, average, batches, config, report=None,
                loss_limit=LOSS_LIMIT):
    """One epoch, step by step; returns the mean training loss per image. This is the
    training loop: an option that changes a step shows here (and in the parser)."""
    model.train()
    losses = LossLog(optimizer, config.log_every, loss_limit, report)
    for batch in distributed.my_batches(batches):  # this process's part (alone: all of it)
        logits = model(batch.images.to(config.device))
        loss = F.cross_entropy(logits, batch.labels, label_smoothing=config.label_smoothing)
        optimizer.zero_grad()
        loss.backward()
        distributed.all_reduce_gradients(model, batch.share)  # alone: nothing to do
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if average is not None:
            average.update(model)
        losses.add(loss, batch)  # read back (one device sync) every --log-every steps
    return losses.mean()


def train_and_validate(epoch, model, optimizer, scheduler, average, dataset, config, metrics):
    """Epoch ``epoch`` (0-based): train, validate, record in ``metrics``; returns the
    line that reports it."""
    start = time.perf_counter()
    images = mnist_data.count_images(dataset.train)
    with Progress(images, f"epoch {epoch + 1}/{config.epochs}") as progress:
        batches = mnist_data.training_batches(dataset, config, epoch)
        train_loss = train_epoch(model, optimizer, scheduler, average, batches, config,
                                 progress.log)
    train_seconds = time.perf_counter() - start
    check_finite(model, optimizer, average)
    with weights_to_evaluate(model, average):
        val = evaluate_groups(model, dataset.val, dataset, config)
    if not math.isfinite(val["loss"]):
        raise NonFiniteLoss(f"the validation loss is {val['loss']}: the weights grew too large "
                            f"({learning_rate(optimizer)})")
    seconds = time.perf_counter() - start
    lr = optimizer.param_groups[0]["lr"]
    steps = count_batches(dataset.train, mnist_data.global_batch(config))
    curve = [(epoch + step / steps, loss) for step, loss in progress.points]
    run_folder.record_epoch(metrics, train_loss, val, lr, seconds, images / train_seconds, curve)
    return (f"epoch {epoch + 1}/{config.epochs}  train loss {train_loss:.4f}  "
            f"val loss {val['loss']:.4f}  val accuracy {100 * val['accuracy']:.2f}%  "
            f"lr {lr:.2e}  {format_seconds(seconds)}")


def check_finite(model, optimizer, average):
    """Stop (NonFiniteLoss) before weights or optimizer state holding NaN or inf are
    evaluated or saved: the last good checkpoint and model.npz stay as they are."""
    parts = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
    if average is not None:
        parts["weight average"] = average.state_dict()
    problem = non_finite(parts)
    if problem:
        raise NonFiniteLoss(f"the training made the weights NaN or infinite: {problem} "
                            f"({learning_rate(optimizer)})")


def learning_rate(optimizer):
    return f"learning rate {optimizer.param_groups[0]['lr']:.3g}"


def main(argv=None):
    """Run the command line ``argv``; returns the exit code. The run folder is locked
    for this process while the command runs."""
    with run_folder.sigterm_as_ctrl_c():
        try:
            try:
                return run_command(argv)
            finally:
                run_folder.release_locks()
        except KeyboardInterrupt:  # a Ctrl-C between the command's own handlers, as it ends
            run_folder.release_locks()
            return report("interrupted as the command ended; every file it wrote is complete",
                          130)


def run_command(argv):
    """The command line ``argv`` (see main); returns the exit code."""
    minigrad.memory.keep_freed_memory()  # a step reuses freed memory (docs: speed)
    try:
        config = parse_config(argv)
        if config.distributed:
            join_processes(config)
        out, model, optimizer, average, first_epoch, metrics = on_every_process(set_up, config)
        distributed.broadcast_parameters(model, optimizer)  # all start as the first process
        if config.ema is not None and average is None:  # a new run: from the weights above
            average = ExponentialMovingAverage(model, config.ema)
    except (UsageError, GPUUnavailableError, distributed.DistributedError) as error:
        return report(error, 2)
    except StoppedElsewhere:
        return 2
    except KeyboardInterrupt:
        return report("interrupted before training started; nothing was written", 130)

    print(f"loading data for --model {config.model} ...", flush=True)
    try:
        dataset = on_every_process(load_data, config)
    except (OSError, ValueError) as error:  # missing, unreadable or damaged data files
        return report(f"cannot load the data: {describe(error)}", 2)
    except StoppedElsewhere:
        return 2
    except KeyboardInterrupt:
        return report("interrupted while loading the data; nothing was trained", 130)
    try:
        run_folder.check_same_data(metrics, mnist_data.fingerprint(dataset),
                                   data.resolve_data_dir(config.data_dir))
    except UsageError as error:
        return report(error, 2)

    try:
        with warnings.catch_warnings():  # a diverging run overflows; the loss check says so
            warnings.filterwarnings("ignore", ARITHMETIC_WARNINGS, RuntimeWarning)
            return train(out, model, optimizer, average, first_epoch, metrics, dataset, config)
    except KeyboardInterrupt:
        if metrics["finished"]:
            return report(f"interrupted after the run finished; every file is in {out}", 130)
        return report(f"interrupted: {kept_checkpoint(out)}{resume_hint(out)}", 130)
    except NonFiniteLoss as error:
        return report(f"stopped in epoch {metrics['epochs_completed'] + 1}: {error}; "
                      f"{kept_checkpoint(out)}. {divergence_advice(config)}", 1)
    except OSError as error:
        return report(f"cannot write the run's files ({describe(error)}); "
                      f"{kept_checkpoint(out)}", 1)
    except StoppedElsewhere:
        return 1


def set_up(config):
    """The run directory (checked before any data is loaded), the model and Adam
    (AdamW with --weight-decay), fresh or resumed: (out, model, optimizer, weight
    average (resumed with --ema; else None), epochs done, metrics)."""
    minigrad.backend.module_for(config.device)  # fails at once without a usable GPU
    out = Path(config.out)
    if distributed.is_main():  # the one process that writes
        out = run_folder.prepare(config)
    model = build_model(config)
    if config.weight_decay:
        optimizer = optim.AdamW(model.parameters(), lr=config.lr,
                                weight_decay=config.weight_decay)
    else:
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
    average, first_epoch = None, 0
    metrics = run_folder.new_metrics(config, model, distributed.world_size())
    if config.resume:
        if config.ema is not None:
            average = ExponentialMovingAverage(model, config.ema)
        first_epoch, metrics = run_folder.resume(out, config, model, optimizer,
                                                 distributed.world_size(), average)
    return out, model, optimizer, average, first_epoch, metrics


def load_data(config):
    """mnist_data.load(config); under --distributed, the first process alone
    prints the loader's warnings."""
    if distributed.is_main():
        return mnist_data.load(config)
    with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):
        return mnist_data.load(config)


def train(out, model, optimizer, average, first_epoch, metrics, dataset, config):
    """Train from ``first_epoch`` to --epochs, checkpointing every epoch, then
    test and write the final files; returns the exit code."""
    steps_done = first_epoch * count_batches(dataset.train, mnist_data.global_batch(config))
    scheduler = build_schedule(optimizer, config, dataset, steps_done)
    processes = distributed.world_size()
    per_process = f" per process x {processes} processes" if processes > 1 else ""
    print(f"images: train {mnist_data.describe(dataset.train)}, validation "
          f"{mnist_data.describe(dataset.val)}, test {mnist_data.describe(dataset.test)}")
    print(f"model: {config.model}, {metrics['params']:,} parameters, on {config.device}; "
          f"{type(optimizer).__name__} lr {config.lr:g} ({config.schedule}), batch "
          f"{config.batch_size}{per_process}, augment {'on' if config.augment else 'off'}"
          f"{recipe_extras(config)}; run directory {out}")
    if first_epoch:
        print(f"resuming after epoch {first_epoch} of {config.epochs}")

    if metrics["initial_val_loss"] is None:
        val = evaluate_groups(model, dataset.val, dataset, config)
        metrics["initial_val_loss"], metrics["initial_val_accuracy"] = (val["loss"],
                                                                        val["accuracy"])
        print(f"before training: val loss {val['loss']:.4f}  "
              f"val accuracy {100 * val['accuracy']:.2f}%", flush=True)
    for epoch in range(first_epoch, config.epochs):
        summary = train_and_validate(epoch, model, optimizer, scheduler, average, dataset,
                                     config, metrics)
        with run_folder.ctrl_c_deferred():  # the files stay consistent
            on_every_process(on_first_process, run_folder.save_epoch, out, model, optimizer,
                             metrics, average)
        print(summary, flush=True)
    with weights_to_evaluate(model, average):
        test = evaluate_groups(model, dataset.test, dataset, config)
        warning = on_every_process(on_first_process, run_folder.finish, out, model, metrics,
                                   test, config.model != "fixed")
    if warning:
        print(warning)
    by_resolution = ""
    if config.model != "fixed":
        by_resolution = " (" + ", ".join(f"{key}px {100 * accuracy:.2f}%" for key, accuracy
                                         in test["accuracy_by_group"].items()) + ")"
    print(f"test accuracy {100 * test['accuracy']:.2f}%{by_resolution}; training time "
          f"{format_seconds(metrics['seconds'])}; {metrics['params']:,} parameters; "
          f"results in {out}")
    return 0


def recipe_extras(config):
    """The options beyond the default recipe that are on, as ', label smoothing 0.1, ...'."""
    extras = [(config.label_smoothing, f"label smoothing {config.label_smoothing:g}"),
              (config.weight_decay, f"weight decay {config.weight_decay:g}"),
              (config.ema is not None, f"weight average (EMA) decay {config.ema}")]
    return "".join(f", {text}" for on, text in extras if on)


# ------------------------------------------------- several processes (MPI) ---

class StoppedElsewhere(Exception):
    """Another process of a --distributed run failed (and said why)."""


def join_processes(config):
    """--distributed: join the processes mpiexec started. Only the first one
    (rank 0) prints and writes; a GPU run gives each process its own GPU."""
    distributed.init(config.device)
    config.command = f"mpiexec -n {distributed.world_size()} {config.command}"
    if not distributed.is_main():
        sys.stdout = open(os.devnull, "w")


def on_every_process(work, *args):
    """``work(*args)``, in step with the other processes of a --distributed run
    (alone, just the call): if it fails anywhere, every process stops, with one
    message. The error is raised where it happened (by the first process if it
    failed there); the others raise StoppedElsewhere. ``work`` must not itself
    wait for the other processes."""
    error = None
    try:
        result = work(*args)
    except (UsageError, OSError, ValueError, GPUUnavailableError) as caught:
        error = caught
    if distributed.sum_over_ranks(error is not None):
        first_failed = distributed.sum_over_ranks(error is not None and distributed.is_main())
        if error is None or (first_failed and not distributed.is_main()):
            raise StoppedElsewhere
        raise error
    return result


def on_first_process(work, *args):
    """``work(*args)`` on the first process only (the files are written once)."""
    return work(*args) if distributed.is_main() else None


def report(message, code):
    """Print an error (exit code 1 or 2) or the interrupted message (130) on
    stderr; return ``code``. Under --distributed, an error names the process
    that is not the first; only the first says it was interrupted."""
    if code == 130:
        if distributed.is_main():
            print(f"\n{message}", file=sys.stderr, flush=True)
        return code
    where = "" if distributed.is_main() else f" on process {distributed.rank()}"
    print(f"train_mnist.py: error{where}: {message}", file=sys.stderr, flush=True)
    return code


class Progress:
    """One epoch's progress: a tqdm bar on a terminal, else a plain line at most
    every 10 seconds (log files stay short). Keeps the logged (step, loss) points."""

    def __init__(self, total, label):
        self.total, self.label, self.done, self.points = total, label, 0, []
        self.start = self.last_print = time.perf_counter()
        self.bar = None
        if sys.stderr.isatty() and distributed.is_main():
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self.bar = tqdm(total=total, desc=label, unit="img", leave=False,
                                dynamic_ncols=True)

    def log(self, step, done, loss):
        """LossLog's report: ``step`` steps and ``done`` images so far, ``loss``
        the mean loss since the last report."""
        self.points.append((step, loss))
        if self.bar is not None:
            self.bar.update(done - self.done)
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
            self.done = done
            return
        self.done = done
        now = time.perf_counter()
        if done == self.total or now - self.last_print >= 10:
            self.last_print = now
            rate = done / max(now - self.start, 1e-9)
            eta = (self.total - done) / max(rate, 1e-9)
            print(f"  {self.label}  {done:>6,}/{self.total:,} images  loss {loss:.4f}  "
                  f"{rate:.0f} img/s  ETA {format_seconds(eta)}", flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *error):
        if self.bar is not None:
            self.bar.close()


def format_seconds(seconds):
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def describe(error):
    """An error as one line: 'PATH: Permission denied' rather than '[Errno 13] ...'
    (for a file moved into place, PATH is its destination)."""
    if isinstance(error, OSError) and error.strerror and error.filename:
        return f"{error.filename2 or error.filename}: {error.strerror}"
    return str(error)


def kept_checkpoint(out):
    """What a stopped run leaves behind, as its checkpoint file says."""
    path = out / run_folder.CHECKPOINT
    if not out.is_dir():
        return f"{out} no longer exists (removed or moved away), so no checkpoint is kept there"
    if not path.is_file():
        return "no epoch was completed, so no checkpoint was written"
    try:
        epoch = load_meta(path)["epoch"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"{path} is there but cannot be read ({describe(error)})"
    return f"the checkpoint of epoch {epoch} is kept in {path}"


def divergence_advice(config):
    """What to change after the loss diverged: a decoupled weight decay with lr · decay
    ≥ 1 flips the weights' sign every step, whatever the learning rate; else the rate."""
    if config.weight_decay and config.lr * config.weight_decay >= 1:
        return (f"--weight-decay {config.weight_decay:g} with --lr {config.lr:g} shrinks every "
                "weight past zero at each step (lr × decay ≥ 1): use a much smaller "
                "--weight-decay (0.01 is usual)")
    return ("Lower the learning rate: a new run with a smaller --lr, or --resume --lr ...")


def resume_hint(out):
    """How to continue a stopped run, if it has a checkpoint."""
    if not (out / run_folder.CHECKPOINT).is_file():
        return ""
    processes = distributed.world_size()
    launcher = f"mpiexec -n {processes} " if processes > 1 else ""
    together = " --distributed" if processes > 1 else ""
    return (f"; continue with: {launcher}python examples/train_mnist.py --out {out} "
            f"--resume{together}")


if __name__ == "__main__":
    sys.exit(main())
