"""Comparisons and argmax: ops whose outputs are truth values or positions. A step
function has derivative 0 wherever it has one, so these ops record nothing on the tape
(``differentiable = False``): their outputs are constants, as in PyTorch."""
import operator

from minigrad.autograd import Function
from minigrad.backend import get_array_module
from minigrad.checks import dim_index

__all__ = ["argmax", "argmin", "eq", "ge", "gt", "le", "lt", "ne"]


class Comparison(Function):
    """y = [a ∘ b] (bool), ∘ one of == != < <= > >=.   No gradient: y is a step function."""

    differentiable = False

    def forward(self, a, b, relation):
        return relation(a, b)


class ArgMax(Function):
    """y = the index of the first maximum (``smallest``: minimum) along ``dim``, int64;
    with dim None, an index into the flattened tensor.   No gradient: y is a position."""

    differentiable = False

    def forward(self, x, dim, keepdim, smallest):
        xp = get_array_module(x)
        find = x.argmin if smallest else x.argmax
        if dim is None:
            y = xp.asarray(find())
            return y.reshape((1,) * x.ndim) if keepdim else y
        y = find(axis=dim)
        return xp.expand_dims(y, dim) if keepdim else y


def eq(a, b):
    return Comparison.apply(a, b, relation=operator.eq)


def ne(a, b):
    return Comparison.apply(a, b, relation=operator.ne)


def lt(a, b):
    return Comparison.apply(a, b, relation=operator.lt)


def le(a, b):
    return Comparison.apply(a, b, relation=operator.le)


def gt(a, b):
    return Comparison.apply(a, b, relation=operator.gt)


def ge(a, b):
    return Comparison.apply(a, b, relation=operator.ge)


def argmax(x, dim=None, keepdim=False):
    """The position of the first largest element along ``dim`` (of all elements if None)."""
    dim = None if dim is None or x.ndim == 0 else dim_index("argmax", dim, x.ndim)
    return ArgMax.apply(x, dim=dim, keepdim=keepdim, smallest=False)


def argmin(x, dim=None, keepdim=False):
    """The position of the first smallest element along ``dim`` (of all elements if None)."""
    dim = None if dim is None or x.ndim == 0 else dim_index("argmin", dim, x.ndim)
    return ArgMax.apply(x, dim=dim, keepdim=keepdim, smallest=True)
