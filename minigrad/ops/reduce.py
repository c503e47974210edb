"""Reductions over axes: sum, mean, max."""
from minigrad.backend import get_array_module
from minigrad.tensor import Function

__all__ = ["max", "mean", "sum"]


def _axes(axis, ndim):
    """``axis`` (None, int or tuple) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(sorted(a % ndim for a in axes)) if ndim else ()


def _keepdims_shape(shape, axes):
    """``shape`` with each reduced axis set to 1."""
    return tuple(1 if i in axes else size for i, size in enumerate(shape))


class Sum(Function):
    """y = Σ x over the axes.   dy/dx = 1: the gradient is copied back along them."""

    def forward(self, x, axis, keepdims):
        self.x_shape, self.axes = x.shape, _axes(axis, x.ndim)
        return x.sum(axis=self.axes, keepdims=keepdims)

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        grad = grad_out.reshape(_keepdims_shape(self.x_shape, self.axes))
        return (xp.broadcast_to(grad, self.x_shape),)


class Mean(Function):
    """y = (1/n) Σ x over the axes (n elements each).   dy/dx = 1/n."""

    def forward(self, x, axis, keepdims):
        self.x_shape, self.axes = x.shape, _axes(axis, x.ndim)
        return x.mean(axis=self.axes, keepdims=keepdims)

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        count = 1
        for a in self.axes:
            count *= self.x_shape[a]
        grad = grad_out.reshape(_keepdims_shape(self.x_shape, self.axes)) / count
        return (xp.broadcast_to(grad, self.x_shape),)


class Max(Function):
    """y = max x over the axes.   dy/dx = 1 at one maximum (the first), 0 elsewhere.

    The reduced axes are moved to the end and merged into one, so a single
    ``argmax`` finds the winner of every group.
    """

    def forward(self, x, axis, keepdims):
        xp = get_array_module(x)
        self.x_shape, self.axes = x.shape, _axes(axis, x.ndim)
        kept = [i for i in range(x.ndim) if i not in self.axes]
        self.order = kept + list(self.axes)
        grouped = x.transpose(self.order).reshape([x.shape[i] for i in kept] + [-1])
        self.argmax = grouped.argmax(axis=-1)
        y = xp.take_along_axis(grouped, self.argmax[..., None], axis=-1)[..., 0]
        self.group_size = grouped.shape[-1]
        return y.reshape(_keepdims_shape(x.shape, self.axes)) if keepdims else y

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        winner = xp.arange(self.group_size) == self.argmax[..., None]
        grad = winner * grad_out.reshape(self.argmax.shape)[..., None]
        grad = grad.reshape([self.x_shape[i] for i in self.order])
        inverse = [self.order.index(i) for i in range(len(self.order))]
        return (grad.transpose(inverse),)


def sum(x, axis=None, keepdims=False):
    return Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    return Mean.apply(x, axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims=False):
    return Max.apply(x, axis=axis, keepdims=keepdims)
