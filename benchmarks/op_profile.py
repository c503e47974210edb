"""Where a training step's time goes, op by op: minigrad's Functions (forward and
backward, timed around each call) beside PyTorch's own profiler for the same step.

    python benchmarks/op_profile.py                          # fixed b128 and variable 64×64
    python benchmarks/op_profile.py --setting fixed-b16-28 --steps 30

The timing wraps each Function's forward and backward in this process only (the
engine is not changed); the step time printed on top is without the wrapping. Each
framework runs in its own process. Milliseconds per step, medians over ``--steps``.
"""
import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict

from common import reexec_without_blas_overrides

reexec_without_blas_overrides(sys.argv)

import numpy as np  # noqa: E402
from step import make_batches, minigrad_stepper, parse_setting, torch_stepper  # noqa: E402

DEFAULT_SETTINGS = ["fixed-b128-28", "varres-b16-64"]


def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)


def median_step_ms(step, data, steps, warmup=5):
    """Warm up, then the median milliseconds of a step over every batch of ``data``."""
    for _ in range(warmup):
        for x, y in data:
            step(x, y)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        for x, y in data:
            step(x, y)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def profile_minigrad(network, batches, steps):
    """({"Op pass": ms per step}, ms per step unwrapped)."""
    from minigrad.autograd import Function
    step, data, _ = minigrad_stepper(network, batches, "cpu")
    step_ms = median_step_ms(step, data, steps)
    totals = defaultdict(float)

    def timed(cls, name, method):
        def wrapper(self, *args, **kwargs):
            start = time.perf_counter()
            try:
                return method(self, *args, **kwargs)
            finally:
                totals[(cls.__name__, name)] += time.perf_counter() - start
        return wrapper
    for cls in set(subclasses(Function)):
        for name in ("forward", "backward"):
            if name in vars(cls):
                setattr(cls, name, timed(cls, name, vars(cls)[name]))
    for _ in range(steps):
        for x, y in data:
            step(x, y)
    ops = {f"{op} {name}": 1000 * seconds / steps for (op, name), seconds in totals.items()}
    return ops, step_ms


def profile_torch(network, batches, steps):
    import torch
    from torch.profiler import ProfilerActivity, profile
    step, data, _ = torch_stepper(torch, network, batches, "cpu")
    step_ms = median_step_ms(step, data, steps)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            for x, y in data:
                step(x, y)
    ops = {event.key: event.self_cpu_time_total / 1000 / steps for event in prof.key_averages()}
    return ops, step_ms


def worker(framework, setting, steps):
    network, batch, sizes = parse_setting(setting)
    batches = make_batches(batch, sizes)
    run = profile_minigrad if framework == "minigrad" else profile_torch
    ops, step_ms = run(network, batches, steps)
    print(json.dumps({"ops": ops, "step_ms": step_ms}))


def table(ops, rows=10):
    ranked = sorted(ops.items(), key=lambda item: -item[1])[:rows]
    return [f"| {name} | {ms:.2f} |" for name, ms in ranked]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--setting", action="append", default=None)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--worker", choices=["minigrad", "torch"])
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.setting[0], args.steps)
    for setting in args.setting or DEFAULT_SETTINGS:
        results = {}
        for framework in ("minigrad", "torch"):
            done = subprocess.run([sys.executable, __file__, "--worker", framework, "--setting",
                                   setting, "--steps", str(args.steps)],
                                  capture_output=True, text=True, check=True)
            results[framework] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"\n### {setting}: minigrad {results['minigrad']['step_ms']:.1f} ms, "
              f"PyTorch {results['torch']['step_ms']:.1f} ms per step\n")
        left, right = (table(results[f]["ops"]) for f in ("minigrad", "torch"))
        print("| minigrad op | ms |   | PyTorch op (self CPU) | ms |")
        print("|---|---:|---|---|---:|")
        for a, b in zip(left, right):
            print(f"{a}   {b}")


if __name__ == "__main__":
    main()
