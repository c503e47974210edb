"""PyTorch's other names for what a tensor does: ``size()``, ``view``, ``long()``, ``==``,
``argmax`` … Each is one line into an op or a Tensor method, so the engine's own Tensor
(tensor.py) keeps to the autodiff; a student can skip this file.

``Tensor`` inherits these as its base class. Unlike PyTorch, ``data`` stays the raw array
(as in micrograd and DeZero), and a view is a copy: minigrad never writes through one.
"""
import numpy as np

from minigrad import backend
from minigrad import functional as F
from minigrad.autograd import is_grad_enabled
from minigrad.checks import dim_index
from minigrad.ops import compare, elementwise

__all__ = ["TorchMethods"]


class TorchMethods:
    """The PyTorch methods of :class:`minigrad.Tensor` that are other names for its ops."""

    __hash__ = object.__hash__  # `==` makes a tensor of truth values, so hash by identity

    # ----- sizes -----
    def size(self, dim=None):
        """The shape, or the size of dimension ``dim`` (``numel()`` counts elements)."""
        return self.shape if dim is None else self.shape[dim_index("size", dim, self.ndim)]

    def numel(self):
        return self.data.size

    def dim(self):
        return self.data.ndim

    # ----- to Python and NumPy -----
    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        body = backend.to_device(self.data, "cpu")
        return f"tensor({np.array2string(body, prefix='tensor(')}, device='{self.device}'{grad})"

    def numpy(self):
        """A host (NumPy) copy of the data."""
        return np.array(backend.to_device(self.data, "cpu"))

    def item(self):
        """The single element as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.reshape(()).item()

    def __iter__(self):
        """The sub-tensors along the first dim, as PyTorch (``for label in labels``)."""
        return (self[i] for i in range(len(self)))

    def tolist(self):
        return self.numpy().tolist()

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"the truth value of a tensor with {self.data.size} elements is "
                               "ambiguous; use .any() or .all(), or compare .item()")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iub" or self.data.size != 1:
            raise TypeError(f"only one-element integer tensors can be used as an index, "
                            f"got {self.dtype} of shape {self.shape}")
        return int(self.item())

    # ----- copies and casts -----
    def clone(self, memory_format=None):
        """A copy of the data, on the tape (its gradient flows back to this tensor);
        ``memory_format`` is accepted and the copy keeps minigrad's own layout."""
        return F.add(self, 0) if self.dtype.kind == "f" else self.wrap(self.data.copy())

    def type(self, dtype):
        """This tensor as ``dtype``; float to float is on the tape, anything else is not."""
        dtype = np.dtype(getattr(dtype, "numpy", dtype))
        if dtype == self.dtype:
            return self
        if dtype.kind == "f" and self.dtype.kind == "f":
            return elementwise.cast(self, dtype)
        return self.wrap(self.data.astype(dtype))

    def float(self):
        return self.type(np.float32)

    def double(self):
        return self.type(np.float64)

    def long(self):
        return self.type(np.int64)

    def int(self):
        return self.type(np.int32)

    def bool(self):
        return self.type(np.bool_)

    def requires_grad_(self, requires_grad=True):
        """Switch ``requires_grad`` of this leaf in place, as PyTorch; a computed tensor's
        cannot be switched off (``detach()`` gives its value off the tape). Assigning
        ``.requires_grad`` directly is not checked: it is a plain attribute, read by every op."""
        if requires_grad and self.dtype.kind != "f":
            raise RuntimeError(f"only floating-point tensors can require gradients, "
                               f"got {self.dtype}")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad can be switched off only on a leaf tensor; for "
                               "a computed tensor without gradient use .detach()")
        self.requires_grad = requires_grad
        return self

    # ----- other names of ops: each one IS the op's function (see tensor.py) -----
    __eq__ = eq = compare.eq  # bool tensors, off the tape
    __ne__ = ne = compare.ne
    __lt__ = lt = compare.lt
    __le__ = le = compare.le
    __gt__ = gt = compare.gt
    __ge__ = ge = compare.ge
    argmax, argmin = F.argmax, F.argmin
    sigmoid, tanh, softmax, log_softmax = F.sigmoid, F.tanh, F.softmax, F.log_softmax
    min, amin, abs, __abs__ = F.min, F.amin, F.abs, F.abs
    view = F.reshape  # minigrad has no views that a write could go through
    unsqueeze, squeeze, expand = F.unsqueeze, F.squeeze, F.expand

    def view_as(self, other):
        return F.reshape(self, other.shape)

    def where(self, condition, other):
        """``where(condition, self, other)``, as ``Tensor.where``."""
        return F.where(condition, self, other)

    # ----- the arithmetic under its method names, and a few compositions -----
    add, sub, mul, div, pow, neg = F.add, F.sub, F.mul, F.div, F.pow, F.neg
    matmul = mm = F.matmul
    sqrt, var, std = F.sqrt, F.var, F.std

    def any(self, dim=None, keepdim=False):
        """True where any element along ``dim`` (all if None) is nonzero; off the tape."""
        return self.wrap(self._truth().any(axis=dim, keepdims=keepdim))

    def all(self, dim=None, keepdim=False):
        """True where every element along ``dim`` (all if None) is nonzero; off the tape."""
        return self.wrap(self._truth().all(axis=dim, keepdims=keepdim))

    def _truth(self):
        return self.data != 0

    # ----- in place: x += y, x.add_(y) -----
    def _update(self, op, other):
        """self ← op(self, other), by PyTorch's rules for an op in place. The result must
        fit this tensor's shape and dtype. A leaf that requires grad refuses outside
        ``no_grad`` (its gradient would be for a value it no longer holds); any other
        tensor takes the new value, and when the op is on the tape also its place there,
        so backward goes through the op. minigrad has no views: only this tensor changes."""
        name = f"{op.__name__}_"
        if self.requires_grad and self.is_leaf and is_grad_enabled():
            raise RuntimeError(f"{name}: a leaf tensor that requires grad cannot change in "
                               "place; update it under `with minigrad.no_grad():`, as an "
                               "optimizer step does")
        result = op(self, other)
        if result.shape != self.shape:
            raise RuntimeError(f"{name}: the result's shape {tuple(result.shape)} does not fit "
                               f"this tensor's {tuple(self.shape)}")
        if result.dtype != self.dtype:
            if not np.can_cast(result.dtype, self.dtype, "same_kind"):
                raise RuntimeError(f"{name}: the result's dtype {result.dtype} cannot be "
                                   f"stored in this tensor's {self.dtype}")
            result = result.type(self.dtype)
        self.data = result.data
        if result.grad_fn is not None:
            self._fn, self.requires_grad = result.grad_fn, True
        return self

    def __iadd__(self, other):
        return self._update(F.add, other)

    def __isub__(self, other):
        return self._update(F.sub, other)

    def __imul__(self, other):
        return self._update(F.mul, other)

    def __itruediv__(self, other):
        return self._update(F.div, other)

    def add_(self, other, alpha=1):
        return self._update(F.add, other if alpha == 1 else other * alpha)

    def sub_(self, other, alpha=1):
        return self._update(F.sub, other if alpha == 1 else other * alpha)

    def mul_(self, other):
        return self._update(F.mul, other)

    def div_(self, other):
        return self._update(F.div, other)

    # ----- devices -----
    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("gpu")
