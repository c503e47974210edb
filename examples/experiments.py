#!/usr/bin/env python
"""Rerun the assignment's comparisons as short training runs.

    python examples/experiments.py --out runs/experiments --limit 5000 --epochs 1

Compares learning rates (1e-2 ... 1e-5), batch sizes (8, 16, 32), global max
vs mean pooling, the fixed network on resized images vs the variable-resolution
network, and training without vs with augmentation. Every run is an ordinary
train_mnist.py run in its own folder under --out; the results are gathered in
--out/experiments.md (one table) and --out/experiments.png (one figure).
Settings not being compared are the assignment's: Adam with a constant
learning rate of 1e-3, batch 16, no augmentation. Runs already finished in
--out are reused, stopped ones resumed, so the script can be restarted.

Two more modes, named by the first word:

    python examples/experiments.py seeds --out runs/fixed --seeds 0 1 2 -- --model fixed
    python examples/experiments.py seeds --out runs/fixed --summarise
    python examples/experiments.py resolutions runs/varres/seed0 runs/varres/seed1

seeds: one train_mnist.py run per seed in --out/seed<N> (the options after
-- are train_mnist.py's), then the mean, standard deviation and range of the
test accuracy over every finished run in --out/seed*, in --out/seeds.json and
--out/seeds.md. --summarise trains nothing: start seeds separately (in
parallel, say), then summarise. resolutions: the test accuracy of trained
variable-resolution runs with every test image resized to each of --sizes px,
and with the images that fit padded to that size.
"""
import argparse
import io
import json
import statistics
import sys
from pathlib import Path
from types import SimpleNamespace

import mnist_data
import mnist_settings
import numpy as np
import run_folder
import train_mnist

from minigrad import backend, data, fileio, models
from minigrad.checkpoint import load
from minigrad.training import evaluate

BASE = {"model": "fixed", "lr": 1e-3, "batch_size": 16, "augment": False}
COMPARISONS = [  # (title, the settings of each run, on top of BASE)
    ("learning rate (fixed CNN)", [{"lr": 1e-2}, {"lr": 1e-3}, {"lr": 1e-4}, {"lr": 1e-5}]),
    ("batch size (fixed CNN)", [{"batch_size": 8}, {"batch_size": 16}, {"batch_size": 32}]),
    ("global pooling (variable-resolution CNN)", [{"model": "varres", "pooling": "max"},
                                                  {"model": "varres", "pooling": "mean"}]),
    ("fixed (resized to 28 px) vs variable resolution", [{"model": "fixed-resized"},
                                                         {"model": "varres", "pooling": "max"}]),
    ("augmentation (fixed CNN)", [{"augment": False}, {"augment": True}]),
]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--out", default="runs/experiments",
                        help="folder for all runs and results (default: runs/experiments)")
    parser.add_argument("--limit", type=int, default=5000,
                        help="training images per run (default: 5000)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per run (default: 1)")
    parser.add_argument("--eval-limit", type=int, default=None,
                        help="validation and test images per run (default: all 10,000)")
    parser.add_argument("--schedule", choices=["constant", "onecycle"], default="constant",
                        help="learning-rate schedule of every run (default: constant, "
                             "the assignment's)")
    parser.add_argument("--seed", type=int, default=0, help="default: 0")
    parser.add_argument("--device", choices=["cpu", "gpu", "cuda"], default="cpu",
                        help="default: cpu")
    parser.add_argument("--data-dir", default=None,
                        help="default: $MINIGRAD_DATA, else ./data")
    parser.add_argument("--only", nargs="+", type=int, choices=range(1, len(COMPARISONS) + 1),
                        metavar="K", help="run only comparisons K: 1 learning rate, 2 batch "
                                          "size, 3 pooling, 4 resized vs varres, 5 augmentation")
    return parser.parse_args(argv)


