"""Draw the figures of docs/derivation.md from minigrad's own unfold, fold and conv2d.

    python docs/make_figures.py              # rewrites docs/unfold.png, docs/overlaps.png,
                                             # docs/backward.png
    python docs/make_figures.py --out DIR    # or writes them into DIR

Every number in a figure is computed here by minigrad on tiny inputs, so the
pictures show what the code does. Needs matplotlib.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import ConnectionPatch, Rectangle

import minigrad
import minigrad.functional as F
from minigrad.fileio import atomic_write

__all__ = ["FIGURES", "IMAGE", "KERNEL", "main"]

# The example of the backward figure (and of the derivation's last section).
IMAGE = np.array([[9, 5, 2, 5, 7, 1],
                  [3, 3, 7, 5, 3, 7],
                  [9, 1, 8, 2, 6, 9],
                  [4, 6, 3, 7, 4, 6],
                  [3, 2, 6, 2, 2, 2],
                  [9, 4, 1, 5, 3, 9]], dtype=np.float64)
KERNEL = np.array([[1, 0, -1],
                   [2, 0, -2],
                   [1, 0, -1]], dtype=np.float64)  # responds to left-to-right decrease
WINDOW_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


def show_grid(ax, values, title, cmap="Blues", center=False):
    """A matrix as coloured cells with its numbers written in (white on dark cells)."""
    limit = max(float(np.abs(values).max()), 1e-12)
    low, high = (-limit, limit) if center else (min(float(values.min()), 0.0), limit)
    image = ax.imshow(values, cmap=cmap, vmin=low, vmax=high)
    for (row, col), value in np.ndenumerate(values):
        red, green, blue, _ = image.cmap(image.norm(value))
        dark = 0.3 * red + 0.6 * green + 0.1 * blue < 0.5
        ax.text(col, row, f"{value + 0.0:g}", ha="center", va="center", fontsize=9,
                color="white" if dark else "black")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def outline(ax, row, col, height, width, color, inset=0.0, linewidth=2.5):
    """A rectangle around cells [row, row + height) × [col, col + width)."""
    ax.add_patch(Rectangle((col - 0.5 + inset, row - 0.5 + inset), width - 2 * inset,
                           height - 2 * inset, fill=False, edgecolor=color, linewidth=linewidth))


def unfold_figure():
    """The patch matrix U of a 4×4 image and a 3×3 kernel, each column traced to its window."""
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    patches = F.unfold(minigrad.tensor(x), 3).numpy()[0]  # (K, L) = (9, 4)
    fig = Figure(figsize=(9.0, 4.4))
    image_ax, matrix_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.0, 1.15]})
    show_grid(image_ax, x[0, 0], "x: one 4×4 channel (values = pixel numbers)")
    for l, color in enumerate(WINDOW_COLORS):
        row, col = divmod(l, 2)  # output position l = (row, col), row-major
        outline(image_ax, row, col, 3, 3, color, inset=0.06 + 0.06 * l)
    show_grid(matrix_ax, patches, "U = unfold(x, 3): (K, L) = (9, 4)")
    for l, color in enumerate(WINDOW_COLORS):
        outline(matrix_ax, 0, l, 9, 1, color, inset=0.05)
    matrix_ax.set_xticks(range(4), [f"l={l}\n{divmod(l, 2)}" for l in range(4)], fontsize=8)
    for tick, color in zip(matrix_ax.get_xticklabels(), WINDOW_COLORS):
        tick.set_color(color)
    matrix_ax.set_yticks(range(9), [f"(c=0, i={i}, j={j})" for i in range(3) for j in range(3)],
                         fontsize=8)
    fig.suptitle("Column l of U is the window under output position l, read row by row",
                 fontsize=11)
    fig.tight_layout()
    return fig


def overlaps_figure():
    """fold(unfold(ones)): how many windows cover each pixel, for three geometries."""
    cases = [(1, 0), (2, 0), (1, 1)]  # (stride, padding), 3×3 kernel on a 5×5 image
    ones = minigrad.tensor(np.ones((1, 1, 5, 5)))
    fig = Figure(figsize=(9.0, 3.6))
    for ax, (stride, padding) in zip(fig.subplots(1, 3), cases):
        patches = F.unfold(ones, 3, stride=stride, padding=padding)
        counts = F.fold(patches, (5, 5), 3, stride=stride, padding=padding).numpy()[0, 0]
        show_grid(ax, counts, f"stride {stride}, padding {padding}", cmap="Oranges")
    fig.suptitle("fold(unfold(ones)), 3×3 kernel on 5×5: the number of windows covering "
                 "each pixel,\nso the number of gradient contributions fold adds up there",
                 fontsize=11)
    fig.tight_layout()
    return fig


def backward_stages():
    """Forward and backward of conv → ReLU → 2×2 max-pool, one stage at a time.

    Each stage's output is copied into a fresh leaf, so its gradient is kept
    and can be handed to the stage before: the chain rule, stage by stage.
    """
    x = minigrad.tensor(IMAGE[None, None], requires_grad=True)
    conv = F.conv2d(x, minigrad.tensor(KERNEL[None, None]), padding=1)
    conv_leaf = minigrad.tensor(conv.numpy(), requires_grad=True)
    relu = F.relu(conv_leaf)
    relu_leaf = minigrad.tensor(relu.numpy(), requires_grad=True)
    pooled = F.max_pool2d(relu_leaf, 2)
    grad_pooled = np.arange(1.0, 10.0).reshape(pooled.shape)  # an upstream gradient to follow
    pooled.backward(grad_pooled)
    relu.backward(relu_leaf.grad)
    conv.backward(conv_leaf.grad)
    values = [x.numpy(), conv.numpy(), relu.numpy(), pooled.numpy()]
    grads = [x.grad, conv_leaf.grad, relu_leaf.grad, grad_pooled]
    return [v[0, 0] for v in values], [g[0, 0] for g in grads]


def backward_figure():
    """Values (top) and gradients (bottom) through conv → ReLU → max-pool."""
    values, grads = backward_stages()
    names = ["x", "c = conv2d(x, w, padding=1)", "r = relu(c)", "p = max_pool2d(r, 2)"]
    grad_names = ["dx = fold(W'ᵀ dc')", "dc = dr where c > 0", "dr = dp at each argmax",
                  "dp (given)"]
    fig = Figure(figsize=(13.0, 7.6), layout="constrained")
    fig.get_layout_engine().set(wspace=0.12, hspace=0.08)
    axes = fig.subplots(2, 4)
    for col in range(4):
        show_grid(axes[0, col], values[col], names[col], cmap="PRGn", center=True)
        show_grid(axes[1, col], grads[col], grad_names[col], cmap="RdBu", center=True)
    for ax in (axes[0, 2], axes[1, 2]):  # the pooling windows
        for row in range(0, 6, 2):
            for col in range(0, 6, 2):
                outline(ax, row, col, 2, 2, "#888888", linewidth=1.2)
    for (row, col), grad in np.ndenumerate(grads[2]):
        if grad:
            outline(axes[0, 2], row, col, 1, 1, "#e6550d", inset=0.08)  # the argmax of its window
    arrow = dict(coordsA="axes fraction", coordsB="axes fraction", arrowstyle="-|>",
                 mutation_scale=18)
    for col in range(3):  # between neighbouring panels: forward on top, backward below
        fig.add_artist(ConnectionPatch((1.04, 0.5), (-0.04, 0.5), axesA=axes[0, col],
                                       axesB=axes[0, col + 1], color="#444444", **arrow))
        fig.add_artist(ConnectionPatch((-0.04, 0.5), (1.04, 0.5), axesA=axes[1, col + 1],
                                       axesB=axes[1, col], color="#b2182b", **arrow))
    fig.suptitle("Forward (top, left to right) and backward (bottom, right to left) through "
                 "conv 3×3 → ReLU → max-pool 2×2\nw = [[1, 0, −1], [2, 0, −2], [1, 0, −1]]; "
                 "orange boxes: each window's argmax, where max-pool sends the gradient",
                 fontsize=11)
    return fig


FIGURES = {"unfold.png": unfold_figure, "overlaps.png": overlaps_figure,
           "backward.png": backward_figure}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="folder for the figures (default: docs/, next to this script)")
    args = parser.parse_args(argv)
    if not args.out.is_dir():
        parser.error(f"--out {args.out}: no such folder")
    for name, make in FIGURES.items():
        with atomic_write(args.out / name) as f:
            make().savefig(f, format="png", dpi=110)
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
