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
"""
import argparse
import io
import json
import sys
from pathlib import Path

import run_folder
import train_mnist
from minigrad import fileio

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


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
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
