"""The convolutions' floor: minigrad's matrix products alone against PyTorch's whole convolution.

minigrad's convolution is unfold → matmul → reshape, and its backward two more matrix
products and a fold (ops/conv.py). The products W'U, dY'Uᵀ and W'ᵀdY' are the same
arithmetic in any memory layout, and BLAS already runs them on every core. This times
them alone, on the shapes of each convolution of a training step, beside minigrad's
unfold and fold passes and PyTorch's convolution forward and backward on the same
shapes (oneDNN, which fuses the patch copies into its products). Where the products
alone take longer than PyTorch's whole convolution, no change of layout or threads
around them closes the gap: only another matrix-product library, or a fused
convolution kernel that is no longer unfold → matmul → reshape, would.

    python benchmarks/conv_floor.py                       # fixed b128 and variable 64×64
    python benchmarks/conv_floor.py --setting fixed-b16-28 --rounds 3

Each framework runs in its own process, alternated over ``--rounds``; milliseconds per
training step (all convolutions of the network), medians over the rounds.
"""
import argparse
import json
import os
import sys
import time

from common import (
    RESULTS,
    alternate,
    framework_report,
    machine_report,
    median,
    reexec_without_blas_overrides,
    run_worker,
    write_json,
)

reexec_without_blas_overrides(sys.argv)

import numpy as np  # noqa: E402
from step import parse_setting  # noqa: E402

DEFAULT_SETTINGS = ["fixed-b128-28", "varres-b16-64"]
PRODUCTS = ("W'U", "dY'Uᵀ", "W'ᵀdY'")
CHANNELS = {"fixed": (1, 16, 32, 64), "varres": (1, 16, 32, 81)}


