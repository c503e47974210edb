"""Pooling: max and average over sliding windows, adaptive and global pooling.

Notation (as in ``minigrad.ops.window``)::

    x      (N, C, H, W)    input; an unbatched (C, H, W) input is treated as N = 1
    y      (N, C, OH, OW)  output
    xpad   x with ``padding`` pixels on each side (−∞ for max, 0 for average)

Tap (i, j) of the window at output (r, s) reads xpad[r·sh + i·dh, s·sw + j·dw].
Tap (i, j) of *every* window at once is therefore one strided slice of
xpad, an (N, C, OH, OW) array; a pooling op is a loop over the KH·KW taps,
each step working on whole arrays. The backward adds each tap's gradient
back through the same slice, so overlapping windows sum.

Max pooling remembers which tap won (the argmax) and sends the gradient
there alone; like PyTorch, the first maximum in row-major window order wins
a tie. Adaptive pooling cuts H into OH windows that need not be equal (see
:func:`adaptive_windows`), so it loops over output cells instead.
"""
import functools

import numpy as np

from minigrad import backend
from minigrad.backend import get_array_module
from minigrad.ops.shape import reshape
from minigrad.ops.window import pair, window
from minigrad.tensor import Function, ShapeError, Tensor

__all__ = [
    "AdaptiveAvgPooling", "AdaptiveMaxPooling", "AvgPooling", "MaxPooling",
    "adaptive_avg_pool2d", "adaptive_max_pool2d", "adaptive_windows", "avg_pool2d",
    "global_avg_pool2d", "global_max_pool2d", "max_pool2d", "pool_window",
]


# ----- geometry ------------------------------------------------------------------------------

def pool_window(op, size, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """The checked :class:`~minigrad.ops.window.Window` of a pooling, by PyTorch's rules.

    ``stride`` defaults to the kernel size; ``padding`` is at most half the
    kernel. With ``ceil_mode`` the output size is rounded up instead of down,
    ⌈(n + 2p − d·(k − 1) − 1) / s⌉ + 1, except that the last window must
    start inside the input or the left padding; it may hang over the end.
    """
    stride = kernel_size if stride is None else stride
    if not ceil_mode:
        geometry = window(op, size, kernel_size, stride, padding, dilation)
    else:
        # ⌈a / s⌉ = ⌊(a + s − 1) / s⌋: the floor-mode size of an input s − 1 pixels larger.
        steps = pair(stride, "stride", op)
        grown = (size[0] + steps[0] - 1, size[1] + steps[1] - 1)
        try:
            geometry = window(op, grown, kernel_size, stride, padding, dilation)
        except ShapeError as error:
            raise ShapeError(f"{error}; with ceil_mode=True the input counts stride − 1 "
                             f"more pixels (input {tuple(size)})") from None
        out_size = tuple(o - 1 if (o - 1) * s >= n + p else o for o, s, n, p in
                         zip(geometry.out_size, geometry.stride, size, geometry.padding))
        geometry = geometry._replace(out_size=out_size)
    if any(2 * p > k for p, k in zip(geometry.padding, geometry.kernel)):
        raise ShapeError(f"{op}: padding must be at most half the kernel_size, got padding "
                         f"{geometry.padding} for kernel_size {geometry.kernel}")
    return geometry


def _tap_slices(geometry):
    """For each tap (i, j), row-major, the slice of xpad that holds it in every window."""
    (kh, kw), (sh, sw), _, (dh, dw), (oh, ow) = geometry
    return [(slice(None), slice(None), slice(i * dh, i * dh + sh * (oh - 1) + 1, sh),
             slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)) for i in range(kh) for j in range(kw)]


def _padded_shape(shape, geometry):
    """The shape of xpad: ``padding`` before, and after as much as the last window reads
    (with ceil_mode it may read past the padding; without, it may stop short)."""
    sizes = []
    for axis in range(2):
        k, s, p, d, out = (field[axis] for field in geometry)
        sizes.append(max(shape[2 + axis] + p, (out - 1) * s + d * (k - 1) + 1))
    return shape[:2] + tuple(sizes)


