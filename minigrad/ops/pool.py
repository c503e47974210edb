"""Pooling: max_pool2d over windows, and global max / average pooling.

Max pooling remembers which window entry won (the argmax) and sends the
gradient there alone; like PyTorch, the first maximum in row-major window
order wins a tie.
"""
from minigrad.backend import get_array_module
from minigrad.ops.conv import _geometry, _pair
from minigrad.tensor import Function, ShapeError

__all__ = ["global_avg_pool2d", "global_max_pool2d", "max_pool2d"]


def _window_slices(kernel, stride, out_size):
    """For each window entry (i, j), row-major, the slices that pick it in every window."""
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_size
    return [(slice(None), slice(None), slice(i, i + sh * (oh - 1) + 1, sh),
             slice(j, j + sw * (ow - 1) + 1, sw)) for i in range(kh) for j in range(kw)]


class MaxPool2d(Function):
    """y = max of x over each KH×KW window.   dx = dy at the window's argmax, else 0.

    Overlapping windows (stride < kernel) may share an argmax; their
    gradients add up.
    """

    def forward(self, x, geometry):
        xp = get_array_module(x)
        kernel, stride, _, out_size = geometry
        self.x_shape, self.slices = x.shape, _window_slices(kernel, stride, out_size)
        candidates = xp.stack([x[s] for s in self.slices])   # (KH·KW, N, C, OH, OW)
        self.argmax = candidates.argmax(axis=0)              # first maximum wins
        return xp.take_along_axis(candidates, self.argmax[None], axis=0)[0]

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        grad_x = xp.zeros(self.x_shape, dtype=grad_out.dtype)
        for k, window_slice in enumerate(self.slices):
            grad_x[window_slice] += grad_out * (self.argmax == k)
        return (grad_x,)


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


def _check_4d(op, x):
    if x.ndim != 4:
        raise ShapeError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape}")
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise ShapeError(f"{op}: the input has no pixels (shape {x.shape})")


def max_pool2d(x, kernel_size, stride=None):
    """Max over KH×KW windows moved by ``stride`` (default: the kernel size);
    the output size is rounded down, as in PyTorch."""
    _check_4d("max_pool2d", x)
    stride = kernel_size if stride is None else stride
    kernel = _pair(kernel_size, "kernel_size")
    if x.shape[2] < kernel[0] or x.shape[3] < kernel[1]:
        raise ShapeError(f"max_pool2d: input {x.shape[2]}×{x.shape[3]} (shape {x.shape}) is "
                         f"smaller than the pooling window {kernel[0]}×{kernel[1]}")
    geometry = _geometry("max_pool2d", x.shape[2:], kernel, stride, 0)
    return MaxPool2d.apply(x, geometry=geometry)


def global_max_pool2d(x):
    """(N, C, H, W) → (N, C): the maximum of each channel, like adaptive_max_pool2d(x, 1)."""
    _check_4d("global_max_pool2d", x)
    return GlobalMaxPool2d.apply(x)


def global_avg_pool2d(x):
    """(N, C, H, W) → (N, C): the mean of each channel."""
    _check_4d("global_avg_pool2d", x)
    return GlobalAvgPool2d.apply(x)
