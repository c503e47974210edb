"""The command line of train_mnist.py: options, their checks, and the settings
of a resumed run (taken from its checkpoint)."""
import argparse
import math
import os
import shlex
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from minigrad import backend, data
from minigrad.checkpoint import load_meta

CHECKPOINT = "checkpoint.npz"
PLAIN = {"lr": 1e-3, "schedule": "constant", "augment": False,  # the assignment's setting
         "label_smoothing": 0.0, "weight_decay": 0.0, "ema": None}
DEFAULTS = {
    "model": "fixed", "pooling": "max", "device": "cpu", "epochs": 5, "batch_size": 16,
    "lr": 3e-3, "schedule": "onecycle", "augment": False, "plain": False, "seed": 0,
    "label_smoothing": 0.0, "weight_decay": 0.0, "ema": None,
    "data_dir": None, "out": None, "limit": None, "eval_limit": None, "val_size": 10_000,
    "resume": False, "redownload": False, "cache_dir": None, "distributed": False,
    "eval_batch_size": 256, "log_every": 50,
}
# What may change when a run is resumed; every other setting comes from the checkpoint.
RESUME_ADJUSTABLE = {"device", "data_dir", "eval_batch_size", "log_every", "epochs", "lr", "out",
                     "resume", "redownload", "cache_dir", "distributed"}
# Of those, the ones that make the continued run differ from an uninterrupted one.
RESUME_CHANGES_RESULT = {"epochs", "lr"}


class UsageError(Exception):
    """A problem with the command line or the run directory (exit code 2)."""


