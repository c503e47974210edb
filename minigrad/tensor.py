"""The tape, top-down: 1. :class:`Function`, the base of every op; 2. :func:`backpropagate`,
the backward algorithm; 3. :class:`Tensor`, an array plus ``grad``, ``requires_grad`` and
``grad_fn``; 4. helpers: ``no_grad``, ``unbroadcast``, ``ToDevice``.
"""
import contextlib
import importlib

import numpy as np

from minigrad import backend

__all__ = ["Function", "GradientShapeError", "ShapeError", "Tensor", "ToDevice",
           "backpropagate", "check_positive_int", "check_same_dtype", "is_grad_enabled",
           "no_grad", "tensor", "topological_order", "unbroadcast"]


class ShapeError(ValueError):
    """An op or layer received inputs whose shapes do not fit; says which."""


class GradientShapeError(RuntimeError):
    """A Function's backward returned a gradient shaped unlike its input."""


# ----- 1. the op base -----------------------------------------------------------------------

class Function:
    """Base of every op: ``forward(self, *arrays, **params) -> array`` saves on ``self``
    what ``backward(self, grad_out) -> tuple`` (one gradient per input, or None) needs;
    ``self.needs_grad[i]`` says whether input i wants one.

    The tape: ``parents[i]`` is the Function that made input i, the input itself if
    it is a leaf, or None; ``input_shapes[i]`` is its shape. ``released`` turns True
    once backward has used the op and let go of it.
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
            # where each input's gradient goes: the op that made it, or the leaf itself
            fn.parents = [(t.grad_fn or t) if t.requires_grad else None for t in tensors]
            fn.input_shapes = [t.shape for t in tensors]
        return out

    def release(self):
        """Forget everything forward saved and the tape (after backward has used them)."""
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


# ----- 2. the backward algorithm ------------------------------------------------------------

def backpropagate(root, grad, retain_graph=False):
    """Add d(root)/d(leaf) · ``grad`` (a raw array shaped like ``root``) into every leaf's
    ``.grad``. Each op's backward runs once, after every op that used its output; a node
    used twice receives the sum. Ops are released afterwards unless ``retain_graph``.
    """
    if root.grad_fn is None:  # a leaf: its gradient is the seed itself
        _accumulate(root, grad)
        return
    grads = {id(root.grad_fn): grad}
    for node in reversed(topological_order(root.grad_fn)):
        grad_out = grads.pop(id(node), None)
        if grad_out is None:  # every path to this node returned None
            continue
        if isinstance(node, Tensor):  # a leaf collects its gradient
            _accumulate(node, grad_out)
            continue
        grads_in = node.backward(grad_out)
        for parent, shape, grad_in in zip(node.parents, node.input_shapes, grads_in):
            if parent is None or grad_in is None:
                continue
            if grad_in.shape != shape:
                raise GradientShapeError(
                    f"{type(node).__name__}.backward returned a gradient of shape "
                    f"{grad_in.shape} for an input of shape {shape} (missing unbroadcast?)")
            key = id(parent)
            # Out of place: two ops may hand back the very same array.
            grads[key] = grad_in if key not in grads else grads[key] + grad_in
        if not retain_graph:
            node.release()  # free what forward saved as soon as it is used


def topological_order(root):
    """Functions and leaves reachable from ``root``, each after all of its inputs
    (data-flow order; backward walks it reversed). An explicit stack, so no
    recursion limit: a node is emitted on its second visit, once its inputs are."""
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
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
                    "and released; run the forward pass again, or call the first backward() "
                    "with retain_graph=True")
            for parent in reversed(node.parents):
                if parent is not None:
                    stack.append((parent, False))
    return order


def _accumulate(leaf, grad):
    """``leaf.grad += grad``; the first gradient is copied so the leaf owns it (``a + b``
    hands one array to both inputs, and the seed is the caller's)."""
    if grad.dtype != leaf.dtype:
        grad = grad.astype(leaf.dtype)
    if leaf.grad is None:
        leaf.grad = grad.copy()
    else:
        leaf.grad += grad


# ----- 3. Tensor ----------------------------------------------------------------------------

def _op(family):
    """``minigrad.ops.<family>``, imported on first use (the ops import this file)."""
    return importlib.import_module(f"minigrad.ops.{family}")


def _method(family, name, reflected=False):
    """A Tensor method that calls ``minigrad.ops.<family>.<name>(self, ...)``;
    ``reflected`` puts the tensor second, as ``2 - x`` needs (``__rsub__``)."""
    def method(self, *args, **kwargs):
        function = getattr(_op(family), name)
        if reflected:
            return function(*args, self)
        return function(self, *args, **kwargs)
    method.__doc__ = f"minigrad.ops.{family}.{name}, with this tensor as an argument."
    return method


class Tensor:
    """An array (``data``, NumPy or CuPy) plus ``grad`` (a raw array of its shape, None
    until backward reaches it), ``requires_grad`` and ``grad_fn``, the op that made it."""

    __array_priority__ = 1000  # NumPy defers `array + tensor` to Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        if isinstance(data, Tensor):
            data = data.data
        if isinstance(data, np.generic):  # a NumPy scalar (NumPy reductions make them)
            data = np.asarray(data)
        elif not backend.is_array(data):   # Python numbers and lists: float32 by default
            data = np.asarray(data)
            dtype = dtype or np.float32
        if dtype is None:  # float32 unless already float32 or float64
            dtype = data.dtype if data.dtype in (np.float32, np.float64) else np.float32
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
    grad_fn = property(lambda self: self._fn, doc="The Function that made this tensor (None: a leaf).")
    is_leaf = property(lambda self: self._fn is None)

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
        """This tensor on ``device`` ('cpu', 'gpu' or 'cuda'), recorded on the tape."""
        if backend.validate_device(device) == self.device:
            return self
        return ToDevice.apply(self, device=device)

    def zero_grad(self):
        """Forget the accumulated gradient."""
        self.grad = None

    def backward(self, grad=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) · ``grad`` into every leaf's ``.grad``; ``grad`` may be
        left out for a one-element tensor (it is 1)."""
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad "
                               "(no input had requires_grad=True, or it was made under no_grad)")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward(): a tensor of shape {self.shape} needs an explicit gradient; "
                    "only a scalar (one element) can start backward on its own")
            grad = backend.get_array_module(self.data).ones_like(self.data)
        grad = grad.data if isinstance(grad, Tensor) else grad
        backend.check_same_device("backward", [self.data, grad])
        if grad.shape != self.shape:
            raise ValueError(f"backward(): gradient of shape {grad.shape} "
                             f"for a tensor of shape {self.shape}")
        backpropagate(self, grad, retain_graph)

    # ----- operators and methods: each one is a function of minigrad.ops -----
    __add__ = _method("elementwise", "add")
    __radd__ = _method("elementwise", "add", reflected=True)
    __sub__ = _method("elementwise", "sub")
    __rsub__ = _method("elementwise", "sub", reflected=True)
    __mul__ = _method("elementwise", "mul")
    __rmul__ = _method("elementwise", "mul", reflected=True)
    __truediv__ = _method("elementwise", "div")
    __rtruediv__ = _method("elementwise", "div", reflected=True)
    __pow__ = _method("elementwise", "pow")
    __rpow__ = _method("elementwise", "pow", reflected=True)
    __neg__ = _method("elementwise", "neg")
    __matmul__ = _method("linalg", "matmul")
    __rmatmul__ = _method("linalg", "matmul", reflected=True)
    __getitem__ = _method("shape", "getitem")
    exp = _method("elementwise", "exp")
    log = _method("elementwise", "log")
    relu = _method("elementwise", "relu")
    maximum = _method("elementwise", "maximum")
    minimum = _method("elementwise", "minimum")
    clamp = _method("elementwise", "clamp")
    sum = _method("reduce", "sum")
    mean = _method("reduce", "mean")
    max = _method("reduce", "max")
    amax = _method("reduce", "amax")
    reshape = _method("shape", "reshape")
    transpose = _method("shape", "transpose")
    permute = _method("shape", "permute")
    flatten = _method("shape", "flatten")
    T = property(lambda self: _op("shape").permute(self, *reversed(range(self.ndim))),
                 doc="All dimensions reversed, as NumPy's .T.")


def tensor(data, requires_grad=False, dtype=None, device=None):
    """Make a :class:`Tensor` (float32 unless ``data`` is float64 or ``dtype`` says)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


# ----- 4. helpers ---------------------------------------------------------------------------

_grad_enabled = True


def is_grad_enabled():
    """True unless inside :func:`no_grad`."""
    return _grad_enabled


@contextlib.contextmanager
def no_grad():
    """Record nothing inside: ``with no_grad(): ...`` or ``@no_grad()``."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def unbroadcast(grad, shape):
    """Sum ``grad`` back to ``shape``: broadcasting copied the input along missing leading
    axes and axes of size 1, and the gradient of copies is their sum."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, size in enumerate(shape) if size == 1 and grad.shape[extra + i] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def check_positive_int(op, name, value, error=ValueError):
    """Raise ``error`` naming ``op`` and ``name`` unless ``value`` is an int ≥ 1 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise error(f"{op}: {name} must be a positive int, got {value!r}")


def check_same_dtype(op, operands):
    """PyTorch refuses to mix dtypes, and so do we: a TypeError naming ``op`` and two of
    ``operands`` ({name: tensor or None}) whose dtypes differ."""
    named = [(name, x) for name, x in operands.items() if x is not None]
    first_name, first = named[0]
    for name, other in named[1:]:
        if other.dtype != first.dtype:
            raise TypeError(f"{op}: {first_name} is {first.dtype} but {name} is {other.dtype}; "
                            "expected the same dtype (convert one of them first)")


class ToDevice(Function):
    """y = x, copied to another device.   dy/dx = 1: the gradient is copied back."""

    def forward(self, x, device):
        self.source = backend.device_of(x)
        return backend.to_device(x, device)

    def backward(self, grad_out):
        return (backend.to_device(grad_out, self.source),)
