"""Window geometry: where a kernel sits on an image, for conv, unfold/fold and pooling.

Along one axis of size n, a kernel of k taps with dilation d spans
d·(k − 1) + 1 pixels; moved by the stride s over the input padded by p on
both sides, it fits at ::

    out = ⌊(n + 2·p − d·(k − 1) − 1) / s⌋ + 1

positions (PyTorch's formula; with d = 1 it is ⌊(n + 2p − k) / s⌋ + 1).
Tap i of the window at output position o reads padded pixel o·s + i·d.
"""
from collections import namedtuple

from minigrad.tensor import ShapeError

__all__ = ["Window", "output_size", "pair", "window"]

Window = namedtuple("Window", ["kernel", "stride", "padding", "dilation", "out_size"])
Window.__doc__ = """A checked 2-D window geometry: every field a (height, width) pair of ints."""


def pair(value, name, op="minigrad"):
    """An int or a pair of ints, as a pair; ``name`` and ``op`` go into the error."""
    if isinstance(value, bool):
        raise ShapeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if isinstance(value, int):
        return (value, value)
    try:
        result = tuple(value)
    except TypeError:
        result = None
    if (result is None or len(result) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in result)):
        raise ShapeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    return result


def output_size(size, kernel, stride=1, padding=0, dilation=1):
    """⌊(size + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1 for one axis."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def window(op, size, kernel_size, stride, padding=0, dilation=1):
    """Check a window on an input of spatial ``size`` (H, W); return a :class:`Window`.

    Raises ShapeError naming ``op`` and the argument when a value is not an
    int or pair, kernel/stride/dilation < 1, padding < 0, or the (dilated)
    kernel does not fit in the padded input.
    """
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