def run_name(settings):
    """A folder name that identifies the run, so equal settings share one run."""
    name = f"{settings['model']}-lr{settings['lr']:g}-bs{settings['batch_size']}"
    if settings["model"] == "varres":
        name += f"-{settings['pooling']}"
    return name + ("-augment" if settings["augment"] else "")


def command_line(settings, args, out):
    argv = ["--model", settings["model"], "--lr", str(settings["lr"]),
            "--batch-size", str(settings["batch_size"]), "--schedule", args.schedule,
            "--augment" if settings["augment"] else "--no-augment",
            "--limit", str(args.limit), "--epochs", str(args.epochs), "--seed", str(args.seed),
            "--device", args.device, "--out", str(out)]
    if settings["model"] == "varres":
        argv += ["--pooling", settings["pooling"]]
    if args.eval_limit:
        argv += ["--eval-limit", str(args.eval_limit)]
    if args.data_dir:
        argv += ["--data-dir", args.data_dir]
    return argv


def run_once(settings, args):
    """Train (or reuse) the run of ``settings``; its metrics, or None if it failed."""
    out = Path(args.out) / run_name(settings)
    metrics_path = out / run_folder.METRICS
    if metrics_path.is_file() and json.loads(metrics_path.read_text()).get("finished"):
        saved = json.loads(metrics_path.read_text())["args"]
        for key in ("limit", "epochs", "eval_limit", "schedule", "seed"):
            if saved[key] != getattr(args, key):
                raise SystemExit(f"experiments.py: {out} was run with --{key.replace('_', '-')} "
                                 f"{saved[key]}, not {getattr(args, key)}; use another --out")
        print(f"== {out.name}: finished earlier, reused")
    else:
        argv = command_line(settings, args, out)
        if (out / run_folder.CHECKPOINT).is_file():
            argv = ["--out", str(out), "--resume"]
        print(f"== {out.name}: train_mnist.py {' '.join(argv)}", flush=True)
        code = train_mnist.main(argv)
        if code != 0:
            print(f"== {out.name}: failed (exit code {code})")
            return None
    return json.loads(metrics_path.read_text())


def label(change):
    """How a run differs from BASE, in a few words."""
    words = []
    for key, value in change.items():
        if key == "lr":
            words.append(f"lr {value:g}")
        elif key == "batch_size":
            words.append(f"batch {value}")
        elif key == "pooling":
            words.append(f"{value} pooling")
        elif key == "augment":
            words.append("augmented" if value else "no augmentation")
        else:
            words.append(str(value))
    return ", ".join(words)


def table(results, args):
    lines = [
        "# Experiments",
        "",
        f"Each run: {args.limit:,} training images, {args.epochs} epoch(s), seed {args.seed}, "
        f"Adam ({args.schedule} schedule); unless varied: lr 1e-3, batch 16, no augmentation. "
        f"Validation: {args.eval_limit or 10000:,} held-out training images; "
        f"test: {args.eval_limit or 10000:,} test images.",
        "",
        "| comparison | setting | val accuracy | val loss | test accuracy "
        "| test 32 / 48 / 64 px | seconds | run |",
        "|---|---|---:|---:|---:|---|---:|---|",
    ]
    for title, runs in results:
        for change, name, metrics in runs:
            if metrics is None:
                lines.append(f"| {title} | {label(change)} | failed | | | | | {name} |")
                continue
            by_resolution = metrics.get("test_accuracy_by_resolution")
            per_px = ""
            if by_resolution:
                per_px = " / ".join(f"{100 * by_resolution[key]:.1f}"
                                    for key in sorted(by_resolution, key=int))
            lines.append(f"| {title} | {label(change)} | {100 * metrics['val_accuracy'][-1]:.2f}% "
                         f"| {metrics['val_loss'][-1]:.4f} | {100 * metrics['test_accuracy']:.2f}% "
                         f"| {per_px} | {metrics['seconds']:.0f} | {name} |")
    return "\n".join(lines) + "\n"


