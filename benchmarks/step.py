"""Milliseconds and peak memory per training step (forward, loss, backward,
Adam), minigrad against PyTorch, each framework alone in a fresh process.

    python benchmarks/step.py                  # the four settings, 7 rounds, CPU
    python benchmarks/step.py --threads 1      # every BLAS/OpenMP pool and torch at 1 thread
    python benchmarks/step.py --device gpu     # CuPy against PyTorch CUDA
    python benchmarks/step.py --device gpu --batch-sweep   # the fixed network, batch 16 to 1,024
    python benchmarks/step.py --worker minigrad --setting fixed-b16-28 --steps 40

A setting is NETWORK-bBATCH-SIZES: ``fixed-b128-28``, ``varres-b16-64``,
``varres-b16-32,48,64`` (the sizes take turns, one step each). For each
setting the driver runs a worker per framework, A B A B ..., over
``--rounds`` rounds. A worker builds the network (same weights in both) and
random data, warms up, then times ``--steps`` steps with
``time.perf_counter`` (after a device synchronize on the GPU) and prints one
JSON line: the median (and best) ms per step and the peak memory of the steps (see
``common.MemoryProbe``; for minigrad on the CPU also tracemalloc's peak of
the arrays one step allocates).

Peak memory on the GPU has one definition for both: the most bytes held by live
allocations during the timed steps, above what was held when they began. PyTorch
reports it as ``torch.cuda.max_memory_allocated``; for minigrad a ``cupy.cuda.MemoryHook``
(``common.live_memory_hook``) adds each block CuPy's pool hands out and subtracts each block
given back. The pool's cached free blocks, which ``MemoryPool.total_bytes`` would count,
are not memory in use (PyTorch's caching allocator keeps them too, and does not count them).

``--batch-sweep`` (GPU only) runs the fixed network at batch 16, 32, ..., 1,024. At
small batches a step is bound by kernel launches (tens of small kernels, each costing
microseconds to start whatever its size), so its time hardly grows with the batch; where
the time per image stops falling, the arithmetic has taken over.

The driver prints a markdown table (median ms, median of the per-round
ratios minigrad / PyTorch with their min-max range, memory) and writes JSON
to benchmarks/results/ (``--json`` to choose).
"""
import argparse
import sys

from common import reexec_without_blas_overrides

reexec_without_blas_overrides(sys.argv)

import json  # noqa: E402  (below: after the BLAS environment is settled)
import math  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

import minigrad  # noqa: E402

minigrad.memory.keep_freed_memory()  # as the training command does  # noqa: E402
from common import (  # noqa: E402
    FRAMEWORKS,
    RESULTS,
    MemoryProbe,
    alternate,
    check_gpu,
    compare,
    framework_report,
    machine_report,
    median,
    run_worker,
    torch_twin,
    write_json,
)

import minigrad.functional as F  # noqa: E402
from minigrad import backend, models, optim  # noqa: E402

SETTINGS = ["fixed-b16-28", "fixed-b128-28", "varres-b16-64", "varres-b16-32,48,64"]
SWEEP_BATCHES = [16, 32, 64, 128, 256, 512, 1024]
SWEEP = [f"fixed-b{batch}-28" for batch in SWEEP_BATCHES]
NETWORKS = ("fixed", "varres")
MIB = 2 ** 20


def parse_setting(text):
    """'varres-b16-32,48,64' -> ('varres', 16, [32, 48, 64])."""
    parts = text.split("-")
    problem = None
    if len(parts) != 3 or parts[0] not in NETWORKS or not parts[1].startswith("b"):
        problem = "expected NETWORK-bBATCH-SIZES with NETWORK 'fixed' or 'varres'"
    else:
        try:
            batch, sizes = int(parts[1][1:]), [int(size) for size in parts[2].split(",")]
        except ValueError:
            batch, sizes = 0, []
        if batch < 1 or not sizes or min(sizes) < 8:
            problem = "the batch must be >= 1 and every size >= 8"
        elif parts[0] == "fixed" and sizes != [28]:
            problem = "the fixed network takes 28x28 images only"
    if problem:
        raise argparse.ArgumentTypeError(f"setting {text!r}: {problem} "
                                         "(e.g. fixed-b16-28, varres-b16-32,48,64)")
    return parts[0], batch, sizes


def label(setting):
    """A table label: 'variable, batch 16, mixed 32/48/64'."""
    network, batch, sizes = parse_setting(setting)
    name = "fixed" if network == "fixed" else "variable"
    size = f"{sizes[0]}×{sizes[0]}" if len(sizes) == 1 else "mixed " + "/".join(map(str, sizes))
    return f"{name}, batch {batch}, {size}"


