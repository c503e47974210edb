"""One full epoch end to end: load MNIST, train the fixed network for one
epoch, validate; minigrad against a plain PyTorch loop on the same arrays,
each framework alone in a fresh process, alternated over rounds.

    MINIGRAD_DATA=DIR python benchmarks/epoch.py                # 50,000 images, 3 rounds
    MINIGRAD_DATA=DIR python benchmarks/epoch.py --limit 10000  # a subset

A worker reads the training files with ``minigrad.data.load_mnist``, holds
out a sixth (10,000 images) for validation (a seeded permutation),
normalises with NumPy, and takes the same batches in the same order with
Adam (lr 1e-3) from the same initial weights; then it validates in batches
of 256 without gradients. ``--limit N`` trains on N images and validates on
N/5. The clock starts after the imports and after building the model and
optimizer (timed apart as ``setup_s``: PyTorch's first Adam imports
torch._dynamo and torch._inductor, about a second paid once per process,
not per epoch). Prints a table of the phases and writes
benchmarks/results/epoch-cpu.json.
"""
import argparse
import sys

from common import reexec_without_blas_overrides

reexec_without_blas_overrides(sys.argv)

import json  # noqa: E402  (below: after the BLAS environment is settled)
import os  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import minigrad  # noqa: E402

minigrad.memory.keep_freed_memory()  # as the training command does  # noqa: E402
from common import (  # noqa: E402
    FRAMEWORKS,
    RESULTS,
    alternate,
    compare,
    framework_report,
    machine_report,
    median,
    run_worker,
    torch_twin,
    write_json,
)
from step import minigrad_network  # noqa: E402

import minigrad.functional as F  # noqa: E402
from minigrad import data, optim  # noqa: E402

MEAN, STD = 0.1307, 0.3081
EVAL_BATCH = 256
PHASES = {"total_s": "epoch (load + train + validate)", "load_s": "load", "train_s": "train",
          "val_s": "validate", "setup_s": "model and optimizer (not in the epoch)"}


# ----- the worker ------------------------------------------------------------------------

def normalise(images):
    """uint8 (n, 28, 28) -> float32 (n, 1, 28, 28), (x / 255 - mean) / std."""
    floats = images.astype(np.float32).reshape(len(images), 1, 28, 28)
    return (floats / np.float32(255) - np.float32(MEAN)) / np.float32(STD)


