"""Tensor, the tape, and reverse-mode backward.

A :class:`Tensor` wraps an array of the active array module (NumPy or CuPy).
Each op is a :class:`Function`: ``forward`` computes the output from raw
arrays and saves on ``self`` only what ``backward`` needs; ``backward`` turns
the gradient of the output into one gradient per input. When an op runs on a
tensor that requires a gradient, the output remembers the Function that made
it (``_fn``) and the Function remembers where its inputs came from (their
Functions, or the leaf tensors themselves): that is the tape.

``backward()`` sorts the recorded graph topologically (iteratively, so a
chain of 10,000 ops is fine), walks it from the output back to the leaves,
and sums the gradients a tensor receives from every op that used it.
"""
import contextlib

import numpy as np

from minigrad import backend

__all__ = ["Function", "GradientShapeError", "ShapeError", "Tensor", "is_grad_enabled", "no_grad", "tensor", "unbroadcast"]

_grad_enabled = True


class ShapeError(ValueError):
    """An op or layer received inputs whose shapes do not fit; says which."""


class GradientShapeError(RuntimeError):
    """A Function's backward returned a gradient shaped unlike its input."""


def is_grad_enabled():
    """True unless inside :func:`no_grad`."""
    return _grad_enabled


class no_grad(contextlib.ContextDecorator):
    """Record nothing inside: ``with no_grad(): ...`` or ``@no_grad()``."""

    def __init__(self):
        self.previous = []  # a stack: a decorated function may call itself

    def __enter__(self):
        global _grad_enabled
        self.previous.append(_grad_enabled)
        _grad_enabled = False
        return self

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self.previous.pop()
        return False


