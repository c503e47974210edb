#!/usr/bin/env python
"""Train a minigrad CNN on MNIST or mnist-varres.

    python examples/train_mnist.py                          # fixed CNN, MNIST, 5 epochs
    python examples/train_mnist.py --model varres --pooling mean
    python examples/train_mnist.py --model fixed-resized --device gpu
    python examples/train_mnist.py --plain                  # Adam 1e-3 constant, no augmentation
    python examples/train_mnist.py --limit 3000 --epochs 1  # a quick look
    python examples/train_mnist.py --out runs/a --resume    # continue a stopped run

The data folder is --data-dir, else $MINIGRAD_DATA, else ./data. The run
directory (--out) receives metrics.json, model.npz, curves.png and, after
every epoch, checkpoint.npz; Ctrl-C keeps the last epoch's checkpoint, and
--resume continues from it exactly. The command line is read in
mnist_settings.py, the run directory written in run_folder.py, and the data
prepared in mnist_data.py; the training itself is minigrad's
train_one_epoch and evaluate, as below.

Reproducibility: the weights are initialised from --seed; epoch e shuffles
(and augments) with generators derived from (seed, e) alone, and a resumed
run replays the learning-rate schedule up to its step, so a run resumed from
the checkpoint of epoch e repeats exactly what an uninterrupted run does.
"""
import sys
import time

import minigrad
import mnist_data
import run_folder
from minigrad import GPUUnavailableError, models, optim
from minigrad.data import count_batches
from minigrad.optim.lr_scheduler import OneCycleLR
from minigrad.training import NonFiniteLoss, evaluate, train_one_epoch
from mnist_settings import UsageError, parse_config

WARMUP_FRACTION = 0.03  # of the one-cycle schedule's steps spent rising to the peak


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
    steps_per_epoch = count_batches(dataset.train, config.batch_size)
    scheduler = OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch,
                           pct_start=WARMUP_FRACTION, cycle_momentum=False)
    for _ in range(steps_done):
        scheduler.step()
    return scheduler


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


def train_and_validate(epoch, model, optimizer, scheduler, dataset, config, metrics):
    """Epoch ``epoch`` (0-based): train, validate, record in ``metrics``; returns the
    line that reports it."""
    start = time.perf_counter()
    images = mnist_data.count_images(dataset.train)
    with Progress(images, f"epoch {epoch + 1}/{config.epochs}") as progress:
        train_loss = train_one_epoch(model, optimizer,
                                     mnist_data.training_batches(dataset, config, epoch),
                                     scheduler, config.device, config.log_every, progress.log)
    train_seconds = time.perf_counter() - start
    val = evaluate_groups(model, dataset.val, dataset, config)
    seconds = time.perf_counter() - start
    lr = optimizer.param_groups[0]["lr"]
    steps = count_batches(dataset.train, config.batch_size)
    curve = [(epoch + step / steps, loss) for step, loss in progress.points]
    run_folder.record_epoch(metrics, train_loss, val, lr, seconds, images / train_seconds, curve)
    return (f"epoch {epoch + 1}/{config.epochs}  train loss {train_loss:.4f}  "
            f"val loss {val['loss']:.4f}  val accuracy {100 * val['accuracy']:.2f}%  "
            f"lr {lr:.2e}  {format_seconds(seconds)}")


def main(argv=None):
    """Run the command line ``argv``; returns the exit code."""
    try:
        config = parse_config(argv)
        minigrad.backend.module_for(config.device)  # fails at once without a usable GPU
        out = run_folder.prepare(config)
        model = build_model(config)
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        first_epoch, metrics = 0, run_folder.new_metrics(config, model)
        if config.resume:
            first_epoch, metrics = run_folder.resume(out, config, model, optimizer)
    except (UsageError, GPUUnavailableError) as error:
        print(f"train_mnist.py: error: {error}", file=sys.stderr)
        return 2

    print(f"loading data for --model {config.model} ...", flush=True)
    try:
        dataset = mnist_data.load(config)
    except (FileNotFoundError, ValueError) as error:  # missing or damaged data files
        print(f"train_mnist.py: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted while loading the data; nothing was trained", file=sys.stderr)
        return 130
    steps_done = first_epoch * count_batches(dataset.train, config.batch_size)
    scheduler = build_schedule(optimizer, config, dataset, steps_done)

    print(f"images: train {mnist_data.describe(dataset.train)}, validation "
          f"{mnist_data.describe(dataset.val)}, test {mnist_data.describe(dataset.test)}")
    print(f"model: {config.model}, {metrics['params']:,} parameters, on {config.device}; "
          f"Adam lr {config.lr:g} ({config.schedule}), batch {config.batch_size}, "
          f"augment {'on' if config.augment else 'off'}; run directory {out}")
    if first_epoch:
        print(f"resuming after epoch {first_epoch} of {config.epochs}")

    done = first_epoch  # epochs completed and checkpointed
    try:
        if metrics["initial_val_loss"] is None:
            val = evaluate_groups(model, dataset.val, dataset, config)
            metrics["initial_val_loss"], metrics["initial_val_accuracy"] = (val["loss"],
                                                                            val["accuracy"])
            print(f"before training: val loss {val['loss']:.4f}  "
                  f"val accuracy {100 * val['accuracy']:.2f}%", flush=True)
        for epoch in range(first_epoch, config.epochs):
            summary = train_and_validate(epoch, model, optimizer, scheduler, dataset, config,
                                         metrics)
            with run_folder.ctrl_c_deferred():  # the files and `done` stay consistent
                run_folder.save_epoch(out, model, optimizer, metrics)
                done = epoch + 1
            print(summary, flush=True)
        test = evaluate_groups(model, dataset.test, dataset, config)
        warning = run_folder.finish(out, model, metrics, test, config.model != "fixed")
    except KeyboardInterrupt:
        resume = f"; continue with: python examples/train_mnist.py --out {out} --resume"
        print(f"\ninterrupted: {kept_checkpoint(out, done)}{resume if done else ''}",
              file=sys.stderr)
        return 130
    except NonFiniteLoss as error:
        print(f"\ntrain_mnist.py: stopped in epoch {done + 1}: {error}; "
              f"{kept_checkpoint(out, done)}. Lower the learning rate: a new run with a smaller "
              "--lr, or --resume --lr ...", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"\ntrain_mnist.py: error: cannot write the run's files ({error}); "
              f"{kept_checkpoint(out, done)}", file=sys.stderr)
        return 1

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


class Progress:
    """One epoch's progress: a tqdm bar on a terminal, else a plain line at most
    every 10 seconds (log files stay short). Keeps the logged (step, loss) points."""

    def __init__(self, total, label):
        self.total, self.label, self.done, self.points = total, label, 0, []
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

    def log(self, step, done, loss):
        """train_one_epoch's report: ``step`` steps and ``done`` images so far, ``loss``
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


def kept_checkpoint(out, epochs_done):
    """What a stopped run leaves behind."""
    if not epochs_done:
        return "no epoch was completed, so no checkpoint was written"
    return f"the checkpoint of epoch {epochs_done} is kept in {out / run_folder.CHECKPOINT}"


if __name__ == "__main__":
    sys.exit(main())
