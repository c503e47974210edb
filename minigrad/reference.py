"""Naive convolution, unfold, fold and pooling, written to be read, not to be fast.

These are the definitions the versions in ``minigrad.ops.conv`` and
``minigrad.ops.pool`` must agree with; the tests use them as oracles. Plain
NumPy arrays in and out, one Python loop per index, no tricks. Arguments as
PyTorch's ``conv2d``, ``unfold``, ``fold`` and pooling functions take them.

Notation (as in ``minigrad.ops.conv``)::

    x       (N, C, H, W)          input
    weight  (O, C/G, KH, KW)      kernels; G = groups
    xpad    x with ``ph`` zero rows above and below, ``pw`` zero columns left and right
    OH, OW  output size, from ``minigrad.ops.window``:
            OH = ⌊(H + 2·ph − dh·(KH − 1) − 1) / sh⌋ + 1, the same for OW

Kernel tap (i, j) of the window at output position (r, s) reads the padded
pixel (r·sh + i·dh, s·sw + j·dw).
"""
import math

import numpy as np

from minigrad.checks import pair
from minigrad.ops.window import make_window

__all__ = ["adaptive_pool2d_naive", "avg_pool2d_naive", "conv2d_naive", "fold_naive",
           "max_pool2d_naive", "unfold_naive"]



def _zero_pad(x, padding):
    """x (N, C, H, W) with ``ph`` zero rows above and below, ``pw`` zero columns left and right."""
    ph, pw = padding
    n, c, h, w = x.shape
    padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    padded[:, :, ph:ph + h, pw:pw + w] = x
    return padded


def conv2d_naive(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as in PyTorch) by nested loops.

    Output channel o belongs to group g = o // (O/G) and sees only that
    group's C/G input channels, g·C/G + c for c = 0 … C/G − 1. For every
    image n, output channel o and output position (r, s)::

        y[n, o, r, s] = bias[o] + Σ_c Σ_i Σ_j
                        xpad[n, g·C/G + c, r·sh + i·dh, s·sw + j·dw] · weight[o, c, i, j]

    with i over kernel rows and j over kernel columns. Returns an array
    (N, O, OH, OW) of x's dtype.
    """
    n_images, _, height, width = x.shape
    out_channels, group_channels, kh, kw = weight.shape
    window = make_window("conv2d_naive", (height, width), (kh, kw), stride, padding, dilation)
    (sh, sw), (dh, dw), (oh, ow) = window.stride, window.dilation, window.out_size
    xpad = _zero_pad(x, window.padding)
    outputs_per_group = out_channels // groups

    y = np.zeros((n_images, out_channels, oh, ow), dtype=x.dtype)
    for n in range(n_images):
        for o in range(out_channels):
            first_channel = (o // outputs_per_group) * group_channels
            for r in range(oh):
                for s in range(ow):
                    total = 0.0 if bias is None else bias[o]
                    for c in range(group_channels):
                        for i in range(kh):
                            for j in range(kw):
                                pixel = xpad[n, first_channel + c, r * sh + i * dh, s * sw + j * dw]
                                total += pixel * weight[o, c, i, j]
                    y[n, o, r, s] = total
    return y


def unfold_naive(x, kernel_size, dilation=1, padding=0, stride=1):
    """The patches of x as columns, in PyTorch's ``unfold`` layout, by nested loops.

    Returns cols (N, C·KH·KW, L) with L = OH·OW, where::

        cols[n, (c·KH + i)·KW + j, r·OW + s] = xpad[n, c, r·sh + i·dh, s·sw + j·dw]

    so a row is one (channel, kernel row, kernel column) — channel-major — and
    a column is one output position, counted row by row. Column l is exactly
    the patch that output position l of a convolution multiplies with the
    kernel: conv2d(x, w) = (w as (O, C·KH·KW)) @ cols, reshaped to (N, O, OH, OW).
    """
    n_images, channels, height, width = x.shape
    window = make_window("unfold_naive", (height, width), kernel_size, stride, padding, dilation)
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = window.kernel, window.stride, window.dilation, window.out_size
    xpad = _zero_pad(x, window.padding)

    cols = np.zeros((n_images, channels * kh * kw, oh * ow), dtype=x.dtype)
    for n in range(n_images):
        for c in range(channels):
            for i in range(kh):
                for j in range(kw):
                    row = (c * kh + i) * kw + j
                    for r in range(oh):
                        for s in range(ow):
                            cols[n, row, r * ow + s] = xpad[n, c, r * sh + i * dh, s * sw + j * dw]
    return cols


def fold_naive(cols, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """The image (N, C, H, W) that the columns (N, C·KH·KW, L) were cut from, by nested
    loops: every entry is added back onto the pixel ``unfold_naive`` copied it from::

        xpad[n, c, r·sh + i·dh, s·sw + j·dw] += cols[n, (c·KH + i)·KW + j, r·OW + s]

    Patches overlap, so a pixel collects one entry per patch it lies in. The
    padding is cut off at the end: (H, W) = ``output_size``.
    """
    height, width = pair(output_size, "output_size", "fold_naive")
    window = make_window("fold_naive", (height, width), kernel_size, stride, padding, dilation)
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = window.kernel, window.stride, window.dilation, window.out_size
    (ph, pw), n_images = window.padding, cols.shape[0]
    channels = cols.shape[1] // (kh * kw)

    xpad = np.zeros((n_images, channels, height + 2 * ph, width + 2 * pw), dtype=cols.dtype)
    for n in range(n_images):
        for c in range(channels):
            for i in range(kh):
                for j in range(kw):
                    row = (c * kh + i) * kw + j
                    for r in range(oh):
                        for s in range(ow):
                            xpad[n, c, r * sh + i * dh, s * sw + j * dw] += cols[n, row, r * ow + s]
    return xpad[:, :, ph:ph + height, pw:pw + width]


# ----- pooling ---------------------------------------------------------------------------------
#
# Windows counted one by one. Along an axis of size n (padding p, dilation d, span
# s_k = d·(k − 1) + 1 pixels), window r starts at r·stride − p and reads the pixels
# start, start + d, …; it exists while it starts inside the input or the left padding
# and ends inside the padded input — with ceil_mode it may end up to stride − 1
# pixels past it.

def _window_starts(size, kernel, stride, padding, dilation, ceil_mode):
    """The first pixel of every window along one axis (negative: in the left padding)."""
    span = dilation * (kernel - 1) + 1
    overhang = stride - 1 if ceil_mode else 0
    starts, start = [], -padding
    while start < size and start + span <= size + padding + overhang:
        starts.append(start)
        start += stride
    return starts


def _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Per axis: (start rows, kernel, dilation), (start columns, kernel, dilation)."""
    kernel = pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else pair(stride, "stride")
    padding, dilation = pair(padding, "padding"), pair(dilation, "dilation")
    return [(_window_starts(n, k, s, p, d, ceil_mode), k, d)
            for n, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation)]