def figure(results, path):
    """One bar chart per comparison: validation and test accuracy of each run."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not installed: {path.name} not drawn")
        return
    columns = min(3, len(results))
    rows = -(-len(results) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 4.2 * rows), squeeze=False)
    axes = axes.ravel()
    for axis in axes[len(results):]:
        axis.set_visible(False)
    for axis, (title, runs) in zip(axes, results):
        names = [label(change).replace(", ", "\n") for change, _, _ in runs]
        val = [100 * m["val_accuracy"][-1] if m else 0 for _, _, m in runs]
        test = [100 * m["test_accuracy"] if m else 0 for _, _, m in runs]
        positions = range(len(runs))
        axis.bar([p - 0.2 for p in positions], val, width=0.4, label="validation")
        axis.bar([p + 0.2 for p in positions], test, width=0.4, label="test")
        for p, value in zip(positions, val):
            axis.annotate(f"{value:.1f}", (p - 0.2, value), ha="center", va="bottom", fontsize=8)
        axis.set_xticks(list(positions), names, fontsize=8)
        axis.set_ylim(0, 105)
        axis.set_title(title, fontsize=9)
        axis.set_ylabel("accuracy (%)")
        axis.grid(axis="y", alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower right", fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    fileio.write_bytes(path, buffer.getvalue())


# ------------------------------------------------------------------- seeds ---

# What may differ between runs summarised together: none of it changes what is trained.
NOT_SETTINGS = {"seed", "out", "resume", "device", "data_dir", "eval_batch_size", "log_every"}


def parse_seeds_args(argv):
    """The options of the seeds mode, and train_mnist.py's options (after --)."""
    train_args = []
    if "--" in argv:
        cut = argv.index("--")
        argv, train_args = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(
        prog="experiments.py seeds",
        usage="experiments.py seeds --out FOLDER [--seeds N ...] [--summarise] "
              "[-- TRAIN_MNIST_OPTIONS]",
        description="One train_mnist.py run per seed, then the test accuracy over seeds.")
    parser.add_argument("--out", required=True,
                        help="run N goes to OUT/seedN; seeds.json and seeds.md to OUT")
    parser.add_argument("--seeds", nargs="+", type=mnist_settings.non_negative_int,
                        default=[0, 1, 2], metavar="N", help="default: 0 1 2")
    parser.add_argument("--summarise", action="store_true",
                        help="train nothing: summarise the finished runs in OUT/seed*")
    args = parser.parse_args(argv)
    for word in train_args:
        name = word.split("=")[0]
        if name in ("--seed", "--out", "--resume"):
            parser.error(f"{name} after --: the seeds mode sets it for every run")
    if args.summarise and train_args:
        parser.error("--summarise trains nothing: drop the train_mnist.py options after --")
    return args, train_args


def read_metrics(folder):
    """metrics.json of the run in ``folder``, or None if there is none."""
    path = folder / run_folder.METRICS
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as error:
        raise ValueError(f"{path}: not readable JSON ({error})") from None


def settings_of(args):
    """The settings that decide what a run trains (seed and where it ran left out)."""
    return {key: args.get(key) for key in mnist_settings.DEFAULTS if key not in NOT_SETTINGS}


def differences(settings, other):
    return ", ".join(f"{key} {settings[key]!r} vs {other.get(key)!r}" for key in settings
                     if settings[key] != other.get(key))


