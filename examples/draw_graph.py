"""Draw what minigrad records: a micrograd-sized expression, and the forward
and backward of one training step of the fixed-resolution network.

    python examples/draw_graph.py         # into a new folder: graphs/, else graphs-2/, ...
    python examples/draw_graph.py --out pictures --format png

Each picture shows the ops (name and math), the leaf tensors (shape, dtype,
value, gradient) and the shapes flowing along the arrows. Pictures need
Graphviz's `dot` program; without it the DOT text is written instead. An
existing file is never overwritten.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

import minigrad
import minigrad.functional as F
from minigrad import models, viz

NAMES = ("neuron", "training-step")


def neuron():
    """o = relu(x1·w1 + x2·w2 + b), one artificial neuron, after backward."""
    inputs = {"x1": 2.0, "x2": 0.5, "w1": -1.5, "w2": 4.0, "b": 3.0}
    leaves = {name: minigrad.tensor(value, requires_grad=True) for name, value in inputs.items()}
    x1, x2, w1, w2, b = leaves.values()
    out = F.relu(x1 * w1 + x2 * w2 + b)
    out.backward(retain_graph=True)  # keep the graph so it can be drawn
    return out, leaves


def training_step(batch_size=4):
    """Cross-entropy of the fixed network on a random batch, after backward."""
    minigrad.manual_seed(0)
    model = models.fixed_res_cnn()
    rng = np.random.default_rng(0)
    images = minigrad.tensor(rng.random((batch_size, 1, 28, 28), dtype=np.float32))
    labels = rng.integers(0, 10, batch_size)
    loss = F.cross_entropy(model(images), labels)
    loss.backward(retain_graph=True)
    return loss, dict(model.named_parameters())


def new_folder(base="graphs"):
    """The first of graphs/, graphs-2/, graphs-3/, ... that does not exist yet."""
    folder, number = Path(base), 1
    while folder.exists():
        number += 1
        folder = Path(f"{base}-{number}")
    return folder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the pictures (default: a new folder graphs/, graphs-2/...)")
    parser.add_argument("--format", choices=("svg", "png"), default="svg")
    args = parser.parse_args(argv)
    out = args.out or new_folder()
    targets = [out / f"{name}.{suffix}" for name in NAMES for suffix in (args.format, "dot")]
    taken = [str(path) for path in targets if path.exists()]
    if taken:
        parser.error(f"refusing to overwrite existing files: {', '.join(taken)}; "
                     "choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    for name, (tensor, params) in zip(NAMES, (neuron(), training_step())):
        written = viz.draw(tensor, out / f"{name}.{args.format}", params=params)
        print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
