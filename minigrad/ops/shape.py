"""Ops that move elements around without changing them: reshape, permute,
transpose, flatten, indexing. Their gradients move the elements back."""
import itertools
import math

import numpy as np

from minigrad.autograd import Function, ShapeError, is_tensor, unbroadcast
from minigrad.backend import get_array_module, is_array
from minigrad.checks import check_new_shape, dim_index

__all__ = ["cat", "dim_index", "expand", "flatten", "getitem", "permute", "reshape",
           "transpose"]


class Reshape(Function):
    """y = x viewed with a new shape.   dx = dy viewed with x's shape."""

    def forward(self, x, shape):
        self.x_shape = x.shape
        return x.reshape(shape)

    def backward(self, grad_out):
        return (grad_out.reshape(self.x_shape),)


class Permute(Function):
    """y = x with dims reordered, y.shape[i] = x.shape[dims[i]].   dx = dy, reordered back."""

    def forward(self, x, dims):
        self.dims = dims
        return x.transpose(dims)

    def backward(self, grad_out):
        inverse = [self.dims.index(i) for i in range(len(self.dims))]
        return (grad_out.transpose(inverse),)


class GetItem(Function):
    """y = x[index].   dx = dy scattered back to where each element came from.

    An element picked several times sums its copies' gradients: ``bincount`` of dy
    over the source numbers (every element of x numbered, indexed like x).
    """

    def forward(self, x, index):
        self.x_shape, self.dtype, self.index = x.shape, x.dtype, index
        return x[index]

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        if _is_basic(self.index):  # slices and ints never pick an element twice
            grad = xp.zeros(self.x_shape, dtype=self.dtype)
            grad[self.index] = grad_out
            return (grad,)
        size = math.prod(self.x_shape)
        source = xp.arange(size).reshape(self.x_shape)[self.index]
        grad = xp.bincount(source.ravel(), weights=grad_out.ravel(), minlength=size)
        return (grad.astype(self.dtype).reshape(self.x_shape),)


class Expand(Function):
    """y = x broadcast to ``shape``.   dx = dy summed over the copies (``unbroadcast``).

    Broadcasting copies x along new leading dims and along its dims of size 1."""

    def forward(self, x, shape):
        self.x_shape = x.shape
        return get_array_module(x).broadcast_to(x, shape)

    def backward(self, grad_out):
        return (unbroadcast(grad_out, self.x_shape),)


class Concatenate(Function):
    """y = x₁, x₂, … joined along ``dim``.   dxᵢ = the slice of dy where xᵢ went."""

    def forward(self, *parts, dim):
        self.dim, self.sizes = dim, [part.shape[dim] for part in parts]
        return get_array_module(parts[0]).concatenate(parts, axis=dim)

    def backward(self, grad_out):
        ends = list(itertools.accumulate(self.sizes))
        return tuple(get_array_module(grad_out).split(grad_out, ends[:-1], axis=self.dim))


def _is_basic(index):
    """True for an index made only of ints, slices, None and Ellipsis."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, slice)) or p is None or p is Ellipsis for p in parts)


def reshape(x, *shape):
    """``x`` with a new shape; accepts ``reshape(x, 2, 3)`` or ``reshape(x, (2, 3))``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    check_new_shape(x.shape, tuple(shape))
    return Reshape.apply(x, shape=tuple(shape))


def permute(x, *dims):
    """``x`` with its dims in the order ``dims``, a permutation of all of them
    (``permute(x, 2, 0, 1)`` or ``permute(x, (2, 0, 1))``), as ``torch.permute``."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = dims[0]
    dims = tuple(dim_index("permute", d, x.ndim) for d in dims)
    if sorted(dims) != list(range(x.ndim)):
        raise ValueError(f"permute: dims {dims} are not a permutation of the {x.ndim} dims "
                         f"of a tensor of shape {x.shape}")
    return Permute.apply(x, dims=dims)


def transpose(x, dim0, dim1):
    """``x`` with dims ``dim0`` and ``dim1`` swapped, as ``torch.transpose``."""
    dims = list(range(x.ndim))
    dim0, dim1 = dim_index("transpose", dim0, x.ndim), dim_index("transpose", dim1, x.ndim)
    if dim0 != dim1:  # (a 0-d tensor has no dims to swap)
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return Permute.apply(x, dims=tuple(dims))


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dims ``start_dim``..``end_dim`` into one, as ``torch.flatten``
    (``flatten(x, 1)``: (N, C, H, W) → (N, C·H·W)); a 0-d tensor becomes shape (1,)."""
    start = dim_index("flatten", start_dim, x.ndim)
    end = dim_index("flatten", end_dim, x.ndim)
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
                         f"for a tensor of shape {x.shape}")
    merged = math.prod(x.shape[start:end + 1])  # not -1: a zero-size dim leaves -1 ambiguous
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


def expand(x, *sizes):
    """``x`` broadcast to ``sizes`` without copying; −1 keeps a dim's size, as PyTorch."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = sizes[0]
    extra = len(sizes) - x.ndim
    if extra < 0:
        raise ShapeError(f"expand: cannot expand shape {x.shape} to {tuple(sizes)}, which has "
                         "fewer dims")
    shape = tuple(x.shape[i - extra] if size == -1 and i >= extra else size
                  for i, size in enumerate(sizes))
    try:
        fits = np.broadcast_shapes(x.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ShapeError(f"expand: shape {x.shape} does not broadcast to {shape}")
    return Expand.apply(x, shape=shape)


def cat(tensors, dim=0):
    """The tensors joined along ``dim``; every other dim must agree, as ``torch.cat``."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    # PyTorch's legacy rule: a 1-D empty tensor joins anything (it is skipped)
    tensors = [t for t in tensors if t.shape != (0,)] or tensors[:1]
    dim = dim_index("cat", dim, tensors[0].ndim)
    for t in tensors[1:]:
        if t.ndim != tensors[0].ndim or any(a != b for i, (a, b) in
                                             enumerate(zip(t.shape, tensors[0].shape)) if i != dim):
            raise ShapeError(f"cat: shapes {tensors[0].shape} and {t.shape} differ outside "
                             f"dim {dim}")
    return Concatenate.apply(*tensors, dim=dim)


def getitem(x, index):
    """``x[index]`` with slices, ints, None, Ellipsis and integer arrays."""
    index = _index_arrays(x, index)
    return GetItem.apply(x, index=index)


def _index_arrays(x, index):
    """Index parts given as Tensors or lists become integer arrays of x's module."""
    xp = get_array_module(x.data)
    parts = index if isinstance(index, tuple) else (index,)
    converted = []
    for part in parts:
        if is_tensor(part):  # a mask stays bool, other numbers become indices
            part = part.data if part.dtype.kind == "b" else part.data.astype("int64")
        elif isinstance(part, list):
            part = xp.asarray(part)
        converted.append(part)
    if is_array(index) or not isinstance(index, tuple):
        return converted[0]
    return tuple(converted)