def train_seed(out, seed, train_args):
    """Train the run of ``seed`` in out/seed<seed>: reuse it if finished, resume it
    if stopped, refuse it if it has other settings. Returns the exit code."""
    folder = out / f"seed{seed}"
    argv = [*train_args, "--seed", str(seed), "--out", str(folder)]
    metrics = read_metrics(folder)
    if metrics is not None:
        wanted = settings_of(vars(mnist_settings.parse_config(argv)))
        found = settings_of(metrics["args"])
        if wanted != found:
            print(f"experiments.py seeds: error: {folder} holds a run with other settings "
                  f"({differences(found, wanted)}); choose another --out", file=sys.stderr)
            return 2
        if metrics.get("finished"):
            print(f"== seed {seed}: finished earlier in {folder}, reused")
            return 0
        argv = ["--out", str(folder), "--resume"]
    print(f"== seed {seed}: train_mnist.py {' '.join(argv)}", flush=True)
    return train_mnist.main(argv)


def spread(values):
    """Mean, standard deviation (over n - 1; None for one value), min and max."""
    return {"n": len(values), "mean": statistics.mean(values),
            "sd": statistics.stdev(values) if len(values) > 1 else None,
            "min": min(values), "max": max(values)}


def finished_runs(out):
    """[(folder, metrics)] of the finished runs in out/seed<N>, by seed; the
    unfinished ones are named and left out."""
    runs = []
    for folder in out.glob("seed*"):
        metrics = read_metrics(folder)
        if not folder.name[4:].isdigit() or metrics is None:
            continue
        if not metrics.get("finished"):
            print(f"{folder}: not finished, left out")
        elif metrics["args"]["seed"] != int(folder.name[4:]):
            raise ValueError(f"{folder} holds the run of seed {metrics['args']['seed']}")
        else:
            runs.append((folder, metrics))
    return sorted(runs, key=lambda run: run[1]["args"]["seed"])


def summarise_seeds(out):
    """The figures of every finished run in out/seed*, and their spread over seeds.
    Runs of different settings are refused (ValueError)."""
    runs = finished_runs(out)
    if not runs:
        raise ValueError(f"no finished run in {out / 'seed*'}")
    first, settings = runs[0][0], settings_of(runs[0][1]["args"])
    for folder, metrics in runs[1:]:
        if settings_of(metrics["args"]) != settings:
            raise ValueError(f"{folder} and {first} were trained with other settings "
                             f"({differences(settings, metrics['args'])}): summarise one "
                             "setting at a time")
    records = [{"seed": metrics["args"]["seed"], "folder": str(folder),
                "command": metrics["command"], "test_accuracy": metrics["test_accuracy"],
                "val_accuracy": metrics["val_accuracy"][-1],
                "minutes": metrics["seconds"] / 60,
                "test_accuracy_by_resolution": metrics.get("test_accuracy_by_resolution")}
               for folder, metrics in runs]
    summary = {"settings": settings, "seeds": [record["seed"] for record in records],
               "runs": records}
    for key in ("test_accuracy", "val_accuracy", "minutes"):
        summary[key] = spread([record[key] for record in records])
    by_resolution = records[0]["test_accuracy_by_resolution"]
    if by_resolution:
        summary["test_accuracy_by_resolution"] = {
            size: spread([record["test_accuracy_by_resolution"][size] for record in records])
            for size in by_resolution}
    return summary


def spread_row(name, figures, scale, digits=2):
    """One table row: mean ± sd, min – max, and each seed's figure."""
    stats, values = spread(figures), [f"{scale * value:.{digits}f}" for value in figures]
    sd = "" if stats["sd"] is None else f" ± {scale * stats['sd']:.{digits}f}"
    return (f"| {name} | {scale * stats['mean']:.{digits}f}{sd} | "
            f"{scale * stats['min']:.{digits}f} – {scale * stats['max']:.{digits}f} | "
            f"{' / '.join(values)} |")


