"""How step time and peak memory grow, minigrad against PyTorch: batch 16,
64, 128, 256 on the fixed network (28×28), and resolution 28, 64, 128, 256 on
the variable network (batch 16). Each figure comes from step.py's workers,
one fresh process per framework and setting, alternated over rounds.

    python benchmarks/scaling.py                   # 3 rounds, CPU
    python benchmarks/scaling.py --device gpu      # CuPy against PyTorch CUDA

Prints a markdown table and writes benchmarks/results/scaling-<device>.json.
"""
import os
import sys

from common import reexec_without_blas_overrides

reexec_without_blas_overrides(sys.argv)

from common import check_gpu  # noqa: E402  (after the BLAS environment is settled)
from step import drive, parse_args, parser  # noqa: E402

SETTINGS = ([f"fixed-b{batch}-28" for batch in (16, 64, 128, 256)]
            + [f"varres-b16-{size}" for size in (28, 64, 128, 256)])


def main():
    p = parser(__doc__.splitlines()[0], rounds=3, steps=10, warmup=3)
    args = parse_args(p)
    if args.device == "gpu":
        check_gpu(os.path.basename(sys.argv[0]))
    suffix = f"-threads{args.threads}" if args.threads else ""
    drive(SETTINGS, args, f"scaling-{args.device}{suffix}.json")


if __name__ == "__main__":
    main()
