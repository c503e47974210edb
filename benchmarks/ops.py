"""Forward and backward time per op, minigrad against PyTorch, at the shapes
the networks use (batch 16 by default). A DIAGNOSTIC, run in ONE process:
both frameworks share the machine's threads and caches, which distorts the
comparison (see step.py for the honest, one-process-per-framework figures).
Use it to see which op to look at, not to quote a speed.

    python benchmarks/ops.py [--batch 16] [--json PATH]
"""
import argparse
import os
import sys
import time

from common import reexec_without_blas_overrides

reexec_without_blas_overrides(sys.argv)

import numpy as np  # noqa: E402

import minigrad  # noqa: E402

minigrad.memory.keep_freed_memory()  # as the training command does  # noqa: E402
from common import RESULTS, blas_report, machine_report, median, write_json  # noqa: E402

import minigrad.functional as F  # noqa: E402
from minigrad import optim  # noqa: E402


def cases(batch, torch):
    """(name, minigrad fn, torch fn, input shapes) at the second conv block's sizes."""
    tf = torch.nn.functional if torch else None
    return [
        ("unfold 3x3 p1 (16ch 14x14)", lambda x: F.unfold(x, 3, 1, 1),
         tf and (lambda x: tf.unfold(x, 3, padding=1)), [(batch, 16, 14, 14)]),
        ("fold 3x3 p1 (16ch 14x14)", lambda u: F.fold(u, (14, 14), 3, 1, 1),
         tf and (lambda u: tf.fold(u, (14, 14), 3, padding=1)), [(batch, 144, 196)]),
        ("conv2d 16→32 3x3 p1 14x14", lambda x, w, b: F.conv2d(x, w, b, 1, 1),
         tf and (lambda x, w, b: tf.conv2d(x, w, b, 1, 1)),
         [(batch, 16, 14, 14), (32, 16, 3, 3), (32,)]),
        ("conv2d 32→81 3x3 p1 16x16", lambda x, w, b: F.conv2d(x, w, b, 1, 1),
         tf and (lambda x, w, b: tf.conv2d(x, w, b, 1, 1)),
         [(batch, 32, 16, 16), (81, 32, 3, 3), (81,)]),
        ("relu (16ch 28x28)", F.relu, tf and tf.relu, [(batch, 16, 28, 28)]),
        ("max_pool2d 2x2 (16ch 28x28)", lambda x: F.max_pool2d(x, 2),
         tf and (lambda x: tf.max_pool2d(x, 2)), [(batch, 16, 28, 28)]),
        ("global_max_pool2d (81ch 8x8)", F.global_max_pool2d,
         tf and (lambda x: tf.adaptive_max_pool2d(x, 1).flatten(1)), [(batch, 81, 8, 8)]),
        ("global_avg_pool2d (81ch 8x8)", F.global_avg_pool2d,
         tf and (lambda x: tf.adaptive_avg_pool2d(x, 1).flatten(1)), [(batch, 81, 8, 8)]),
        ("linear 576→10", F.linear, tf and tf.linear, [(batch, 576), (10, 576), (10,)]),
    ]


def time_calls(fn, count):
    """Seconds of each of ``count`` calls of ``fn``."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def time_op(fn, arrays, make_tensor, backward, count):
    """Median forward and forward+backward seconds."""
    def forward():
        inputs = [make_tensor(a) for a in arrays]
        return inputs, fn(*inputs)

    def both():
        inputs, out = forward()
        backward(out)
    return median(time_calls(forward, count)), median(time_calls(both, count))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--json", default=os.path.join(RESULTS, "ops-cpu.json"))
    parser.add_argument("--keep-blas-env", action="store_true")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    machine = machine_report()
    print(f"machine: {machine['nproc']} cores, {machine['cpu']}\nnumpy {np.__version__}: "
          f"{blas_report()}\n(one process for both frameworks: a diagnostic, see the docstring)")
    print("\n| op | minigrad fwd µs | torch fwd µs | minigrad fwd+bwd µs | torch fwd+bwd µs | "
          "ratio fwd+bwd |\n|---|---:|---:|---:|---:|---:|")
    results = []
    for name, ours, theirs, shapes in cases(args.batch, torch):
        arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        mine = time_op(ours, arrays, lambda a: minigrad.tensor(a, requires_grad=True),
                       lambda out: out.backward(np.ones(out.shape, np.float32)), args.count)
        row = {"op": name, "minigrad_fwd_us": 1e6 * mine[0], "minigrad_fwdbwd_us": 1e6 * mine[1]}
        if torch is not None:
            ref = time_op(theirs, arrays, lambda a: torch.tensor(a, requires_grad=True),
                          lambda out: out.backward(torch.ones_like(out)), args.count)
            row.update(torch_fwd_us=1e6 * ref[0], torch_fwdbwd_us=1e6 * ref[1],
                       ratio=mine[1] / ref[1])
        results.append(row)
        print(f"| {name} | {row['minigrad_fwd_us']:.0f} | {row.get('torch_fwd_us', float('nan')):.0f} "
              f"| {row['minigrad_fwdbwd_us']:.0f} | {row.get('torch_fwdbwd_us', float('nan')):.0f} "
              f"| {row.get('ratio', float('nan')):.2f} |", flush=True)
    results.append(adam_row(args, torch, rng))
    r = results[-1]
    print(f"| Adam step (29,066 params) | {r['minigrad_us']:.0f} | {r.get('torch_us', float('nan')):.0f}"
          f" | | | {r.get('ratio', float('nan')):.2f} |")
    write_json(args.json, {"machine": machine, "blas": blas_report(), "in_process": True,
                           "results": results})
    print(f"\nwrote {args.json}")


def adam_row(args, torch, rng):
    """One Adam step over the fixed network's parameter shapes."""
    from minigrad import models
    params = models.fixed_res_cnn().parameters()
    for p in params:
        p.grad = rng.standard_normal(p.shape).astype(np.float32)
    opt = optim.Adam(params)
    row = {"op": "adam step", "minigrad_us": 1e6 * median(time_calls(opt.step, args.count))}
    if torch is not None:
        tparams = [torch.tensor(p.numpy(), requires_grad=True) for p in params]
        for tp, p in zip(tparams, params):
            tp.grad = torch.from_numpy(p.grad.copy())
        topt = torch.optim.Adam(tparams)
        row["torch_us"] = 1e6 * median(time_calls(topt.step, args.count))
        row["ratio"] = row["minigrad_us"] / row["torch_us"]
    return row


if __name__ == "__main__":
    main()