def unbroadcast(grad, shape):
    """Sum ``grad`` back to ``shape``, undoing NumPy broadcasting.

    Broadcasting copies an input along missing leading axes and along axes of
    size 1; the gradient of a copy is the sum over the copies.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, size in enumerate(shape) if size == 1 and grad.shape[extra + i] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def _default_dtype(data):
    """float32 unless ``data`` already is a float32/float64 array."""
    dtype = getattr(data, "dtype", None)
    if dtype in (np.float32, np.float64):
        return dtype
    return np.float32


class Tensor:
    """An array plus what autodiff needs: ``grad``, ``requires_grad`` and the op
    that produced it.

    ``data`` is the raw array (NumPy or CuPy); ``grad`` is a raw array of the
    same module and shape, ``None`` until a backward pass reaches the tensor.
    """

    __array_priority__ = 1000  # NumPy defers `array + tensor` to Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        if isinstance(data, Tensor):
            data = data.data
        if isinstance(data, np.generic):  # a NumPy scalar (NumPy reductions make them)
            data = np.asarray(data)
        elif not backend.is_array(data):   # Python numbers and lists: float32 by default
            data = np.asarray(data)
            dtype = dtype or np.float32
        dtype = dtype or _default_dtype(data)
        if data.dtype != dtype:
            data = data.astype(dtype)
        self.data = data if device is None else backend.to_device(data, device)
        self.grad = None
        self.requires_grad = requires_grad
        self._fn = None  # the Function that produced this tensor, if recorded

    # ----- what a PyTorch user expects to read off a tensor -----
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: self.data.dtype)
    size = property(lambda self: self.data.size)
    device = property(lambda self: backend.device_of(self.data))
    is_leaf = property(lambda self: self._fn is None)
    grad_fn = property(lambda self: self._fn)

    def __len__(self):
        return len(self.data)

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

    def detach(self):
        """The same data, cut off from the graph (no copy)."""
        return Tensor(self.data)

    def to(self, device):
        """This tensor on ``device`` ('cpu' or 'gpu'); itself if already there."""
        if backend.validate_device(device) == self.device:
            return self
        return Tensor(backend.to_device(self.data, device), requires_grad=self.requires_grad)

    def zero_grad(self):
        """Forget the accumulated gradient."""
        self.grad = None

    # ----- the backward pass -----
    def backward(self, grad=None):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``grad`` is the gradient flowing into this tensor; a scalar needs
        none (it is 1). The graph is released afterwards.
        """
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad "
                               "(no input had requires_grad=True, or it was made under no_grad)")
        xp = backend.get_array_module(self.data)
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward(): a tensor of shape {self.shape} needs an explicit gradient; "
                    "only a scalar (one element) can start backward on its own")
            grad = xp.ones_like(self.data)
        else:
            grad = grad.data if isinstance(grad, Tensor) else grad
            backend.check_same_device("backward", [self.data, grad])
            if grad.shape != self.shape:
                raise ValueError(f"backward(): gradient of shape {grad.shape} "
                                 f"for a tensor of shape {self.shape}")
        if self._fn is None:  # a leaf: its gradient is the seed itself
            self._accumulate(grad)
            return
        grads = {id(self._fn): grad}
        for node in _topological_order(self._fn):
            grad_out = grads.pop(id(node), None)
            if grad_out is None:
                continue
            if isinstance(node, Tensor):  # a leaf collects its gradient
                node._accumulate(grad_out)
                continue
            parents, shapes, grads_in = node.parents, node.input_shapes, node.backward(grad_out)
            node.release()  # free what forward saved as soon as it is used
            for parent, shape, grad_in in zip(parents, shapes, grads_in):
                if parent is None or grad_in is None:
                    continue
                if grad_in.shape != shape:
                    raise GradientShapeError(
                        f"{type(node).__name__}.backward returned a gradient of shape "
                        f"{grad_in.shape} for an input of shape {shape} (missing unbroadcast?)")
                key = id(parent)
                # A node used twice receives both gradients: sum them. Out of
                # place, since two ops may hand back the very same array.
                grads[key] = grad_in if key not in grads else grads[key] + grad_in

    def _accumulate(self, grad):
        """Leaf: ``self.grad += grad`` (the first gradient is copied, so it is ours)."""
        if grad.dtype != self.dtype:
            grad = grad.astype(self.dtype)
        if self.grad is None:
            self.grad = grad.copy()
        else:
            self.grad += grad

    # ----- operators and methods; each one is an op from minigrad.ops -----
    # The ops are built on Tensor, so they are imported where used, not at the top.
    def __add__(self, other):
        from minigrad.ops import elementwise
        return elementwise.add(self, other)

    def __radd__(self, other):
        from minigrad.ops import elementwise
        return elementwise.add(other, self)

    def __sub__(self, other):
        from minigrad.ops import elementwise
        return elementwise.sub(self, other)

    def __rsub__(self, other):
        from minigrad.ops import elementwise
        return elementwise.sub(other, self)

    def __mul__(self, other):
        from minigrad.ops import elementwise
        return elementwise.mul(self, other)

    def __rmul__(self, other):
        from minigrad.ops import elementwise
        return elementwise.mul(other, self)

    def __truediv__(self, other):
        from minigrad.ops import elementwise
        return elementwise.div(self, other)

    def __rtruediv__(self, other):
        from minigrad.ops import elementwise
        return elementwise.div(other, self)

    def __pow__(self, exponent):
        from minigrad.ops import elementwise
        return elementwise.pow(self, exponent)

    def __neg__(self):
        from minigrad.ops import elementwise
        return elementwise.neg(self)

    def __matmul__(self, other):
        from minigrad.ops import linalg
        return linalg.matmul(self, other)

    def __rmatmul__(self, other):
        from minigrad.ops import linalg
        return linalg.matmul(other, self)

    def __getitem__(self, index):
        from minigrad.ops import shape
        return shape.getitem(self, index)

    def exp(self):
        from minigrad.ops import elementwise
        return elementwise.exp(self)

    def log(self):
        from minigrad.ops import elementwise
        return elementwise.log(self)

    def relu(self):
        from minigrad.ops import elementwise
        return elementwise.relu(self)

    def sum(self, axis=None, keepdims=False):
        from minigrad.ops import reduce
        return reduce.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        from minigrad.ops import reduce
        return reduce.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        from minigrad.ops import reduce
        return reduce.max(self, axis, keepdims)

    def reshape(self, *shape):
        from minigrad.ops import shape as shape_ops
        return shape_ops.reshape(self, *shape)

    def transpose(self, *axes):
        from minigrad.ops import shape
        return shape.transpose(self, *axes)

    def permute(self, *axes):
        from minigrad.ops import shape
        return shape.transpose(self, *axes)

    def flatten(self, start_dim=0):
        from minigrad.ops import shape
        return shape.flatten(self, start_dim)

    @property
    def T(self):
        from minigrad.ops import shape
        return shape.transpose(self)


