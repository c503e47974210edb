"""Reductions with PyTorch's arguments: sum, mean, amax, max. ``dim`` is an int, a tuple
of ints, or None (every dim); ``keepdim=True`` keeps each reduced dim with size 1."""
import math
from collections import namedtuple

from minigrad.autograd import Function, ShapeError, is_tensor
from minigrad.backend import get_array_module
from minigrad.checks import dim_index
from minigrad.ops.elementwise import maximum
from minigrad.ops.shape import reshape

__all__ = ["MaxResult", "amax", "max", "mean", "sum"]

MaxResult = namedtuple("MaxResult", ["values", "indices"])  # what torch.max(x, dim) returns


def _dims(op, dim, ndim):
    """``dim`` as a sorted tuple of non-negative dims (None or () means all)."""
    dims = () if dim is None else (dim,) if isinstance(dim, int) else tuple(dim)
    if not dims:
        return tuple(range(ndim))
    dims = sorted(dim_index(op, d, ndim) for d in dims)
    if len(set(dims)) != len(dims):
        raise ValueError(f"{op}: dim={dim} names the same dim twice")
    return tuple(dims) if ndim else ()


def _kept_shape(shape, dims):
    """``shape`` with each reduced dim set to 1."""
    return tuple(1 if i in dims else size for i, size in enumerate(shape))


def _check_not_empty(op, shape, dims):
    """A maximum over no elements is undefined: refuse, as PyTorch does."""
    for d in dims:
        if shape[d] == 0:
            raise ShapeError(f"{op}: cannot take the maximum over dim {d} of size 0 "
                             f"(input shape {shape})")


class Sum(Function):
    """y = Σ x over dims.   dy/dx = 1: the gradient is copied back along them."""

    def forward(self, x, dims, keepdim):
        self.x_shape, self.dims = x.shape, dims
        return x.sum(axis=dims, keepdims=keepdim)

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        grad = grad_out.reshape(_kept_shape(self.x_shape, self.dims))
        return (xp.broadcast_to(grad, self.x_shape),)


class Mean(Function):
    """y = (1/n) Σ x over dims (n elements each).   dy/dx = 1/n.   No elements: y = NaN."""

    def forward(self, x, dims, keepdim):
        self.x_shape, self.dims = x.shape, dims
        self.count = math.prod(x.shape[d] for d in dims)
        return x.mean(axis=dims, keepdims=keepdim)

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        grad = grad_out.reshape(_kept_shape(self.x_shape, self.dims))
        return (xp.broadcast_to(grad, self.x_shape) / self.count,)


class Amax(Function):
    """y = max x over dims.   dy/dx = 1/k at each of the k elements equal to the maximum, else 0."""

    def forward(self, x, dims, keepdim):
        y = x.max(axis=dims, keepdims=True)
        self.tied = x == y
        self.count = self.tied.sum(axis=dims, keepdims=True, dtype=x.dtype)
        return y if keepdim else y.squeeze(axis=dims)

    def backward(self, grad_out):
        return (self.tied * (grad_out.reshape(self.count.shape) / self.count),)


class MaxAlongDim(Function):
    """y = x at index i along dim, i the first maximum.   dy/dx = 1 at i, else 0."""

    def forward(self, x, dim, keepdim, indices):
        self.x_shape, self.dim, self.indices = x.shape, dim, indices
        y = get_array_module(x).take_along_axis(x, indices, axis=dim)
        return y if keepdim else y.squeeze(axis=dim)

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        along = [-1 if i == self.dim else 1 for i in range(len(self.x_shape))]
        positions = xp.arange(self.x_shape[self.dim]).reshape(along)
        grad = grad_out.reshape(self.indices.shape)
        return (xp.where(positions == self.indices, grad, 0),)


def sum(x, dim=None, keepdim=False):
    return Sum.apply(x, dims=_dims("sum", dim, x.ndim), keepdim=keepdim)


def mean(x, dim=None, keepdim=False):
    if x.dtype.kind != "f":  # as PyTorch: the mean of integers has no dtype to infer
        raise TypeError(f"mean: expected a floating-point input, got {x.dtype} "
                        "(convert it first: x.float().mean())")
    return Mean.apply(x, dims=_dims("mean", dim, x.ndim), keepdim=keepdim)


def amax(x, dim=None, keepdim=False):
    dims = _dims("amax", dim, x.ndim)
    _check_not_empty("amax", x.shape, dims)
    return Amax.apply(x, dims=dims, keepdim=keepdim)


def max(x, dim=None, keepdim=False):
    """``max(x)``: the largest element (ties share the gradient, as ``amax``).
    ``max(x, dim)``: ``MaxResult(values, indices)`` of the first maximum along
    ``dim``, which alone receives the gradient, as ``torch.max(x, dim)``.
    ``max(x, other)`` with a tensor ``other``: the elementwise ``maximum``."""
    if is_tensor(dim):
        return maximum(x, dim)
    if dim is None:
        return amax(x, None, keepdim)
    if not isinstance(dim, int):
        raise TypeError(f"max: dim must be an int or None, got {dim!r} (amax takes several dims)")
    dim = dim_index("max", dim, x.ndim)
    if x.ndim == 0:   # as PyTorch: the one element, at index 0
        return max(reshape(x, 1), 0)
    _check_not_empty("max", x.shape, (dim,))
    xp = get_array_module(x.data)
    indices = xp.expand_dims(x.data.argmax(axis=dim), dim)
    values = MaxAlongDim.apply(x, dim=dim, keepdim=keepdim, indices=indices)
    return MaxResult(values, x.wrap(indices if keepdim else indices.squeeze(axis=dim)))

