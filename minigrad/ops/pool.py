"""Pooling: max_pool2d over windows, and global max / average pooling.

Max pooling remembers which window entry won (the argmax) and sends the
gradient there alone; like PyTorch, the first maximum in row-major window
order wins a tie.
"""
from minigrad.backend import get_array_module
from minigrad.ops.conv import _check_4d, _geometry, _pair
from minigrad.tensor import Function, ShapeError

__all__ = ["global_avg_pool2d", "global_max_pool2d", "max_pool2d"]


def _window_slices(kernel, stride, out_size):
    """For each window entry (i, j), row-major, the slices that pick it in every window."""
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_size
    return [(slice(None), slice(None), slice(i, i + sh * (oh - 1) + 1, sh),
             slice(j, j + sw * (ow - 1) + 1, sw)) for i in range(kh) for j in range(kw)]


class MaxPool2d(Function):
    """y = max of x over each KH×KW window.   dx = dy at the window's argmax, else 0.

    The windows are scanned one entry at a time, in row-major order: each
    entry's slice (that entry of every window at once) replaces the running
    maximum only where it is strictly larger, so the first maximum wins a
    tie. ``winner`` records which entry won (a small integer per output).
    Overlapping windows (stride < kernel) may share an argmax; their
    gradients add up.
    """

    def forward(self, x, geometry):
        xp = get_array_module(x)
        kernel, stride, _, out_size = geometry
        self.x_shape, self.slices = x.shape, _window_slices(kernel, stride, out_size)
        best = x[self.slices[0]].copy()
        self.winner = xp.zeros(best.shape, dtype=xp.uint8 if len(self.slices) < 256 else xp.int32)
        for k, window_slice in enumerate(self.slices[1:], start=1):
            candidate = x[window_slice]
            larger = candidate > best
            xp.copyto(best, candidate, where=larger)
            xp.copyto(self.winner, k, where=larger)
        return best

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        grad_x = xp.zeros(self.x_shape, dtype=grad_out.dtype)
        for k, window_slice in enumerate(self.slices):
            grad_x[window_slice] += grad_out * (self.winner == k)
        return (grad_x,)


def _channel_major(x):
    """True when x (N, C, H, W) is a view of a contiguous (C, N, H, W) array, as
    conv2d returns it: then pooling works in that order and stays in it."""
    return not x.flags.c_contiguous and x.transpose(1, 0, 2, 3).flags.c_contiguous


class MaxPool2x2(Function):
    """max_pool2d with a 2×2 window and stride 2, the networks' case, made fast.

    Same math as MaxPool2d, arranged for NumPy. Flatten x; the even and odd
    elements are the left and right entries of every window row, so one
    long comparison per pair finds the row winners (``right`` marks where
    the right entry is strictly larger). Each pair of image rows now holds
    OW top-row maxima followed by OW bottom-row maxima, and a second
    comparison picks between them (``bottom``). Strict comparisons keep the
    first maximum on a tie, as PyTorch does. Odd sizes: the last row or
    column, which no window reaches, is cropped first. The flattening
    follows x's memory order, (N, C) or (C, N) planes; the result keeps it.
    """

    def forward(self, x):
        xp = get_array_module(x)
        self.x_shape, self.swap = x.shape, _channel_major(x)
        if self.swap:
            x = x.transpose(1, 0, 2, 3)
        a, b, h, w = x.shape
        oh, ow = h // 2, w // 2
        flat = xp.ascontiguousarray(x[:, :, :2 * oh, :2 * ow]).reshape(-1)
        left, right = flat[0::2], flat[1::2]
        self.right = right > left
        row_max = xp.maximum(left, right).reshape(-1, 2, ow)
        top, bottom = row_max[:, 0], row_max[:, 1]
        self.bottom = bottom > top
        y = xp.maximum(top, bottom).reshape(a, b, oh, ow)
        return y.transpose(1, 0, 2, 3) if self.swap else y

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        if self.swap:
            grad_out = grad_out.transpose(1, 0, 2, 3)
        a, b, oh, ow = grad_out.shape
        grad = grad_out.reshape(-1, ow)
        row_grad = xp.empty((grad.shape[0], 2, ow), dtype=grad.dtype)
        row_grad[:, 0] = grad * ~self.bottom     # (multiplying by a mask beats
        row_grad[:, 1] = grad * self.bottom      #  `where` in NumPy)
        row_grad = row_grad.reshape(-1)
        grad_x = xp.empty((a, b, 2 * oh, 2 * ow), dtype=grad.dtype)
        flat = grad_x.reshape(-1)
        flat[0::2] = row_grad * ~self.right
        flat[1::2] = row_grad * self.right
        h, w = self.x_shape[2:]
        if (h, w) != (2 * oh, 2 * ow):
            padded = xp.zeros((a, b, h, w), dtype=grad.dtype)
            padded[:, :, :2 * oh, :2 * ow] = grad_x
            grad_x = padded
        return (grad_x.transpose(1, 0, 2, 3) if self.swap else grad_x,)


class GlobalMaxPool2d(Function):
    """y[n, c] = max over h, w of x[n, c].   dx = dy at one argmax (the first), else 0."""

    def forward(self, x):
        xp = get_array_module(x)
        n, c, h, w = self.x_shape = x.shape
        flat = x.reshape(n, c, h * w)
        self.argmax = flat.argmax(axis=2)
        return xp.take_along_axis(flat, self.argmax[..., None], axis=2)[..., 0]

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        n, c, h, w = self.x_shape
        winner = xp.arange(h * w) == self.argmax[..., None]     # (N, C, H·W)
        return ((winner * grad_out[..., None]).reshape(self.x_shape),)


class GlobalAvgPool2d(Function):
    """y[n, c] = mean over h, w of x[n, c].   dx = dy / (H·W) everywhere."""

    def forward(self, x):
        self.x_shape = x.shape
        return x.mean(axis=(2, 3))

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        n, c, h, w = self.x_shape
        grad = grad_out.reshape(n, c, 1, 1) / (h * w)
        return (xp.broadcast_to(grad, self.x_shape),)


def _check_image(op, x):
    """A 4-D input with at least one pixel per channel."""
    _check_4d(op, x)
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise ShapeError(f"{op}: the input has no pixels (shape {x.shape})")


def max_pool2d(x, kernel_size, stride=None):
    """Max over KH×KW windows moved by ``stride`` (default: the kernel size);
    the output size is rounded down, as in PyTorch."""
    _check_image("max_pool2d", x)
    stride = kernel_size if stride is None else stride
    kernel = _pair(kernel_size, "kernel_size")
    if x.shape[2] < kernel[0] or x.shape[3] < kernel[1]:
        raise ShapeError(f"max_pool2d: input {x.shape[2]}×{x.shape[3]} (shape {x.shape}) is "
                         f"smaller than the pooling window {kernel[0]}×{kernel[1]}")
    geometry = _geometry("max_pool2d", x.shape[2:], kernel, stride, 0)
    if geometry[0] == (2, 2) and geometry[1] == (2, 2):
        return MaxPool2x2.apply(x)
    return MaxPool2d.apply(x, geometry=geometry)


def global_max_pool2d(x):
    """(N, C, H, W) → (N, C): the maximum of each channel, like adaptive_max_pool2d(x, 1)."""
    _check_image("global_max_pool2d", x)
    return GlobalMaxPool2d.apply(x)


def global_avg_pool2d(x):
    """(N, C, H, W) → (N, C): the mean of each channel."""
    _check_image("global_avg_pool2d", x)
    return GlobalAvgPool2d.apply(x)
