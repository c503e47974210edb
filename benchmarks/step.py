"""Milliseconds per training step (forward, loss, backward, Adam), minigrad
against PyTorch in the same run, interleaved, on identical networks and data.

    python benchmarks/step.py                 # all settings, CPU
    python benchmarks/step.py --quick         # fewer rounds
    python benchmarks/step.py --device gpu    # CuPy vs PyTorch CUDA, where present

Prints a table (minigrad ms, PyTorch ms, ratio) and writes JSON
(``--json``, default benchmarks/results/step-<device>.json).
"""
import argparse
import sys

from common import reexec_without_blas_overrides

reexec_without_blas_overrides(sys.argv)

import numpy as np  # noqa: E402  (after the BLAS environment is settled)

import minigrad  # noqa: E402
import minigrad.functional as F  # noqa: E402
from common import (blas_report, machine_report, median, time_calls, torch_twin,  # noqa: E402
                    write_json)
from minigrad import backend, models, optim  # noqa: E402

SETTINGS = [
    # name, model factory, batch, resolutions cycled through
    ("fixed b16 28x28", models.fixed_res_cnn, 16, [28]),
    ("fixed b128 28x28", models.fixed_res_cnn, 128, [28]),
    ("varres b16 64x64", models.var_res_cnn, 16, [64]),
    ("varres b16 mixed 32/48/64", models.var_res_cnn, 16, [32, 64, 48, 32, 48, 64]),
]


def make_batches(batch, resolutions, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.random((batch, 1, r, r), dtype=np.float32), rng.integers(0, 10, batch))
            for r in resolutions]


def minigrad_stepper(model, batches, device):
    model.to(device)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    data = [(minigrad.tensor(backend.to_device(x, device)), y) for x, y in batches]
    position = [0]

    def step():
        x, y = data[position[0] % len(data)]
        position[0] += 1
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def torch_stepper(torch, twin, batches, device):
    dev = "cuda" if device == "gpu" else "cpu"
    twin.to(dev)
    opt = torch.optim.Adam(twin.parameters(), lr=1e-3)
    data = [(torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)) for x, y in batches]
    position = [0]

    def step():
        x, y = data[position[0] % len(data)]
        position[0] += 1
        loss = torch.nn.functional.cross_entropy(twin(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def bench_setting(name, factory, batch, resolutions, args, torch):
    minigrad.manual_seed(0)
    model = factory()
    batches = make_batches(batch, resolutions)
    ours = minigrad_stepper(model, batches, args.device)
    theirs = None
    sync = None
    if args.device == "gpu":
        sync = backend.gpu_module().cuda.Device().synchronize
    if torch is not None:
        theirs = torch_stepper(torch, torch_twin(model, torch), batches, args.device)
    per_round = len(resolutions) * max(1, args.steps // len(resolutions))
    time_calls(ours, per_round, sync)
    if theirs:
        time_calls(theirs, per_round, torch.cuda.synchronize if args.device == "gpu" else None)
    mine, ref = [], []
    for _ in range(args.rounds):  # A B A B ...: drift hits both alike
        mine.append(median(time_calls(ours, per_round, sync)))
        if theirs:
            ref.append(median(time_calls(
                theirs, per_round, torch.cuda.synchronize if args.device == "gpu" else None)))
    result = {"setting": name, "minigrad_ms": 1e3 * median(mine)}
    if ref:
        ratios = [a / b for a, b in zip(mine, ref)]
        result.update(torch_ms=1e3 * median(ref), ratio=median(ratios),
                      ratio_min=min(ratios), ratio_max=max(ratios))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--steps", type=int, default=12, help="steps per round")
    parser.add_argument("--threads", type=int, default=None, help="PyTorch threads")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 6 steps")
    parser.add_argument("--only", default=None, help="run settings whose name contains this")
    parser.add_argument("--json", default=None)
    parser.add_argument("--keep-blas-env", action="store_true",
                        help="keep OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE if set")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.steps = 3, 6
    try:
        import torch
        if args.threads:
            torch.set_num_threads(args.threads)
        if args.device == "gpu" and not torch.cuda.is_available():
            torch = None
    except ImportError:
        torch = None
    print(f"machine: {machine_report()}")
    print(f"numpy {np.__version__}: {blas_report()}")
    if torch is not None:
        print(f"torch {torch.__version__}: {torch.get_num_threads()} threads")
    results = []
    print("\n| setting | minigrad ms | PyTorch ms | ratio (min–max) |\n|---|---:|---:|---:|")
    for name, factory, batch, resolutions in SETTINGS:
        if args.only and args.only not in name:
            continue
        r = bench_setting(name, factory, batch, resolutions, args, torch)
        results.append(r)
        if "ratio" in r:
            print(f"| {name} | {r['minigrad_ms']:.2f} | {r['torch_ms']:.2f} | "
                  f"{r['ratio']:.2f} ({r['ratio_min']:.2f}–{r['ratio_max']:.2f}) |", flush=True)
        else:
            print(f"| {name} | {r['minigrad_ms']:.2f} | – | – |", flush=True)
    path = args.json or f"benchmarks/results/step-{args.device}.json"
    write_json(path, {"machine": machine_report(), "blas": blas_report(),
                      "torch": None if torch is None else torch.__version__,
                      "results": results})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