def _pad(x, geometry, fill):
    """xpad: x in a frame of ``fill`` (x itself when no window reads outside it)."""
    xp = get_array_module(x)
    shape = _padded_shape(x.shape, geometry)
    (ph, pw), (h, w) = geometry.padding, x.shape[2:]
    if shape == x.shape and ph == pw == 0:
        return x
    xpad = xp.full(shape, fill, dtype=x.dtype)
    xpad[:, :, ph:ph + h, pw:pw + w] = x
    return xpad


def _crop(grad_pad, geometry, shape):
    """The inverse of :func:`_pad` for gradients: the part of xpad that is x."""
    (ph, pw), (h, w) = geometry.padding, shape[2:]
    return grad_pad[:, :, ph:ph + h, pw:pw + w]


# ----- max and average pooling ---------------------------------------------------------------

def _window_max(xpad, geometry):
    """(the maximum of each window, the tap that holds it): one pass per tap.

    Tap k takes over from the running maximum only where it is strictly
    larger, so the first maximum in row-major window order wins a tie. The
    winner is the last tap that took over: as k grows, the largest such k.
    """
    xp = get_array_module(xpad)
    slices = _tap_slices(geometry)
    best = xpad[slices[0]].copy(order="K")
    winner = xp.zeros_like(best, dtype=xp.uint8 if len(slices) <= 256 else xp.int32)
    for k in range(1, len(slices)):
        candidate = xpad[slices[k]]
        took_over = candidate > best
        xp.maximum(best, candidate, out=best)
        xp.maximum(winner, xp.multiply(took_over, k, dtype=winner.dtype), out=winner)
    return best, winner


class MaxPooling(Function):
    """y = max of xpad over each window.   dx = dy at the window's argmax, 0 elsewhere."""

    def forward(self, x, geometry):
        self.x_shape, self.geometry = x.shape, geometry
        best, self.winner = _window_max(_pad(x, geometry, -np.inf), geometry)
        return best

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        grad_pad = xp.zeros_like(grad_out, shape=_padded_shape(self.x_shape, self.geometry))
        for k, tap in enumerate(_tap_slices(self.geometry)):
            grad_pad[tap] += grad_out * (self.winner == k)
        return (_crop(grad_pad, self.geometry, self.x_shape),)


class AvgPooling(Function):
    """y = (sum of xpad over each window) / divisor.   dx = dy / divisor at every tap."""

    def forward(self, x, geometry, divisor):
        self.x_shape, self.geometry, self.divisor = x.shape, geometry, divisor
        xpad = _pad(x, geometry, 0)
        slices = _tap_slices(geometry)
        total = xpad[slices[0]].copy(order="K")
        for tap in slices[1:]:
            total += xpad[tap]
        return total / divisor

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        grad_tap = grad_out / self.divisor
        grad_pad = xp.zeros_like(grad_out, shape=_padded_shape(self.x_shape, self.geometry))
        for tap in _tap_slices(self.geometry):
            grad_pad[tap] += grad_tap
        return (_crop(grad_pad, self.geometry, self.x_shape),)


def _avg_divisor(size, geometry, count_include_pad):
    """(OH, OW) host array: how many pixels each window averages, PyTorch's way.

    A window is first clipped to the padded input (only ceil_mode's last
    window sticks out); without ``count_include_pad`` also to the input.
    """
    counts = []
    for n, k, s, p, out in zip(size, geometry.kernel, geometry.stride, geometry.padding,
                               geometry.out_size):
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
    """(the maximum of each cell, its flat index h·W + w in the input plane).

    Within a cell, ``argmax`` takes the first maximum in row-major order, as PyTorch.
    """
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
            return reshape(output, *output.shape[1:]), Tensor(indices.data[0], dtype=np.int64)
        return reshape(result, *result.shape[1:])
    return checked


