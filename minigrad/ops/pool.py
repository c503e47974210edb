"""Pooling: max and average over sliding windows, adaptive and global pooling.

x (N, C, H, W) → y (N, C, OH, OW); xpad is x padded with −∞ (max) or 0 (average).
Tap (i, j) of every window at once is one strided slice of xpad (window.taps), so
a pooling op loops over the KH·KW taps on whole arrays, and its backward adds each
tap's gradient back through the same slice. Max pooling sends the gradient to the
first maximum in row-major window order, as PyTorch. Adaptive windows need not be
equal, so adaptive pooling loops over output cells instead.
"""
import functools

import numpy as np

from minigrad import backend
from minigrad.autograd import Function, ShapeError
from minigrad.backend import get_array_module
from minigrad.checks import adaptive_size, pair
from minigrad.ops.shape import reshape
from minigrad.ops.window import make_window, taps

__all__ = [
    "AdaptiveAvgPooling", "AdaptiveMaxPooling", "AvgPooling", "MaxPooling",
    "adaptive_avg_pool2d", "adaptive_max_pool2d", "adaptive_windows", "avg_pool2d",
    "global_avg_pool2d", "global_max_pool2d", "max_pool2d", "pool_window",
]


def _padded_shape(shape, window):
    """The shape of xpad: ``padding`` before, and after as much as the last window reads
    (with ceil_mode it may read past the padding; without, it may stop short)."""
    sizes = []
    for axis in range(2):
        k, s, p, d, out = (field[axis] for field in window)
        sizes.append(max(shape[2 + axis] + p, (out - 1) * s + d * (k - 1) + 1))
    return shape[:2] + tuple(sizes)


def _pad(x, window, fill):
    """xpad: x in a frame of ``fill`` (x itself when no window reads outside it)."""
    xp = get_array_module(x)
    shape = _padded_shape(x.shape, window)
    (ph, pw), (h, w) = window.padding, x.shape[2:]
    if shape == x.shape and ph == pw == 0:
        return x
    xpad = xp.empty_like(x, shape=shape)  # in x's memory order (conv2d's: batch last)
    xpad.fill(fill)
    xpad[:, :, ph:ph + h, pw:pw + w] = x
    return xpad


def _crop(grad_pad, window, shape):
    """The inverse of :func:`_pad` for gradients: the part of xpad that is x."""
    (ph, pw), (h, w) = window.padding, shape[2:]
    return grad_pad[:, :, ph:ph + h, pw:pw + w]


# ----- max and average pooling ---------------------------------------------------------------

def _window_max(xpad, window):
    """(the maximum of each window, the tap that holds it): one pass per tap.

    Tap k takes over only where it is strictly larger, so the first maximum wins a
    tie; the winner is the last (largest) k that took over.
    """
    xp = get_array_module(xpad)
    slices = taps(window)
    best = xpad[:, :, slices[0][0], slices[0][1]].copy(order="K")
    winner = xp.zeros_like(best, dtype=xp.uint8 if len(slices) <= 256 else xp.int32)
    for k in range(1, len(slices)):
        rows, cols = slices[k]
        candidate = xpad[:, :, rows, cols]
        took_over = candidate > best
        xp.maximum(best, candidate, out=best)
        xp.maximum(winner, xp.multiply(took_over, k, dtype=winner.dtype), out=winner)
    return best, winner


class MaxPooling(Function):
    """y = max of xpad over each window.   dx = dy at the window's argmax, 0 elsewhere."""

    def forward(self, x, window):
        self.x_shape, self.window = x.shape, window
        best, self.winner = _window_max(_pad(x, window, -np.inf), window)
        return best

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        grad_pad = xp.zeros_like(grad_out, shape=_padded_shape(self.x_shape, self.window))
        for k, (rows, cols) in enumerate(taps(self.window)):
            grad_pad[:, :, rows, cols] += grad_out * (self.winner == k)
        return (_crop(grad_pad, self.window, self.x_shape),)


class AvgPooling(Function):
    """y = (sum of xpad over each window) / divisor.   dx = dy / divisor at every tap."""

    def forward(self, x, window, divisor):
        self.x_shape, self.window, self.divisor = x.shape, window, divisor
        xpad = _pad(x, window, 0)
        slices = taps(window)
        total = xpad[:, :, slices[0][0], slices[0][1]].copy(order="K")
        for rows, cols in slices[1:]:
            total += xpad[:, :, rows, cols]
        return total / divisor

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        grad_tap = grad_out / self.divisor
        grad_pad = xp.zeros_like(grad_out, shape=_padded_shape(self.x_shape, self.window))
        for rows, cols in taps(self.window):
            grad_pad[:, :, rows, cols] += grad_tap
        return (_crop(grad_pad, self.window, self.x_shape),)