def number(kind, text, check, expected):
    """``text`` as a ``kind`` (int or float) that passes ``check``, else an argparse error."""
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not check(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_int(text):
    return number(int, text, lambda value: value >= 1, "a positive integer")


def non_negative_int(text):
    return number(int, text, lambda value: value >= 0, "a non-negative integer")


def non_negative_float(text):
    return number(float, text, lambda value: math.isfinite(value) and value >= 0,
                  "a non-negative number")


def positive_float(text):
    return number(float, text, lambda value: math.isfinite(value) and value > 0,
                  "a positive number")


def fraction(text):
    return number(float, text, lambda value: 0 <= value < 1, "a number in [0, 1)")


class Parser(argparse.ArgumentParser):
    """argparse's parser, but a bad option is one line, the cause, as every other error
    of the command (argparse prints its ten-line usage first; --help shows it)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def folder(text):
    """A folder option, ~ expanded; an empty one (an unset shell variable?) is refused
    rather than read as the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a folder, got {text!r}")
    return os.path.expanduser(text)


def build_parser():
    """The command line. Defaults live in DEFAULTS, so that parsing tells
    which options were actually typed (the others are absent)."""
    d = DEFAULTS
    parser = Parser(
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
    add("--device", choices=["cpu", "gpu", "cuda"],
        help="where to train; cuda is another name for gpu (default: cpu)")
    add("--epochs", type=positive_int, help=f"default: {d['epochs']}")
    add("--batch-size", type=positive_int, help=f"default: {d['batch_size']}")
    add("--lr", type=positive_float, help=f"peak learning rate of Adam (default: {d['lr']:g})")
    add("--schedule", choices=["onecycle", "constant"],
        help="onecycle: OneCycleLR, up from lr/25 to --lr over the first 3%% of the steps, "
             "then down to lr/250000, both along half a cosine; constant: --lr throughout "
             "(default: onecycle)")
    add("--augment", action=argparse.BooleanOptionalAction,
        help="random rotation/shift/zoom/intensity on each training batch (default: off)")
    add("--label-smoothing", type=fraction, metavar="S",
        help="train on targets 1 - S + S/10 for the label, S/10 for every other class "
             "(cross_entropy's label_smoothing; default: 0)")
    add("--weight-decay", type=non_negative_float, metavar="W",
        help="decoupled weight decay: AdamW instead of Adam (default: 0, Adam)")
    add("--ema", type=fraction, metavar="DECAY",
        help="evaluate (validation, test, model.npz) with an exponential moving average of "
             "the weights, a <- DECAY a + (1 - DECAY) w after every step (default: off)")
    add("--plain", action="store_true",
        help="the assignment's exact setting: Adam with constant lr 1e-3, no augmentation")
    add("--seed", type=non_negative_int,
        help="initial weights, shuffling, augmentation, --limit subset (default: 0)")
    add("--data-dir", type=folder, help="folder holding mnist/ and mnist-varres.tgz")
    add("--redownload", action="store_true",
        help="replace MNIST files in DATA_DIR/mnist/ that fail their checksum by a verified "
             "download; each old file is moved aside to <name>.gz.old, never deleted")
    add("--cache-dir", metavar="DIR", type=folder,
        help="where the decoded mnist-varres images are cached (default: "
             "$XDG_CACHE_HOME/minigrad, else ~/.cache/minigrad)")
    add("--out", type=folder,
        help="run directory, new or empty (default: runs/<model>-<timestamp>)")
    add("--limit", type=positive_int, metavar="N",
        help="train on N training images (a seeded random subset, all classes present)")
    add("--eval-limit", type=positive_int, metavar="N",
        help="validate and test on N images each (a seeded subset; for quick runs)")
    add("--val-size", type=positive_int, metavar="N",
        help="validation images taken out of the training split, the same ones in every run "
             f"(default: {d['val_size']:,})")
    add("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    add("--distributed", action="store_true",
        help="train on every process mpiexec starts (mpiexec -n 2 python "
             "examples/train_mnist.py --distributed ...); --batch-size is per process")
    add("--eval-batch-size", type=positive_int,
        help=f"evaluation chunk size, bounds the im2col memory (default: {d['eval_batch_size']})")
    add("--log-every", type=positive_int, metavar="STEPS",
        help="read the training loss back (one device sync), check it is finite, log it and "
             f"refresh the progress display every STEPS steps (default: {d['log_every']})")
    return parser


def parse_config(argv=None):
    """Command line -> settings (a SimpleNamespace with every key of DEFAULTS).

    --plain fixes lr, schedule and augmentation; --resume takes the settings
    of the run in --out and lets only RESUME_ADJUSTABLE ones change.
    Raises UsageError for inconsistent options.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    given = vars(build_parser().parse_args(argv))
    if "device" in given:
        given["device"] = backend.validate_device(given["device"])  # cuda -> gpu
    if given.get("plain"):
        clashes = [key for key, value in PLAIN.items() if key in given and given[key] != value]
        if clashes:
            names = ", ".join(f"--{key.replace('_', '-')}" for key in clashes)
            raise UsageError(f"--plain fixes {names} (Adam, constant lr 1e-3, no augmentation, "
                             "no label smoothing, weight decay or weight average); "
                             "drop one of them")
    if given.get("resume"):
        settings = resumed_settings(given)
    else:
        settings = {**DEFAULTS, **given}
        if settings["plain"]:
            settings.update(PLAIN)
        if "pooling" in given and settings["model"] != "varres":
            raise UsageError("--pooling applies to --model varres only")
        if settings["out"] is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            settings["out"] = os.path.join("runs", f"{settings['model']}-{stamp}")
    check_data_options(given, settings)
    settings["command"] = shlex.join(["python", "examples/train_mnist.py", *argv])
    return SimpleNamespace(**settings)


def check_data_options(given, settings):
    """--redownload is for MNIST files, --cache-dir for mnist-varres; a download
    must not happen under processes that read the same files at once."""
    if "redownload" in given and settings["model"] != "fixed":
        raise UsageError("--redownload applies to MNIST, the data of --model fixed; "
                         "mnist-varres is never downloaded")
    if "cache_dir" in given and settings["model"] == "fixed":
        raise UsageError("--cache-dir applies to mnist-varres (--model varres or fixed-resized); "
                         "MNIST is read without a cache")
    if given.get("redownload") and given.get("distributed"):
        folder = data.resolve_data_dir(settings["data_dir"])
        raise UsageError("--redownload replaces files that every process would read at once; "
                         "fetch them first with one process: python -c \"from minigrad.data import "
                         f"download_mnist; download_mnist({str(folder)!r}, redownload=True)\"")


def resumed_settings(given):
    """The settings of the run in --out, with the RESUME_ADJUSTABLE ones given now."""
    if "out" not in given:
        raise UsageError("--resume needs --out, the run directory to continue")
    path = Path(given["out"]) / CHECKPOINT
    if path.is_dir():
        raise UsageError(f"cannot resume: {path} is a folder, not a checkpoint file")
    if not path.is_file():
        raise UsageError(f"nothing to resume: {path} does not exist")
    try:
        meta = load_meta(path)
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot resume: {error}") from None
    try:
        settings = {**DEFAULTS, **meta["metrics"]["args"]}
        done = meta["epoch"]
    except (KeyError, TypeError) as error:
        missing = error.args[0] if isinstance(error, KeyError) else "its settings"
        raise UsageError(f"cannot resume: {path}: its record of the run lacks {missing}; it "
                         "was not written by this command (or was edited)") from None
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
    if settings["epochs"] < done:
        raise UsageError(f"--epochs {settings['epochs']}: the run in {given['out']} has already "
                         f"completed {done} epochs")
    return settings