def _flat_indices(winner, geometry, width):
    """PyTorch's ``return_indices``: each window's argmax as h·W + w in its input plane."""
    xp = get_array_module(winner)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = geometry
    winner = winner.astype(xp.int64)
    rows = xp.arange(oh).reshape(oh, 1) * sh - ph + (winner // kw) * dh
    cols = xp.arange(ow) * sw - pw + (winner % kw) * dw
    return rows * width + cols


@_accepts_unbatched
def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over KH×KW windows moved by ``stride`` (default: the kernel size), with
    PyTorch's arguments and semantics; with ``return_indices``, (output, indices)
    where indices are each maximum's flat index h·W + w in its input plane."""
    geometry = pool_window("max_pool2d", x.shape[2:], kernel_size, stride, padding, dilation,
                           ceil_mode)
    y = MaxPooling.apply(x, geometry=geometry)
    if not return_indices:
        return y
    # A Function returns one array: the indices are a second pass over the same taps.
    _, winner = _window_max(_pad(x.data, geometry, -np.inf), geometry)
    return y, Tensor(_flat_indices(winner, geometry, x.shape[3]), dtype=np.int64)


@_accepts_unbatched
def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over KH×KW windows moved by ``stride`` (default: the kernel size), zero
    padding; PyTorch's arguments and semantics, including which pixels count."""
    geometry = pool_window("avg_pool2d", x.shape[2:], kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is None:
        divisor = _avg_divisor(x.shape[2:], geometry, count_include_pad)
    elif (isinstance(divisor_override, bool) or not isinstance(divisor_override, int)
          or divisor_override == 0):
        raise ValueError(f"avg_pool2d: divisor_override must be a non-zero int, "
                         f"got {divisor_override!r}")
    else:
        divisor = np.full(geometry.out_size, divisor_override)
    divisor = backend.to_device(divisor.astype(x.dtype), x.device)
    return AvgPooling.apply(x, geometry=geometry, divisor=divisor)


def _adaptive_size(op, output_size, in_size):
    """``output_size`` (an int, or a pair whose None entries keep the input's size) as a pair."""
    sizes = (output_size, output_size) if isinstance(output_size, int) else output_size
    try:
        sizes = tuple(n if o is None else o for o, n in zip(sizes, in_size, strict=True))
    except (TypeError, ValueError):
        sizes = None
    if sizes is None or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0
                                for o in sizes):
        raise ShapeError(f"{op}: output_size must be an int ≥ 0 or a pair of them "
                         f"(None keeps the input's size), got {output_size!r}")
    return sizes


@_accepts_unbatched
def adaptive_max_pool2d(x, output_size, return_indices=False):
    """Max over PyTorch's adaptive windows: (N, C, *output_size) from any input size;
    with ``return_indices``, also each maximum's flat index h·W + w in its plane."""
    out_size = _adaptive_size("adaptive_max_pool2d", output_size, x.shape[2:])
    y = AdaptiveMaxPooling.apply(x, out_size=out_size)
    if not return_indices:
        return y
    # A Function returns one array: the indices are a second pass over the cells.
    return y, Tensor(_adaptive_max(x.data, out_size)[1], dtype=np.int64)


@_accepts_unbatched
def adaptive_avg_pool2d(x, output_size):
    """Mean over PyTorch's adaptive windows: (N, C, *output_size) from any input size."""
    out_size = _adaptive_size("adaptive_avg_pool2d", output_size, x.shape[2:])
    return AdaptiveAvgPooling.apply(x, out_size=out_size)


@_accepts_unbatched
def global_max_pool2d(x):
    """(N, C, H, W) → (N, C): the maximum of each channel, adaptive_max_pool2d(x, 1)."""
    return reshape(adaptive_max_pool2d(x, 1), *x.shape[:2])


@_accepts_unbatched
def global_avg_pool2d(x):
    """(N, C, H, W) → (N, C): the mean of each channel, adaptive_avg_pool2d(x, 1)."""
    return reshape(adaptive_avg_pool2d(x, 1), *x.shape[:2])