def tensor(data, requires_grad=False, dtype=None, device=None):
    """Make a :class:`Tensor` (float32 unless ``data`` is float64 or ``dtype`` says)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def _topological_order(root):
    """Graph nodes reachable from ``root``, each after every node that uses it.

    Nodes are Functions and leaf tensors. An explicit stack instead of
    recursion: a node is emitted on its second visit, once all its parents
    have been emitted; the list is then reversed.
    """
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if isinstance(node, Function):
            if node.released:
                raise RuntimeError(
                    "backward(): part of this graph was already used by an earlier backward() "
                    "and released; run the forward pass again")
            for parent in node.parents:
                if parent is not None and id(parent) not in visited:
                    stack.append((parent, False))
    return reversed(order)


class Function:
    """Base of every op.

    Subclasses implement ``forward(self, *arrays, **params) -> array`` and
    ``backward(self, grad_out) -> tuple`` (one gradient per input, ``None``
    where an input needs none). ``self`` is the context: ``forward`` stores on
    it what ``backward`` needs. ``self.needs_grad[i]`` tells whether input
    ``i`` wants a gradient, so backward can skip work.

    The tape: ``self.parents[i]`` is the Function that made input ``i``, or
    the input itself if it is a leaf (``None`` if it needs no gradient).
    The inputs' data is not kept, only what forward saved on purpose.
    """

    released = False

    @classmethod
    def apply(cls, *inputs, **params):
        """Run the op on tensors (numbers and arrays are wrapped as constants)."""
        tensors = _as_tensors(cls.__name__, inputs)
        fn = cls()
        fn.needs_grad = tuple(t.requires_grad for t in tensors)
        out = Tensor(fn.forward(*[t.data for t in tensors], **params))
        if _grad_enabled and any(fn.needs_grad):
            out.requires_grad = True
            out._fn = fn
            fn.parents = [None if not t.requires_grad else t if t._fn is None else t._fn
                          for t in tensors]
            fn.input_shapes = [t.shape for t in tensors]
        return out

    def release(self):
        """Forget everything forward saved (after backward has used it)."""
        self.__dict__.clear()
        self.released = True

    def forward(self, *arrays, **params):
        raise NotImplementedError

    def backward(self, grad_out):
        raise NotImplementedError


def _as_tensors(op_name, inputs):
    """Tensors for every input; constants take the first tensor's dtype and device."""
    like = next((x for x in inputs if isinstance(x, Tensor)), None)
    if like is None:
        raise TypeError(f"{op_name}: expected at least one Tensor input")
    xp = backend.get_array_module(like.data)
    tensors = []
    for x in inputs:
        if isinstance(x, Tensor):
            tensors.append(x)
        elif isinstance(x, (int, float, np.number)):  # a number takes the tensor's dtype
            tensors.append(Tensor(xp.asarray(x, dtype=like.dtype)))
        else:
            tensors.append(Tensor(x, dtype=like.dtype))
    if len(tensors) > 1:
        backend.check_same_device(op_name, [t.data for t in tensors])
    return tensors