def _avg_divisor(size, window, count_include_pad):
    """(OH, OW) host array: how many pixels each window averages, PyTorch's way: each
    window clipped to the padded input, and without ``count_include_pad`` to the input."""
    counts = []
    for n, k, s, p, out in zip(size, window.kernel, window.stride, window.padding,
                               window.out_size):
        start = np.arange(out) * s - p
        end = np.minimum(start + k, n + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, n)
        counts.append(end - start)
    return np.outer(counts[0], counts[1])


# ----- adaptive pooling ----------------------------------------------------------------------

def adaptive_windows(size, out):
    """PyTorch's adaptive windows along one axis: window i covers
    [⌊i·size/out⌋, ⌈(i + 1)·size/out⌉); neighbours may overlap by a pixel."""
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def _adaptive_cells(in_size, out_size):
    """((i, j), row slice, column slice) of every output cell, row-major."""
    rows, cols = (adaptive_windows(n, out) for n, out in zip(in_size, out_size))
    return [((i, j), slice(*rows[i]), slice(*cols[j]))
            for i in range(out_size[0]) for j in range(out_size[1])]


def _adaptive_max(x, out_size):
    """(the maximum of each cell, its flat index h·W + w in the input plane); ``argmax``
    takes the first maximum in row-major order, as PyTorch."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    y = xp.empty((n, c) + out_size, dtype=x.dtype)
    indices = xp.empty((n, c) + out_size, dtype=xp.int64)
    for (i, j), rows, cols in _adaptive_cells((h, w), out_size):
        width = cols.stop - cols.start
        cell = x[:, :, rows, cols].reshape(n, c, (rows.stop - rows.start) * width)
        winner = cell.argmax(axis=2)
        y[:, :, i, j] = xp.take_along_axis(cell, winner[:, :, None], axis=2)[:, :, 0]
        indices[:, :, i, j] = (rows.start + winner // width) * w + cols.start + winner % width
    return y, indices


class AdaptiveMaxPooling(Function):
    """y[n, c, i, j] = max of x[n, c] over cell (i, j).   dx = dy at the cell's argmax."""

    def forward(self, x, out_size):
        self.x_shape, self.out_size = x.shape, out_size
        y, self.indices = _adaptive_max(x, out_size)
        return y

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        h, w = self.x_shape[2:]
        grad_x = xp.zeros(self.x_shape, dtype=grad_out.dtype)
        plane = xp.arange(h * w).reshape(h, w)         # each pixel's flat index
        for (i, j), rows, cols in _adaptive_cells((h, w), self.out_size):
            is_winner = plane[rows, cols] == self.indices[:, :, i, j, None, None]
            grad_x[:, :, rows, cols] += is_winner * grad_out[:, :, i, j, None, None]
        return (grad_x,)


class AdaptiveAvgPooling(Function):
    """y[n, c, i, j] = mean of x[n, c] over cell (i, j).   dx = dy / (cell size) on the cell."""

    def forward(self, x, out_size):
        xp = get_array_module(x)
        self.x_shape, self.out_size = x.shape, out_size
        y = xp.empty(x.shape[:2] + out_size, dtype=x.dtype)
        for (i, j), rows, cols in _adaptive_cells(x.shape[2:], out_size):
            y[:, :, i, j] = x[:, :, rows, cols].mean(axis=(2, 3))
        return y

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        grad_x = xp.zeros(self.x_shape, dtype=grad_out.dtype)
        for (i, j), rows, cols in _adaptive_cells(self.x_shape[2:], self.out_size):
            size = (rows.stop - rows.start) * (cols.stop - cols.start)
            grad_x[:, :, rows, cols] += grad_out[:, :, i, j, None, None] / size
        return (grad_x,)


# ----- the functions users call --------------------------------------------------------------

