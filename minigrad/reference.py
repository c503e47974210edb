"""Naive convolution and unfold, written to be read, not to be fast.

These are the definitions the fast versions in ``minigrad.ops.conv`` must
agree with; the tests use them as oracles. Plain NumPy arrays in and out,
one Python loop per index, no tricks.

Notation (as in ``minigrad.ops.conv``)::

    x       (N, C, H, W)        input
    weight  (O, C, KH, KW)      kernels
    xpad    x with ``ph`` zero rows above and below, ``pw`` zero columns left and right
    OH = ⌊(H + 2·ph − KH) / sh⌋ + 1,   OW = ⌊(W + 2·pw − KW) / sw⌋ + 1
"""
import numpy as np

__all__ = ["conv2d_naive", "unfold_naive"]


def _pair(value):
    """An int, or a pair of ints, as a pair."""
    if isinstance(value, int):
        return value, value
    first, second = value
    return first, second


def _zero_pad(x, padding):
    """x (N, C, H, W) with ``ph`` zero rows above and below, ``pw`` zero columns left and right."""
    ph, pw = padding
    n, c, h, w = x.shape
    padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    padded[:, :, ph:ph + h, pw:pw + w] = x
    return padded


def _output_size(size, kernel, stride, padding):
    """⌊(size + 2·padding − kernel) / stride⌋ + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def conv2d_naive(x, weight, bias=None, stride=1, padding=0):
    """2-D convolution (cross-correlation, as in PyTorch) by nested loops.

    For every image n, output channel o and output position (r, s)::

        y[n, o, r, s] = bias[o] + Σ_c Σ_i Σ_j xpad[n, c, r·sh + i, s·sw + j] · weight[o, c, i, j]

    with c over input channels, i over kernel rows, j over kernel columns.
    Returns an array (N, O, OH, OW) of x's dtype.
    """
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    n_images, channels, height, width = x.shape
    out_channels, _, kh, kw = weight.shape
    oh = _output_size(height, kh, sh, ph)
    ow = _output_size(width, kw, sw, pw)
    xpad = _zero_pad(x, (ph, pw))

    y = np.zeros((n_images, out_channels, oh, ow), dtype=x.dtype)
    for n in range(n_images):
        for o in range(out_channels):
            for r in range(oh):
                for s in range(ow):
                    total = 0.0 if bias is None else bias[o]
                    for c in range(channels):
                        for i in range(kh):
                            for j in range(kw):
                                total += xpad[n, c, r * sh + i, s * sw + j] * weight[o, c, i, j]
                    y[n, o, r, s] = total
    return y


def unfold_naive(x, kernel_size, stride=1, padding=0):
    """The patches of x as columns, in PyTorch's ``unfold`` layout, by nested loops.

    Returns cols (N, C·KH·KW, L) with L = OH·OW, where::

        cols[n, (c·KH + i)·KW + j, r·OW + s] = xpad[n, c, r·sh + i, s·sw + j]

    so a row is one (channel, kernel row, kernel column) — channel-major — and
    a column is one output position, counted row by row. Column l is exactly
    the patch that output position l of a convolution multiplies with the
    kernel: conv2d(x, w) = (w as (O, C·KH·KW)) @ cols, reshaped to (N, O, OH, OW).
    """
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    n_images, channels, height, width = x.shape
    oh = _output_size(height, kh, sh, ph)
    ow = _output_size(width, kw, sw, pw)
    xpad = _zero_pad(x, (ph, pw))

    cols = np.zeros((n_images, channels * kh * kw, oh * ow), dtype=x.dtype)
    for n in range(n_images):
        for c in range(channels):
            for i in range(kh):
                for j in range(kw):
                    row = (c * kh + i) * kw + j
                    for r in range(oh):
                        for s in range(ow):
                            cols[n, row, r * ow + s] = xpad[n, c, r * sh + i, s * sw + j]
    return cols