def minigrad_network(network):
    """The assignment's network, seeded so both frameworks start from these weights."""
    minigrad.manual_seed(0)
    return models.fixed_res_cnn() if network == "fixed" else models.var_res_cnn(pooling="max")


# ----- the worker: one framework, one setting, one process ----------------------------

def make_batches(batch, sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.random((batch, 1, size, size), dtype=np.float32), rng.integers(0, 10, batch))
            for size in sizes]


def minigrad_stepper(network, batches, device):
    """(step(x, y), batches on the device, synchronize) for minigrad."""
    model = minigrad_network(network).to(device)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    # The labels stay on the host: cross_entropy checks them there (a GPU would index out
    # of range silently), so labels on the device would cost a blocking read every step.
    data = [(minigrad.tensor(backend.to_device(x, device)), y) for x, y in batches]

    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    sync = backend.gpu_module().cuda.Device().synchronize if device == "gpu" else None
    return step, data, sync


def torch_stepper(torch, network, batches, device):
    """(step(x, y), batches on the device, synchronize) for PyTorch."""
    where = "cuda" if device == "gpu" else "cpu"
    model = torch_twin(torch, network, minigrad_network(network).state_dict()).to(where)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = [(torch.from_numpy(x).to(where), torch.from_numpy(y).to(where)) for x, y in batches]

    def step(x, y):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return step, data, torch.cuda.synchronize if device == "gpu" else None


def run_cycle(step, data, sync):
    """One step on each batch (each size); seconds, the device synchronized."""
    start = time.perf_counter()
    for x, y in data:
        step(x, y)
    if sync is not None:
        sync()
    return time.perf_counter() - start


def worker(args):
    network, batch, sizes = args.setting
    batches = make_batches(batch, sizes)
    torch = None
    if args.worker == "torch":
        import torch  # only the PyTorch worker loads PyTorch
        if args.threads:
            torch.set_num_threads(args.threads)
        step, data, sync = torch_stepper(torch, network, batches, args.device)
    else:
        step, data, sync = minigrad_stepper(network, batches, args.device)
    for _ in range(math.ceil(args.warmup / len(sizes))):
        run_cycle(step, data, sync)
    if sync is not None:
        sync()  # the warm-up done on the device before memory and time are counted
    with MemoryProbe(args.device, torch) as probe:
        cycles = [run_cycle(step, data, sync) / len(sizes)
                  for _ in range(math.ceil(args.steps / len(sizes)))]
    result = {"framework": args.worker, "setting": args.setting_text, "device": args.device,
              "ms": 1e3 * median(cycles), "ms_best": 1e3 * min(cycles),
              "steps": len(cycles) * len(sizes),
              "peak_mib": probe.peak_growth() / MIB, "peak_was_reset": probe.peak_was_reset,
              "report": framework_report(torch),
              "torch_imported": "torch" in sys.modules}
    if args.worker == "minigrad" and args.device == "cpu":
        tracemalloc.start()
        run_cycle(step, data, sync)
        result["tracemalloc_mib"] = tracemalloc.get_traced_memory()[1] / MIB
        tracemalloc.stop()
    print(json.dumps(result))


# ----- the driver -----------------------------------------------------------------------

def measure_setting(setting, args):
    """Alternate the two frameworks' workers over ``args.rounds`` rounds."""
    options = ["--setting", setting, "--steps", args.steps, "--warmup", args.warmup,
               "--device", args.device]
    if args.threads:
        options += ["--threads", args.threads]
    if args.keep_blas_env:
        options.append("--keep-blas-env")

    def one(framework):
        return run_worker(os.path.abspath(__file__), ["--worker", framework] + options,
                          threads=args.threads)
    per_round = alternate(one, args.rounds)
    row = {"setting": setting, "label": label(setting), "time_ms": compare(per_round, "ms"),
           "best_ms": compare(per_round, "ms_best"), "peak_mib": compare(per_round, "peak_mib"),
           "rounds": per_round}
    if args.device == "cpu":
        row["minigrad_tracemalloc_mib"] = median(
            [r["minigrad"]["tracemalloc_mib"] for r in per_round])
    return row


TABLE_HEAD = ("| setting | minigrad ms | PyTorch ms | ratio (min–max) | ratio of best steps | "
              "minigrad peak MiB | PyTorch peak MiB | minigrad arrays MiB |\n"
              "|---|---:|---:|---:|---:|---:|---:|---:|")