def seeds_table(summary):
    records = summary["runs"]
    settings = ", ".join(f"{key} {value}" for key, value in summary["settings"].items())
    seeds = " / ".join(str(seed) for seed in summary["seeds"])
    lines = [f"# {len(records)} seed(s): {settings}", "",
             "Accuracy in %; sd: the standard deviation over the seeds (n − 1). Minutes: "
             "training and validation, from metrics.json.", "",
             f"| | mean ± sd | min – max | seeds {seeds} |", "|---|---:|---:|---|",
             spread_row("test accuracy", [r["test_accuracy"] for r in records], 100),
             spread_row("validation accuracy, last epoch", [r["val_accuracy"] for r in records],
                        100)]
    for size in summary.get("test_accuracy_by_resolution", {}):
        lines.append(spread_row(f"test accuracy, {size} px",
                                [r["test_accuracy_by_resolution"][size] for r in records], 100))
    lines.append(spread_row("minutes", [r["minutes"] for r in records], 1, digits=1))
    return "\n".join(lines) + "\n"


def seeds_main(argv):
    args, train_args = parse_seeds_args(argv)
    out = Path(args.out)
    if not args.summarise:
        for seed in args.seeds:
            try:
                code = train_seed(out, seed, train_args)
            except (mnist_settings.UsageError, ValueError) as error:
                print(f"experiments.py seeds: error: {error}", file=sys.stderr)
                return 2
            if code != 0:
                return code
    try:
        summary = summarise_seeds(out)
    except ValueError as error:
        print(f"experiments.py seeds: error: {error}", file=sys.stderr)
        return 2
    table_text = seeds_table(summary)
    run_folder.write_json(out / "seeds.json", summary)
    fileio.write_bytes(out / "seeds.md", table_text.encode("utf-8"))
    print(table_text + f"wrote {out / 'seeds.json'} and {out / 'seeds.md'}")
    return 0


# ------------------------------------------------------------- resolutions ---

def size_at_least_8(text):
    return mnist_settings.number(int, text, lambda value: value >= 8, "an integer >= 8")


def parse_resolutions_args(argv):
    parser = argparse.ArgumentParser(
        prog="experiments.py resolutions",
        description="Test accuracy of finished --model varres runs with every test image "
                    "resized to each size (Pillow bilinear), next to the images as drawn.")
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folders of train_mnist.py")
    parser.add_argument("--sizes", nargs="+", type=size_at_least_8, metavar="PX",
                        default=[32, 40, 48, 56, 64, 80, 96],
                        help="default: 32 40 48 56 64 80 96")
    parser.add_argument("--out", help="folder for resolutions.json and resolutions.md "
                                      "(default: the first run's parent folder)")
    parser.add_argument("--eval-limit", type=mnist_settings.positive_int, metavar="N",
                        help="test on N images (a seeded subset; default: all 10,000)")
    parser.add_argument("--eval-batch-size", type=mnist_settings.positive_int, default=256,
                        help="default: 256")
    parser.add_argument("--device", choices=["cpu", "gpu", "cuda"], default="cpu",
                        help="default: cpu")
    parser.add_argument("--data-dir", default=None, help="default: $MINIGRAD_DATA, else ./data")
    parser.add_argument("--cache-dir", default=None,
                        help="mnist-varres cache (default: $XDG_CACHE_HOME/minigrad)")
    return parser.parse_args(argv)


def trained_varres(folder, device):
    """(model, seed) of the finished --model varres run in ``folder``."""
    metrics = read_metrics(folder)
    if metrics is None or not metrics.get("finished"):
        raise ValueError(f"{folder}: no finished train_mnist.py run there")
    if metrics["args"]["model"] != "varres":
        raise ValueError(f"{folder}: a --model {metrics['args']['model']} run; "
                         "resolutions needs --model varres runs")
    model = models.var_res_cnn(pooling=metrics["args"]["pooling"])
    model.load_state_dict(load(folder / run_folder.MODEL))
    return model.to(device), metrics["args"]["seed"]


def pad_groups(groups, size):
    """The images of ``groups`` no larger than ``size`` on a size × size canvas of
    background (0), centred: a new canvas, the digit at the scale it was drawn."""
    images, labels = [], []
    for (height, width), (group_images, group_labels) in groups.items():
        if height <= size and width <= size:
            top, left = (size - height) // 2, (size - width) // 2
            images.append(np.pad(group_images, ((0, 0), (top, size - height - top),
                                                (left, size - width - left))))
            labels.append(group_labels)
    if not images:
        return {}
    return {(size, size): (np.concatenate(images), np.concatenate(labels))}


