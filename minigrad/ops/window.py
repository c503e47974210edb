"""Window geometry for conv, unfold/fold and pooling.

Along one axis of size n, a kernel of k taps with dilation d spans d·(k − 1) + 1
pixels; moved by stride s over the input padded by p on both sides, it fits at
out = ⌊(n + 2·p − d·(k − 1) − 1) / s⌋ + 1 positions (PyTorch's formula).
Tap i of the window at output position o reads padded pixel o·s + i·d.
"""
from collections import namedtuple

from minigrad.autograd import ShapeError
from minigrad.checks import pair

__all__ = ["Window", "make_window", "output_size", "taps"]

Window = namedtuple("Window", ["kernel", "stride", "padding", "dilation", "out_size"])
Window.__doc__ = """A checked 2-D window geometry: every field a (height, width) pair of ints."""


def output_size(size, kernel, stride=1, padding=0, dilation=1):
    """⌊(size + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1 for one axis."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def make_window(op, size, kernel_size, stride, padding=0, dilation=1):
    """The checked :class:`Window` on an input of spatial ``size`` (H, W); a ShapeError
    names ``op`` and the argument when a value is not an int or pair, is too small, or
    the dilated kernel does not fit in the padded input."""
    kernel = pair(kernel_size, "kernel_size", op)
    stride = pair(stride, "stride", op)
    padding = pair(padding, "padding", op)
    dilation = pair(dilation, "dilation", op)
    for name, values, least in (("kernel_size", kernel, 1), ("stride", stride, 1),
                                ("padding", padding, 0), ("dilation", dilation, 1)):
        if min(values) < least:
            raise ShapeError(f"{op}: {name} must be ≥ {least}, got {values}")
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    padded = tuple(n + 2 * p for n, p in zip(size, padding))
    if span[0] > padded[0] or span[1] > padded[1]:
        raise ShapeError(f"{op}: the kernel spans {span}, more than the padded input {padded} "
                         f"(input {tuple(size)}, padding {padding}, dilation {dilation})")
    out = tuple(output_size(n, k, s, p, d)
                for n, k, s, p, d in zip(size, kernel, stride, padding, dilation))
    return Window(kernel, stride, padding, dilation, out)


def taps(window):
    """For each kernel tap (i, j), row-major: the row and column slices of the padded
    image it reads, rows r·sh + i·dh and columns s·sw + j·dw for every output (r, s)."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = window.kernel, window.stride, window.dilation, window.out_size
    slices = []
    for i in range(kh):
        for j in range(kw):
            slices.append((slice(i * dh, i * dh + sh * (oh - 1) + 1, sh),
                           slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)))
    return slices