def pool_window(op, size, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """The checked Window of a pooling, by PyTorch's rules: ``stride`` defaults to the
    kernel (also when empty), ``padding`` is at most half the kernel; ``ceil_mode`` rounds
    the output size up, but the last window must start inside the input or the left padding."""
    stride = kernel_size if stride is None or stride == () or stride == [] else stride
    if not ceil_mode:
        window = make_window(op, size, kernel_size, stride, padding, dilation)
    else:
        # ⌈a / s⌉ = ⌊(a + s − 1) / s⌋: the floor-mode size of an input s − 1 pixels larger.
        steps = pair(stride, "stride", op)
        grown = (size[0] + steps[0] - 1, size[1] + steps[1] - 1)
        try:
            window = make_window(op, grown, kernel_size, stride, padding, dilation)
        except ShapeError as error:
            raise ShapeError(f"{error}; with ceil_mode=True the input counts stride − 1 "
                             f"more pixels (input {tuple(size)})") from None
        out_size = tuple(o - 1 if (o - 1) * s >= n + p else o for o, s, n, p in
                         zip(window.out_size, window.stride, size, window.padding))
        window = window._replace(out_size=out_size)
    if any(2 * p > k for p, k in zip(window.padding, window.kernel)):
        raise ShapeError(f"{op}: padding must be at most half the kernel_size, got padding "
                         f"{window.padding} for kernel_size {window.kernel}")
    return window


def _accepts_unbatched(pool):
    """Check ``pool``'s input, and let it take an unbatched (C, H, W) one as a batch of one."""

    @functools.wraps(pool)
    def checked(x, *args, **kwargs):
        if x.ndim not in (3, 4) or 0 in x.shape[-3:]:
            raise ShapeError(f"{pool.__name__}: expected a (C, H, W) or (N, C, H, W) input "
                             f"with C, H, W ≥ 1, got shape {x.shape}")
        if x.ndim == 4:
            return pool(x, *args, **kwargs)
        result = pool(reshape(x, 1, *x.shape), *args, **kwargs)
        if isinstance(result, tuple):   # (output, indices); the indices take no gradient
            output, indices = result
            return reshape(output, *output.shape[1:]), indices.wrap(indices.data[0])
        return reshape(result, *result.shape[1:])
    return checked


def _flat_indices(winner, window, width):
    """PyTorch's ``return_indices``: each window's argmax as h·W + w in its input plane."""
    xp = get_array_module(winner)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = window
    winner = winner.astype(xp.int64)
    rows = xp.arange(oh).reshape(oh, 1) * sh - ph + (winner // kw) * dh
    cols = xp.arange(ow) * sw - pw + (winner % kw) * dw
    return rows * width + cols


@_accepts_unbatched
def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over sliding windows, with PyTorch's arguments; with ``return_indices``, also
    each maximum's flat index h·W + w in its input plane."""
    window = pool_window("max_pool2d", x.shape[2:], kernel_size, stride, padding, dilation,
                           ceil_mode)
    y = MaxPooling.apply(x, window=window)
    if not return_indices:
        return y
    # A Function returns one array: the indices are a second pass over the same taps.
    _, winner = _window_max(_pad(x.data, window, -np.inf), window)
    return y, x.wrap(_flat_indices(winner, window, x.shape[3]))


@_accepts_unbatched
def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over sliding windows, zero padding, with PyTorch's arguments and divisors."""
    window = pool_window("avg_pool2d", x.shape[2:], kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is None:
        divisor = _avg_divisor(x.shape[2:], window, count_include_pad)
    elif (isinstance(divisor_override, bool) or not isinstance(divisor_override, int)
          or divisor_override == 0):
        raise ValueError(f"avg_pool2d: divisor_override must be a non-zero int, "
                         f"got {divisor_override!r}")
    else:
        divisor = np.full(window.out_size, divisor_override)
    divisor = backend.to_device(divisor.astype(x.dtype), x.device)
    return AvgPooling.apply(x, window=window, divisor=divisor)


@_accepts_unbatched
def adaptive_max_pool2d(x, output_size, return_indices=False):
    """Max over PyTorch's adaptive windows: (N, C, *output_size) from any input size;
    ``return_indices`` as in :func:`max_pool2d`."""
    out_size = adaptive_size("adaptive_max_pool2d", output_size, x.shape[2:])
    y = AdaptiveMaxPooling.apply(x, out_size=out_size)
    if not return_indices:
        return y
    # A Function returns one array: the indices are a second pass over the cells.
    return y, x.wrap(_adaptive_max(x.data, out_size)[1])


@_accepts_unbatched
def adaptive_avg_pool2d(x, output_size):
    """Mean over PyTorch's adaptive windows: (N, C, *output_size) from any input size."""
    out_size = adaptive_size("adaptive_avg_pool2d", output_size, x.shape[2:])
    return AdaptiveAvgPooling.apply(x, out_size=out_size)


@_accepts_unbatched
def global_max_pool2d(x):
    """(N, C, H, W) → (N, C): the maximum of each channel, adaptive_max_pool2d(x, 1)."""
    return reshape(adaptive_max_pool2d(x, 1), *x.shape[:2])


@_accepts_unbatched
def global_avg_pool2d(x):
    """(N, C, H, W) → (N, C): the mean of each channel, adaptive_avg_pool2d(x, 1)."""
    return reshape(adaptive_avg_pool2d(x, 1), *x.shape[:2])