def test_groups(args):
    """{row name: groups}: the test images as drawn, one row per resolution; all of
    them resized to each of --sizes (the digit scaled with the image: mnist-varres
    draws its digits about 20 px tall at every resolution); and the ones that fit
    padded to each of --sizes that is no native size (a canvas never seen, the
    digit as drawn)."""
    test = mnist_data.load_split("varres", args, "test")  # reads data_dir and cache_dir
    if args.eval_limit:
        test = data.limit_groups(test, args.eval_limit, seed=mnist_data.SPLIT_SEED)
    rows = {}
    for shape in sorted(test):
        count = len(test[shape][1])
        rows[f"as drawn, {mnist_data.resolution_key(shape)} px ({count:,} images)"] = {
            shape: test[shape]}
    for size in args.sizes:
        rows[f"all resized to {size} px"] = data.resize_groups(test, size)
    for size in args.sizes:
        padded = pad_groups(test, size)
        if padded and next(iter(padded)) not in test:
            count = len(padded[(size, size)][1])
            rows[f"padded to {size} px ({count:,} images)"] = padded
    return rows


def resolutions_main(argv):
    args = parse_resolutions_args(argv)
    device = backend.validate_device(args.device)
    try:
        runs = [trained_varres(Path(folder), device) for folder in args.runs]
        rows = test_groups(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"experiments.py resolutions: error: {error}", file=sys.stderr)
        return 2
    mean, std = mnist_data.NORMALISATION["varres"]
    scaling = SimpleNamespace(mean=mean, std=std)
    results = {"runs": [str(folder) for folder in args.runs],
               "seeds": [seed for _, seed in runs], "accuracy": {}}
    for name, groups in rows.items():
        evaluated = [evaluate(model, mnist_data.batches(groups, args.eval_batch_size, scaling,
                                                        device)) for model, _ in runs]
        figures = [result["accuracy"] for result in evaluated]
        results["accuracy"][name] = {"runs": figures, **spread(figures),
                                     "loss": [result["loss"] for result in evaluated]}
        print(spread_row(name, figures, 100), flush=True)
    out = Path(args.out) if args.out else Path(args.runs[0]).parent
    seeds = " / ".join(str(seed) for seed in results["seeds"])
    lines = ["# Test accuracy by resolution", "", f"Runs: {', '.join(results['runs'])}. "
             "Accuracy in %; sd over the runs (n − 1).", "",
             f"| test images | mean ± sd | min – max | seeds {seeds} |", "|---|---:|---:|---|"]
    lines += [spread_row(name, entry["runs"], 100) for name, entry in results["accuracy"].items()]
    run_folder.write_json(out / "resolutions.json", results)
    fileio.write_bytes(out / "resolutions.md", ("\n".join(lines) + "\n").encode("utf-8"))
    print(f"wrote {out / 'resolutions.json'} and {out / 'resolutions.md'}")
    return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "seeds":
        return seeds_main(argv[1:])
    if argv and argv[0] == "resolutions":
        return resolutions_main(argv[1:])
    args = parse_args(argv)
    chosen = [COMPARISONS[k - 1] for k in args.only] if args.only else COMPARISONS
    results = []
    for title, changes in chosen:
        runs = []
        for change in changes:
            settings = {"pooling": "max", **BASE, **change}
            runs.append((change, run_name(settings), run_once(settings, args)))
        results.append((title, runs))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fileio.write_bytes(out / "experiments.md", table(results, args).encode("utf-8"))
    figure(results, out / "experiments.png")
    print(f"wrote {out / 'experiments.md'} and {out / 'experiments.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
