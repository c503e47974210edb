"""Naive convolution, unfold and fold, written to be read, not to be fast.

These are the definitions the fast versions in ``minigrad.ops.conv`` must
agree with; the tests use them as oracles. Plain NumPy arrays in and out,
one Python loop per index, no tricks. Arguments as PyTorch's
``conv2d``, ``unfold`` and ``fold`` take them (ints or pairs).

Notation (as in ``minigrad.ops.conv``)::

    x       (N, C, H, W)          input
    weight  (O, C/G, KH, KW)      kernels; G = groups
    xpad    x with ``ph`` zero rows above and below, ``pw`` zero columns left and right
    OH, OW  output size, from ``minigrad.ops.window``:
            OH = ⌊(H + 2·ph − dh·(KH − 1) − 1) / sh⌋ + 1, the same for OW

Kernel tap (i, j) of the window at output position (r, s) reads the padded
pixel (r·sh + i·dh, s·sw + j·dw).
"""
import numpy as np

from minigrad.ops.window import pair, window

__all__ = ["conv2d_naive", "fold_naive", "unfold_naive"]


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
    win = window("conv2d_naive", (height, width), (kh, kw), stride, padding, dilation)
    (sh, sw), (dh, dw), (oh, ow) = win.stride, win.dilation, win.out_size
    xpad = _zero_pad(x, win.padding)
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
    win = window("unfold_naive", (height, width), kernel_size, stride, padding, dilation)
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = win.kernel, win.stride, win.dilation, win.out_size
    xpad = _zero_pad(x, win.padding)

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
    win = window("fold_naive", (height, width), kernel_size, stride, padding, dilation)
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = win.kernel, win.stride, win.dilation, win.out_size
    (ph, pw), n_images = win.padding, cols.shape[0]
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
