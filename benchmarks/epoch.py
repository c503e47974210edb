"""Wall time of one full training epoch (50,000 images, batch 16), minigrad
against PyTorch, on the fixed network with MNIST-sized inputs.

    python benchmarks/epoch.py [--images 50000] [--batch 16] [--json PATH]

Random images stand in for MNIST (speed does not depend on the pixels);
each framework runs the same batches in the same order.
"""
import argparse
import sys
import time

from common import reexec_without_blas_overrides

reexec_without_blas_overrides(sys.argv)

import numpy as np  # noqa: E402

import minigrad  # noqa: E402
import minigrad.functional as F  # noqa: E402
from common import blas_report, machine_report, torch_twin, write_json  # noqa: E402
from minigrad import models, optim  # noqa: E402


def batches(images, batch, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(images // batch):
        yield rng.random((batch, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, batch)


def minigrad_epoch(args):
    minigrad.manual_seed(0)
    model = models.fixed_res_cnn()
    opt = optim.Adam(model.parameters())
    start = time.perf_counter()
    for x, y in batches(args.images, args.batch):
        loss = F.cross_entropy(model(minigrad.tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def torch_epoch(args, torch):
    minigrad.manual_seed(0)
    model = torch_twin(models.fixed_res_cnn(), torch)
    opt = torch.optim.Adam(model.parameters())
    start = time.perf_counter()
    for x, y in batches(args.images, args.batch):
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--json", default="benchmarks/results/epoch-cpu.json")
    parser.add_argument("--keep-blas-env", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine_report()}\nnumpy {np.__version__}: {blas_report()}")
    result = {"images": args.images, "batch": args.batch,
              "minigrad_s": minigrad_epoch(args)}
    try:
        import torch
        result["torch_s"] = torch_epoch(args, torch)
        result["ratio"] = result["minigrad_s"] / result["torch_s"]
    except ImportError:
        pass
    print(f"one epoch of {args.images:,} images, batch {args.batch}: minigrad "
          f"{result['minigrad_s']:.1f} s" + (f", PyTorch {result['torch_s']:.1f} s, ratio "
                                             f"{result['ratio']:.2f}" if "ratio" in result else ""))
    write_json(args.json, {"machine": machine_report(), "blas": blas_report(), "result": result})


if __name__ == "__main__":
    main()
