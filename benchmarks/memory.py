"""Peak memory of one training step, minigrad against PyTorch.

Each framework runs in a fresh subprocess: it builds the network and the
batch, records its peak resident set size, then takes twelve steps; the
figure is the growth of the peak RSS (``ru_maxrss``) over that baseline,
i.e. what training steps need at their worst beyond the model and data. For
minigrad, tracemalloc's peak of NumPy allocations during one step is shown
too.

    python benchmarks/memory.py [--json PATH]
"""
import argparse
import json
import subprocess
import sys

from common import machine_report, write_json

SETTINGS = [("fixed", 16, 28), ("fixed", 128, 28), ("varres", 16, 64)]

CHILD = r"""
import json, resource, sys, tracemalloc
import numpy as np
framework, model_name, batch, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(0)
x_np = rng.random((batch, 1, size, size), dtype=np.float32)
y_np = rng.integers(0, 10, batch)
if framework == "minigrad":
    import minigrad, minigrad.functional as F
    from minigrad import models, optim
    model = models.fixed_res_cnn() if model_name == "fixed" else models.var_res_cnn()
    opt = optim.Adam(model.parameters())
    x = minigrad.tensor(x_np)
    def step():
        loss = F.cross_entropy(model(x), y_np); opt.zero_grad(); loss.backward(); opt.step()
else:
    import torch
    sys.path.insert(0, "benchmarks")
    from common import torch_twin
    import minigrad
    from minigrad import models
    model = torch_twin(models.fixed_res_cnn() if model_name == "fixed" else models.var_res_cnn(), torch)
    opt = torch.optim.Adam(model.parameters())
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y); opt.zero_grad(); loss.backward(); opt.step()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for _ in range(12):
    step()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
traced = None
if framework == "minigrad":
    tracemalloc.start(); step(); traced = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
print(json.dumps({"rss_growth_kib": peak - base, "baseline_kib": base, "tracemalloc_peak": traced}))
"""


def measure(framework, model, batch, size):
    out = subprocess.run([sys.executable, "-c", CHILD, framework, model, str(batch), str(size)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="benchmarks/results/memory-cpu.json")
    args = parser.parse_args()
    print(f"machine: {machine_report()}")
    print("\n| setting | minigrad peak growth MiB | PyTorch peak growth MiB | "
          "minigrad NumPy peak (tracemalloc) MiB |\n|---|---:|---:|---:|")
    rows = []
    for model, batch, size in SETTINGS:
        ours = measure("minigrad", model, batch, size)
        try:
            theirs = measure("torch", model, batch, size)
        except subprocess.CalledProcessError:
            theirs = None
        row = {"setting": f"{model} b{batch} {size}x{size}", "minigrad": ours, "torch": theirs}
        rows.append(row)
        ref = "–" if theirs is None else f"{theirs['rss_growth_kib'] / 1024:.1f}"
        print(f"| {row['setting']} | {ours['rss_growth_kib'] / 1024:.1f} | {ref} | "
              f"{ours['tracemalloc_peak'] / 2**20:.1f} |", flush=True)
    write_json(args.json, {"machine": machine_report(), "results": rows})
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