def load(limit):
    """(x_train, y_train, x_val, y_val) as NumPy arrays."""
    images, labels = data.load_mnist(split="train", download=False)
    order = np.random.default_rng(0).permutation(len(labels))
    val, train = order[:len(labels) // 6], order[len(labels) // 6:]
    if limit:
        train, val = train[:limit], val[:max(1, limit // 5)]
    return normalise(images[train]), labels[train], normalise(images[val]), labels[val]


def batches(count, batch, seed=1):
    """Index arrays of one shuffled epoch over ``count`` images (last one may be short)."""
    order = np.random.default_rng(seed).permutation(count)
    return [order[start:start + batch] for start in range(0, count, batch)]


def minigrad_setup():
    model = minigrad_network("fixed")
    return model, optim.Adam(model.parameters(), lr=1e-3)


def torch_setup(torch):
    model = torch_twin(torch, "fixed", minigrad_network("fixed").state_dict())
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)


def minigrad_epoch(model, optimizer, x_train, y_train, x_val, y_val, batch):
    """Train one epoch and validate; (seconds training, seconds validating, accuracy)."""
    start = time.perf_counter()
    for index in batches(len(y_train), batch):
        loss = F.cross_entropy(model(minigrad.tensor(x_train[index])), y_train[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    trained = time.perf_counter()
    model.eval()
    correct = 0
    with minigrad.no_grad():
        for first in range(0, len(y_val), EVAL_BATCH):
            logits = model(minigrad.tensor(x_val[first:first + EVAL_BATCH])).numpy()
            correct += int((logits.argmax(axis=1) == y_val[first:first + EVAL_BATCH]).sum())
    return trained - start, time.perf_counter() - trained, correct / len(y_val)


def torch_epoch(torch, model, optimizer, x_train, y_train, x_val, y_val, batch):
    """The same epoch as a plain PyTorch loop."""
    start = time.perf_counter()
    for index in batches(len(y_train), batch):
        logits = model(torch.from_numpy(x_train[index]))
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y_train[index]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    trained = time.perf_counter()
    model.eval()
    correct = 0
    with torch.no_grad():
        for first in range(0, len(y_val), EVAL_BATCH):
            logits = model(torch.from_numpy(x_val[first:first + EVAL_BATCH])).numpy()
            correct += int((logits.argmax(axis=1) == y_val[first:first + EVAL_BATCH]).sum())
    return trained - start, time.perf_counter() - trained, correct / len(y_val)


def worker(args):
    torch = None
    if args.worker == "torch":
        import torch  # only the PyTorch worker loads PyTorch
        if args.threads:
            torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model, optimizer = minigrad_setup() if torch is None else torch_setup(torch)
    setup_s = time.perf_counter() - start  # PyTorch's first Adam imports a lot: not the epoch
    start = time.perf_counter()
    arrays = load(args.limit)
    load_s = time.perf_counter() - start
    if torch is None:
        train_s, val_s, accuracy = minigrad_epoch(model, optimizer, *arrays, args.batch)
    else:
        train_s, val_s, accuracy = torch_epoch(torch, model, optimizer, *arrays, args.batch)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"framework": args.worker, "setup_s": setup_s, "load_s": load_s,
                      "train_s": train_s,
                      "val_s": val_s, "total_s": time.perf_counter() - start,
                      "val_accuracy": accuracy, "train_images": len(arrays[1]),
                      "val_images": len(arrays[3]), "peak_rss_mib": peak,
                      "report": framework_report(torch)}))


# ----- the driver --------------------------------------------------------------------------

def check_data():
    """Stop with the loader's own explanation unless the MNIST training files are there."""
    try:
        data.find_mnist(data.resolve_data_dir(), "train")
    except FileNotFoundError as error:
        raise SystemExit(f"epoch.py: {error}")


def drive(args):
    options = ["--batch", args.batch]
    for flag, value in (("--limit", args.limit), ("--threads", args.threads)):
        if value:
            options += [flag, value]
    if args.keep_blas_env:
        options.append("--keep-blas-env")

    def one(framework):
        result = run_worker(os.path.abspath(__file__), ["--worker", framework] + options,
                            threads=args.threads)
        print(f"  {framework}: {result['total_s']:.1f} s", flush=True)
        return result
    machine = machine_report()
    print(f"machine: {machine['nproc']} cores, {machine['cpu']}, Python {machine['python']}, "
          f"load average {machine['load']:.1f}")
    per_round = alternate(one, args.rounds)
    machine["load_after"] = machine_report()["load"]
    first = per_round[0]["minigrad"]
    print(f"\none epoch: {first['train_images']:,} training images, batch {args.batch}, "
          f"{first['val_images']:,} validated; {args.rounds} rounds\n")
    print("| phase | minigrad s | PyTorch s | ratio (min–max) |\n|---|---:|---:|---:|")
    summary = {}
    for phase, name in PHASES.items():
        summary[phase] = compare(per_round, phase)
        s = summary[phase]
        print(f"| {name} | {s['minigrad']:.2f} | {s['torch']:.2f} | "
              f"{s['ratio']:.2f} ({s['ratio_min']:.2f}–{s['ratio_max']:.2f}) |")
    accuracy = {name: median([r[name]["val_accuracy"] for r in per_round]) for name in FRAMEWORKS}
    print(f"\nvalidation accuracy: minigrad {accuracy['minigrad']:.4f}, "
          f"PyTorch {accuracy['torch']:.4f}; load average at the end {machine['load_after']:.1f}")
    reports = {name: per_round[0][name]["report"] for name in FRAMEWORKS}
    path = args.json or os.path.join(RESULTS, "epoch-cpu.json")
    write_json(path, {"command": " ".join(["python"] + sys.argv), "machine": machine,
                      "frameworks": reports, "batch": args.batch, "limit": args.limit,
                      "threads": args.threads, "rounds": args.rounds, "summary": summary,
                      "val_accuracy": accuracy, "per_round": per_round})
    print(f"wrote {path}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3, help="rounds A B (default %(default)s)")
    p.add_argument("--limit", type=int, default=None,
                   help="train on N images, validate on N/5 (default: 50,000 and 10,000)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=None,
                   help="threads for both (OMP/OPENBLAS/MKL_NUM_THREADS, torch.set_num_threads)")
    p.add_argument("--json", default=None, help="where to write the results")
    p.add_argument("--keep-blas-env", action="store_true",
                   help="keep OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE if set")
    p.add_argument("--worker", choices=FRAMEWORKS, help="run one worker and print its JSON line")
    args = p.parse_args()
    if args.rounds < 1 or args.batch < 1 or (args.limit is not None and args.limit < 1):
        p.error("--rounds, --batch and --limit must be >= 1")
    check_data()
    if args.worker:
        worker(args)
    else:
        drive(args)


if __name__ == "__main__":
    main()
