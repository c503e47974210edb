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
--resume continues from it exactly. The pieces live in trainlib.py.
"""
import sys
import time

import trainlib
from minigrad import GPUUnavailableError, optim
from minigrad.data import count_batches


def main(argv=None):
    """Run the command line ``argv``; returns the exit code."""
    try:
        config = trainlib.parse_config(argv)
        xp = trainlib.array_module(config.device)  # fails at once without a usable GPU
        out = trainlib.prepare_run_dir(config)
    except (trainlib.UsageError, GPUUnavailableError) as error:
        print(f"train_mnist.py: error: {error}", file=sys.stderr)
        return 2

    print(f"loading data for --model {config.model} ...", flush=True)
    try:
        dataset = trainlib.load_data(config)
    except (FileNotFoundError, ValueError) as error:  # missing or damaged data files
        print(f"train_mnist.py: error: {error}", file=sys.stderr)
        return 2
    model = trainlib.build_model(config).to(config.device)
    optimizer = optim.Adam(model.parameters(), lr=config.lr)
    first_epoch, metrics = trainlib.start_or_resume(out, config, model, optimizer)
    steps_per_epoch = count_batches(dataset.train, config.batch_size)
    total_steps = config.epochs * steps_per_epoch

    print(f"images: train {trainlib.describe(dataset.train)}, validation "
          f"{trainlib.describe(dataset.val)}, test {trainlib.describe(dataset.test)}")
    print(f"model: {config.model}, {metrics['params']:,} parameters, on {config.device}; "
          f"Adam lr {config.lr:g} ({config.schedule}), batch {config.batch_size}, "
          f"augment {'on' if config.augment else 'off'}; run directory {out}")
    if first_epoch:
        print(f"resuming after epoch {first_epoch} of {config.epochs}")

    done = first_epoch  # epochs completed and checkpointed
    try:
        for epoch in range(first_epoch, config.epochs):
            start = time.perf_counter()
            train_loss = trainlib.train_one_epoch(model, optimizer, dataset, config, xp, epoch,
                                                  epoch * steps_per_epoch, total_steps)
            train_seconds = time.perf_counter() - start
            val = trainlib.evaluate(model, dataset.val, dataset, xp, config.eval_batch_size)
            seconds = time.perf_counter() - start
            trainlib.record_epoch(metrics, train_loss, val, optimizer.hyper["lr"], seconds,
                                  trainlib.count_images(dataset.train) / train_seconds)
            with trainlib.ctrl_c_deferred():
                trainlib.save_epoch(out, model, optimizer, metrics)
                done = epoch + 1
            print(f"epoch {done}/{config.epochs}  train loss {train_loss:.4f}  "
                  f"val loss {val['loss']:.4f}  val accuracy {100 * val['accuracy']:.2f}%  "
                  f"lr {optimizer.hyper['lr']:.2e}  {trainlib.format_seconds(seconds)}",
                  flush=True)
            if done - first_epoch == config.pause_after and done < config.epochs:
                print(f"paused after epoch {done}; continue with: "
                      f"python examples/train_mnist.py --out {out} --resume")
                return 0
        test = trainlib.evaluate(model, dataset.test, dataset, xp, config.eval_batch_size)
    except KeyboardInterrupt:
        resume = f"; continue with: python examples/train_mnist.py --out {out} --resume"
        print(f"\ninterrupted: {kept_checkpoint(out, done)}{resume if done else ''}",
              file=sys.stderr)
        return 130
    except trainlib.NonFiniteLoss as error:
        print(f"\ntrain_mnist.py: stopped: {error}; {kept_checkpoint(out, done)}. "
              "Lower the learning rate: a new run with a smaller --lr, or --resume --lr ...",
              file=sys.stderr)
        return 1

    warning = trainlib.finish_run(out, model, metrics, test, config.model != "fixed")
    if warning:
        print(warning)
    by_resolution = ""
    if config.model != "fixed":
        by_resolution = " (" + ", ".join(f"{key}px {100 * accuracy:.2f}%" for key, accuracy
                                         in test["accuracy_by_group"].items()) + ")"
    print(f"test accuracy {100 * test['accuracy']:.2f}%{by_resolution}; training time "
          f"{trainlib.format_seconds(metrics['seconds'])}; {metrics['params']:,} parameters; "
          f"results in {out}")
    return 0


def kept_checkpoint(out, epochs_done):
    """What a stopped run leaves behind."""
    if not epochs_done:
        return "no epoch was completed, so no checkpoint was written"
    return f"the checkpoint of epoch {epochs_done} is kept in {out / trainlib.CHECKPOINT}"


if __name__ == "__main__":
    sys.exit(main())