def table_row(row):
    t, best, m = row["time_ms"], row["best_ms"], row["peak_mib"]
    arrays = row.get("minigrad_tracemalloc_mib")
    return (f"| {row['label']} | {t['minigrad']:.1f} | {t['torch']:.1f} | "
            f"{t['ratio']:.2f} ({t['ratio_min']:.2f}–{t['ratio_max']:.2f}) | {best['ratio']:.2f} | "
            f"{m['minigrad']:.1f} | {m['torch']:.1f} | "
            f"{'–' if arrays is None else format(arrays, '.1f')} |")


def drive(settings, args, default_json):
    """Measure ``settings``, print the table, write the JSON; return the rows."""
    machine = machine_report()
    print(f"machine: {machine['nproc']} cores, {machine['cpu']}, Python {machine['python']}, "
          f"load average {machine['load']:.1f}")
    print(f"{args.rounds} rounds of {args.steps} steps (after {args.warmup} warm-up) per worker, "
          f"device {args.device}, threads {args.threads or 'default'}\n")
    print(TABLE_HEAD, flush=True)
    rows = []
    for setting in settings:
        rows.append(measure_setting(setting, args))
        print(table_row(rows[-1]), flush=True)
    reports = {name: rows[0]["rounds"][0][name]["report"] for name in FRAMEWORKS}
    for name in FRAMEWORKS:
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in reports[name].items()))
    machine["load_after"] = machine_report()["load"]
    print(f"load average at the end: {machine['load_after']:.1f}")
    path = args.json or os.path.join(RESULTS, default_json)
    write_json(path, {"command": " ".join(["python"] + sys.argv), "machine": machine,
                      "frameworks": reports, "device": args.device, "threads": args.threads,
                      "rounds": args.rounds, "steps": args.steps, "warmup": args.warmup,
                      "results": rows})
    print(f"\nwrote {path}")
    return rows


def parser(description, rounds, steps, warmup):
    """The options the step and scaling drivers share (and the worker's)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    p.add_argument("--rounds", type=int, default=rounds, help="rounds A B (default %(default)s)")
    p.add_argument("--steps", type=int, default=steps, help="timed steps per worker")
    p.add_argument("--warmup", type=int, default=warmup, help="untimed steps first")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for both (OMP/OPENBLAS/MKL_NUM_THREADS, torch.set_num_threads)")
    p.add_argument("--json", default=None, help="where to write the results")
    p.add_argument("--keep-blas-env", action="store_true",
                   help="keep OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE if set")
    return p


def parse_args(p):
    args = p.parse_args()
    if args.rounds < 1 or args.steps < 1 or args.warmup < 1:
        p.error("--rounds, --steps and --warmup must be >= 1")
    return args


def main():
    p = parser(__doc__.splitlines()[0], rounds=7, steps=40, warmup=6)
    p.add_argument("--worker", choices=FRAMEWORKS, help="run one worker and print its JSON line")
    p.add_argument("--setting", dest="setting_text", default=None,
                   help="the worker's setting, or the one setting the driver runs")
    p.add_argument("--batch-sweep", action="store_true",
                   help="with --device gpu: the fixed network at batch " +
                   ", ".join(map(str, SWEEP_BATCHES)) + " (where launches bound a step)")
    args = parse_args(p)
    if args.worker and args.setting_text is None:
        p.error("--worker needs --setting")
    if args.batch_sweep and (args.device != "gpu" or args.setting_text or args.worker):
        p.error("--batch-sweep is for the driver with --device gpu, without --setting")
    settings = SETTINGS if args.setting_text is None else [args.setting_text]
    if args.batch_sweep:
        settings = SWEEP
    try:
        args.setting = parse_setting(settings[0])
        for setting in settings:
            parse_setting(setting)
    except argparse.ArgumentTypeError as error:
        p.error(str(error))
    if args.device == "gpu":
        check_gpu(os.path.basename(sys.argv[0]))
    if args.worker:
        worker(args)
        return
    suffix = f"-threads{args.threads}" if args.threads else ""
    if args.batch_sweep:
        suffix += "-sweep"
    rows = drive(settings, args, f"step-{args.device}{suffix}.json")
    if args.batch_sweep:
        print_per_image(rows)


def print_per_image(rows):
    """Microseconds per image of each batch: flat where launches bound the step."""
    print("\n| batch | minigrad µs/image | PyTorch µs/image |\n|---:|---:|---:|")
    for row in rows:
        batch = parse_setting(row["setting"])[1]
        times = row["time_ms"]
        print(f"| {batch} | {1e3 * times['minigrad'] / batch:.1f} | "
              f"{1e3 * times['torch'] / batch:.1f} |")


if __name__ == "__main__":
    main()