def max_pool2d_naive(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Max pooling by nested loops: (y, indices) as PyTorch's max_pool2d returns them.

    Padding holds −∞. The taps of a window are read in row-major order and a
    tap wins only if strictly larger, so the first maximum wins a tie;
    ``indices`` is its flat position row·W + column in the input plane.
    """
    (rows, kh, dh), (cols, kw, dw) = _pool_geometry(x, kernel_size, stride, padding, dilation,
                                                     ceil_mode)
    n_images, channels, height, width = x.shape
    y = np.zeros((n_images, channels, len(rows), len(cols)), dtype=x.dtype)
    indices = np.zeros(y.shape, dtype=np.int64)
    for n in range(n_images):
        for c in range(channels):
            for r, top in enumerate(rows):
                for s, left in enumerate(cols):
                    best, best_index = -np.inf, -1
                    for i in range(kh):
                        for j in range(kw):
                            row, col = top + i * dh, left + j * dw
                            if 0 <= row < height and 0 <= col < width and x[n, c, row, col] > best:
                                best, best_index = x[n, c, row, col], row * width + col
                    y[n, c, r, s], indices[n, c, r, s] = best, best_index
    return y, indices


def avg_pool2d_naive(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                     count_include_pad=True, divisor_override=None):
    """Average pooling by nested loops, as PyTorch's avg_pool2d.

    The sum covers the taps inside the input (the padding holds zeros). It is
    divided by ``divisor_override`` if given, else by the number of taps inside
    the padded input (``count_include_pad``) or inside the input.
    """
    (ph, pw) = pair(padding, "padding")
    (rows, kh, _), (cols, kw, _) = _pool_geometry(x, kernel_size, stride, padding, 1, ceil_mode)
    n_images, channels, height, width = x.shape
    y = np.zeros((n_images, channels, len(rows), len(cols)), dtype=x.dtype)
    for n in range(n_images):
        for c in range(channels):
            for r, top in enumerate(rows):
                for s, left in enumerate(cols):
                    total, inside, padded = 0.0, 0, 0
                    for row in range(top, top + kh):
                        for col in range(left, left + kw):
                            if -ph <= row < height + ph and -pw <= col < width + pw:
                                padded += 1
                            if 0 <= row < height and 0 <= col < width:
                                total += x[n, c, row, col]
                                inside += 1
                    divisor = divisor_override or (padded if count_include_pad else inside)
                    y[n, c, r, s] = total / divisor
    return y


def _adaptive_bounds(size, out):
    """Window i of ``out`` along an axis of ``size``: [⌊i·size/out⌋, ⌈(i+1)·size/out⌉)."""
    return [(math.floor(i * size / out), math.ceil((i + 1) * size / out)) for i in range(out)]


def adaptive_pool2d_naive(x, output_size, kind):
    """Adaptive max (with PyTorch's flat indices) or average pooling by nested loops;
    ``kind`` is 'max' or 'avg'. Returns (y, indices); indices are None for 'avg'."""
    n_images, channels, height, width = x.shape
    rows, cols = _adaptive_bounds(height, output_size[0]), _adaptive_bounds(width, output_size[1])
    y = np.zeros((n_images, channels, len(rows), len(cols)), dtype=x.dtype)
    indices = np.zeros(y.shape, dtype=np.int64)
    for n in range(n_images):
        for c in range(channels):
            for r, (top, bottom) in enumerate(rows):
                for s, (left, right) in enumerate(cols):
                    cell = [(x[n, c, row, col], row * width + col)
                            for row in range(top, bottom) for col in range(left, right)]
                    if kind == "avg":
                        y[n, c, r, s] = sum(value for value, _ in cell) / len(cell)
                        continue
                    best, best_index = cell[0]
                    for value, index in cell[1:]:
                        if value > best:
                            best, best_index = value, index
                    y[n, c, r, s], indices[n, c, r, s] = best, best_index
    return y, (indices if kind == "max" else None)