def layers(network, batch, size):
    """(N, C, O, H) of each 3×3, padding 1 convolution; each max pool halves H."""
    channels = CHANNELS[network]
    return [(batch, c, o, size // 2 ** i) for i, (c, o) in enumerate(zip(channels, channels[1:]))]


def median_ms(run, steps):
    times = []
    for _ in range(steps + 2):  # two warm-up calls first
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * median(times[2:])


def minigrad_layer(n, c, o, h, steps):
    """ms of each product, and of unfold and fold, on one layer's arrays as the engine has them."""
    from minigrad.ops.conv import col2im, im2col
    from minigrad.ops.window import make_window
    rng = np.random.default_rng(0)
    window = make_window("conv2d", (h, h), 3, 1, 1, 1)
    x = rng.random((c, h, h, n), dtype=np.float32).transpose(3, 0, 1, 2)  # batch last
    cols = im2col(x, window)[None]                                   # U   (1, K, L·N)
    weight = rng.random((1, o, c * 9), dtype=np.float32)             # W'  (1, O, K)
    grad_y = rng.random((1, o, cols.shape[2]), dtype=np.float32)     # dY' (1, O, L·N)
    times = {"W'U": median_ms(lambda: weight @ cols, steps),
             "dY'Uᵀ": median_ms(lambda: grad_y @ cols.transpose(0, 2, 1), steps),
             "unfold": median_ms(lambda: im2col(x, window), steps)}
    if c > 1:  # the image needs no gradient: the first layer has no dU and no fold
        times["W'ᵀdY'"] = median_ms(lambda: weight.transpose(0, 2, 1) @ grad_y, steps)
        grad_cols = weight.transpose(0, 2, 1) @ grad_y
        times["fold"] = median_ms(lambda: col2im(grad_cols, x.shape, window), steps)
    return times


def torch_layer(torch, n, c, o, h, steps):
    """ms of PyTorch's convolution forward and backward on the same shapes."""
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(n, c, h, h, generator=generator, requires_grad=c > 1)
    weight = torch.rand(o, c, 3, 3, generator=generator, requires_grad=True)
    bias = torch.rand(o, generator=generator, requires_grad=True)
    grad_y = torch.rand(n, o, h, h, generator=generator)

    def forward_backward():
        torch.nn.functional.conv2d(x, weight, bias, padding=1).backward(grad_y)
    return {"conv forward+backward": median_ms(forward_backward, steps)}


def worker(framework, setting, steps):
    torch = None
    if framework == "torch":
        import torch
    results = []
    for shape in layers(*_one_size(setting)):
        if torch is None:
            results.append(minigrad_layer(*shape, steps))
        else:
            results.append(torch_layer(torch, *shape, steps))
    print(json.dumps({"layers": results, "report": framework_report(torch)}))


def _one_size(setting):
    network, batch, sizes = parse_setting(setting)
    if len(sizes) != 1:
        raise SystemExit(f"conv_floor.py: setting {setting!r}: give one image size")
    return network, batch, sizes[0]


def summary(setting, per_round):
    """Per layer and in total: the medians over the rounds."""
    rows = []
    for index, shape in enumerate(layers(*_one_size(setting))):
        ours = {key: median([r["minigrad"]["layers"][index][key] for r in per_round])
                for key in per_round[0]["minigrad"]["layers"][index]}
        theirs = median([r["torch"]["layers"][index]["conv forward+backward"] for r in per_round])
        products = sum(ms for key, ms in ours.items() if key not in ("unfold", "fold"))
        passes = ours["unfold"] + ours.get("fold", 0.0)
        rows.append({"shape": shape, "minigrad": ours, "products_ms": products,
                     "unfold_fold_ms": passes, "torch_conv_ms": theirs})
    return rows


def print_table(setting, rows):
    print(f"\n### {setting}\n")
    print("| layer (N, C→O, H×W) | W'U | dY'Uᵀ | W'ᵀdY' | products | unfold + fold | "
          "PyTorch conv, forward + backward | products / PyTorch |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows + [_total(rows)]:
        ours = row["minigrad"]
        name = row.get("name") or "{}, {}→{}, {h}×{h}".format(*row["shape"][:3], h=row["shape"][3])
        products = " | ".join(f"{ours.get(key, 0.0):.2f}" for key in PRODUCTS)
        print(f"| {name} | {products} | {row['products_ms']:.2f} | {row['unfold_fold_ms']:.2f} | "
              f"{row['torch_conv_ms']:.2f} | {row['products_ms'] / row['torch_conv_ms']:.2f} |")


def _total(rows):
    return {"name": "all three", "shape": None,
            "minigrad": {key: sum(r["minigrad"].get(key, 0.0) for r in rows) for key in PRODUCTS},
            **{key: sum(r[key] for r in rows)
               for key in ("products_ms", "unfold_fold_ms", "torch_conv_ms")}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--setting", action="append", default=None)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=30, help="timed calls per product and layer")
    p.add_argument("--json", default=os.path.join(RESULTS, "conv-floor.json"))
    p.add_argument("--worker", choices=["minigrad", "torch"])
    p.add_argument("--keep-blas-env", action="store_true",
                   help="keep OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE if set")
    args = p.parse_args(argv)
    settings = args.setting or DEFAULT_SETTINGS
    for setting in settings:
        try:
            _one_size(setting)
        except argparse.ArgumentTypeError as error:
            p.error(str(error))
    if args.worker:
        return worker(args.worker, settings[0], args.steps)
    machine = machine_report()
    print(f"machine: {machine['nproc']} cores, {machine['cpu']}, load average {machine['load']:.1f}")
    results = {}
    for setting in settings:
        def one(framework):
            keep = ["--keep-blas-env"] if args.keep_blas_env else []
            return run_worker(os.path.abspath(__file__), ["--worker", framework, "--setting",
                                                          setting, "--steps", args.steps] + keep)
        per_round = alternate(one, args.rounds)
        results[setting] = summary(setting, per_round)
        print_table(setting, results[setting])
        reports = per_round[0]
    machine["load_after"] = machine_report()["load"]
    print(f"\nminigrad: {reports['minigrad']['report']}\nPyTorch: {reports['torch']['report']}")
    print(f"load average at the end: {machine['load_after']:.1f}")
    write_json(args.json, {"command": " ".join(["python"] + sys.argv), "machine": machine,
                           "frameworks": {f: reports[f]["report"] for f in reports},
                           "rounds": args.rounds, "steps": args.steps, "results": results})
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
