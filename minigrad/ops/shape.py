"""Ops that move elements around without changing them: reshape, transpose,
flatten, indexing. Their gradients move the elements back."""
from minigrad.backend import get_array_module, is_array
from minigrad.tensor import Function, Tensor

__all__ = ["flatten", "getitem", "reshape", "transpose"]


class Reshape(Function):
    """y = x viewed with a new shape.   dx = dy viewed with x's shape."""

    def forward(self, x, shape):
        self.x_shape = x.shape
        return x.reshape(shape)

    def backward(self, grad_out):
        return (grad_out.reshape(self.x_shape),)


class Transpose(Function):
    """y = x with its axes permuted.   dx = dy with the inverse permutation."""

    def forward(self, x, axes):
        self.axes = tuple(range(x.ndim))[::-1] if axes is None else tuple(a % x.ndim for a in axes)
        return x.transpose(self.axes)

    def backward(self, grad_out):
        inverse = [self.axes.index(i) for i in range(len(self.axes))]
        return (grad_out.transpose(inverse),)


class GetItem(Function):
    """y = x[index].   dx = dy scattered back to where each element came from.

    Integer-array indices may pick one element several times; the gradients
    of the copies must add up. ``bincount`` does that: number every element
    of x, index those numbers like x, and sum dy per source number.
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
        size = 1
        for n in self.x_shape:
            size *= n
        source = xp.arange(size).reshape(self.x_shape)[self.index]
        grad = xp.bincount(source.ravel(), weights=grad_out.ravel(), minlength=size)
        return (grad.astype(self.dtype).reshape(self.x_shape),)


def _is_basic(index):
    """True for an index made only of ints, slices, None and Ellipsis."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, slice)) or p is None or p is Ellipsis for p in parts)


def reshape(x, *shape):
    """``x`` with a new shape; accepts ``reshape(x, 2, 3)`` or ``reshape(x, (2, 3))``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return Reshape.apply(x, shape=tuple(shape))


def transpose(x, *axes):
    """Permute axes (reversed when none are given), like ``numpy.transpose``."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = axes[0]
    return Transpose.apply(x, axes=tuple(axes) if axes else None)


def flatten(x, start_dim=0):
    """Merge the axes from ``start_dim`` on into one (``flatten(x, 1)``: (N, ...) → (N, D))."""
    start_dim %= max(x.ndim, 1)
    return reshape(x, x.shape[:start_dim] + (-1,))


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
        if isinstance(part, Tensor):
            part = part.data.astype("int64")
        elif isinstance(part, list):
            part = xp.asarray(part)
        converted.append(part)
    if is_array(index) or not isinstance(index, tuple):
        return converted[0]
    return tuple(converted)
