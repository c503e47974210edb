"""Data-parallel training speed on this machine: images per second with 1 and 2
ranks, and the share of a step spent communicating.

    python benchmarks/distributed.py                  # ranks 1 and 2, CPU
    python benchmarks/distributed.py --quick          # fewer rounds and steps
    python benchmarks/distributed.py --ranks 1 2 4 --batch 64

Every configuration is its own `mpiexec -n N` job (mpiexec next to this
Python, else on PATH), one BLAS thread per rank. Each rank trains the fixed
network on synthetic 28x28 images, its --batch images of every global batch
of N·--batch (as `train_mnist.py --distributed` does), and times the steps
and, within them, the two collectives of a step: all_reduce_gradients (which
includes waiting for the slowest rank) and the loss sum. Rounds alternate
the configurations; the table shows medians. Writes JSON (--json, default
benchmarks/results/distributed-cpu.json).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import reexec_without_blas_overrides

reexec_without_blas_overrides(sys.argv)

import numpy as np  # noqa: E402  (after the BLAS environment is settled)

import minigrad  # noqa: E402

minigrad.memory.keep_freed_memory()  # as the training command does  # noqa: E402
from common import blas_report, machine_report, median, write_json  # noqa: E402

import minigrad.functional as F  # noqa: E402
from minigrad import data, distributed, models, optim  # noqa: E402

HERE = Path(__file__).resolve().parent
WARMUP = 5


def rank_job(args):
    """One rank of one configuration; rank 0 prints its measurements as JSON."""
    distributed.init()
    size = distributed.world_size()
    model = models.fixed_res_cnn()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    distributed.broadcast_parameters(model, optimizer)
    global_batch = size * args.batch
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(8 * global_batch, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=8 * global_batch)
    communication = 0.0
    for step in range(WARMUP + args.steps):
        if step == WARMUP:
            distributed.sum_over_ranks(0.0)  # line the ranks up, then start the clock
            start, communication = time.perf_counter(), 0.0
        first = step % 8 * global_batch
        part = distributed.batch_part(global_batch)
        rows = slice(first + part.rows.start, first + part.rows.stop)
        x = data.to_float(images[rows], np, 0.1307, 0.3081)
        loss = F.cross_entropy(model(minigrad.Tensor(x)), labels[rows])
        optimizer.zero_grad()
        loss.backward()
        before = time.perf_counter()
        distributed.all_reduce_gradients(model, part.share)
        communication += time.perf_counter() - before
        optimizer.step()
        before = time.perf_counter()
        distributed.sum_over_ranks(loss.item() * part.share)
        communication += time.perf_counter() - before
    seconds = time.perf_counter() - start
    share = distributed.sum_over_ranks(communication / seconds) / size  # mean over the ranks
    if distributed.is_main():
        print(json.dumps({"ranks": size, "images_per_second": args.steps * global_batch / seconds,
                          "step_ms": 1000 * seconds / args.steps, "communication_share": share}))


def run_configuration(ranks, args):
    """Start one mpiexec job; returns rank 0's measurements."""
    mpiexec = Path(sys.executable).parent / "mpiexec"
    mpiexec = str(mpiexec) if mpiexec.is_file() else shutil.which("mpiexec")
    if mpiexec is None:
        sys.exit(f"mpiexec not found: install it with {distributed.INSTALL}")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(HERE.parent),
                                                        os.environ.get("PYTHONPATH")])))
    command = [mpiexec, "-n", str(ranks), sys.executable, str(HERE / "distributed.py"),
               "--rank-job", "--steps", str(args.steps), "--batch", str(args.batch)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=16, help="images per rank and step")
    parser.add_argument("--steps", type=int, default=60, help="timed steps per job")
    parser.add_argument("--rounds", type=int, default=5, help="jobs per configuration")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 30 steps")
    parser.add_argument("--json", default="benchmarks/results/distributed-cpu.json")
    parser.add_argument("--rank-job", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--keep-blas-env", action="store_true",
                        help="keep OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE if set")
    args = parser.parse_args()
    if args.rank_job:
        return rank_job(args)
    if args.quick:
        args.rounds, args.steps = 3, 30
    print(f"machine: {machine_report()}")
    print(f"numpy {np.__version__}: {blas_report()}; one BLAS thread per rank")
    runs = {ranks: [] for ranks in args.ranks}
    for _ in range(args.rounds):
        for ranks in args.ranks:
            runs[ranks].append(run_configuration(ranks, args))
    print(f"\nfixed network, {args.batch} images per rank and step, median of {args.rounds} jobs "
          f"of {args.steps} steps\n")
    print("| ranks | global batch | images/s | ms per step | communication share |")
    print("|---:|---:|---:|---:|---:|")
    results = []
    for ranks, measured in runs.items():
        row = {key: median([m[key] for m in measured])
               for key in ("images_per_second", "step_ms", "communication_share")}
        row.update(ranks=ranks, global_batch=ranks * args.batch, runs=measured)
        results.append(row)
        print(f"| {ranks} | {ranks * args.batch} | {row['images_per_second']:.0f} | "
              f"{row['step_ms']:.1f} | {100 * row['communication_share']:.1f}% |")
    write_json(args.json, {"machine": machine_report(), "blas": blas_report(),
                           "batch_per_rank": args.batch, "steps": args.steps, "results": results})
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
