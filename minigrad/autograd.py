"""The tape, top-down: 1. :class:`Function`, the base of every op; 2. :func:`backpropagate`,
the backward algorithm; 3. helpers: ``no_grad``, ``unbroadcast``.

Why this file and tensor.py are two: the ops subclass :class:`Function`, and ``Tensor``'s
methods ARE the ops' functions (``x * y`` is ``elementwise.mul(x, y)``). So the imports run
one way, ``autograd ← ops ← tensor``: an op's output is made by ``Tensor.wrap`` reached
through an input, and a tensor is anything with a ``grad_fn``."""
import contextlib

import numpy as np

from minigrad import backend

__all__ = ["Function", "GradientShapeError", "ShapeError", "backpropagate", "is_grad_enabled",
           "is_tensor", "no_grad", "topological_order", "unbroadcast"]


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
    differentiable = True  # False for ops whose output is an index or a truth value

    @classmethod
    def apply(cls, *inputs, **params):
        """Run the op on tensors (numbers and arrays are wrapped as constants)."""
        tensors = _as_tensors(cls.__name__, inputs)
        fn = cls()
        fn.needs_grad = tuple(t.requires_grad for t in tensors)
        out = tensors[0].wrap(fn.forward(*[t.data for t in tensors], **params))
        if _grad_enabled and cls.differentiable and any(fn.needs_grad):
            out.requires_grad = True
            out._fn = fn
            # where each input's gradient goes: the op that made it, or the leaf itself
            fn.parents = [(t.grad_fn or t) if t.requires_grad else None for t in tensors]
            fn.input_shapes = [t.shape for t in tensors]
            fn.versions = [t.version for t in tensors]
        return out

    def release(self):
        """Forget everything forward saved and the tape (after backward has used them)."""
        self.__dict__.clear()
        self.released = True

    def forward(self, *arrays, **params):
        raise NotImplementedError

    def backward(self, grad_out):
        raise NotImplementedError


def is_tensor(value):
    """True for a Tensor (anything that sits on the tape has a ``grad_fn``)."""
    return hasattr(value, "grad_fn")


def _as_tensors(op_name, inputs):
    """Tensors for every input; constants take the first tensor's dtype and device. As in
    PyTorch, integer and bool tensors meeting a Python float are computed in float32."""
    like = next((x for x in inputs if is_tensor(x)), None)
    if like is None:
        raise TypeError(f"{op_name}: expected at least one Tensor input")
    dtype = like.dtype
    if dtype.kind in "biu" and any(isinstance(x, float) for x in inputs):
        dtype = np.dtype(np.float32)
    tensors = []
    for x in inputs:
        if is_tensor(x):
            promote = x.dtype.kind != "f" and dtype.kind == "f"
            tensors.append(x.type(dtype) if promote else x)
        elif isinstance(x, (bool, int, float, np.number)):  # a number: on the tensor's device
            tensors.append(like.wrap(backend.get_array_module(like.data).asarray(x, dtype)))
        else:  # a list or an array: a constant of that dtype, on its own device
            array = x if backend.is_array(x) else np.asarray(x)
            tensors.append(like.wrap(array.astype(dtype, copy=False)))
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
        if not isinstance(node, Function):  # a leaf collects its gradient
            _accumulate(node, grad_out)
            continue
        _check_unchanged(node)
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


def _check_unchanged(node):
    """A leaf whose data was replaced since the forward (an optimizer step between two
    backward passes) would get a gradient of values it no longer holds: refuse, as PyTorch."""
    for parent, version in zip(node.parents, node.versions):
        if is_tensor(parent) and parent.version != version:
            raise RuntimeError(
                f"backward(): an input of {type(node).__name__} (shape {parent.shape}) was "
                f"modified after the forward pass (version {parent.version}, expected "
                f"{version}), e.g. by optimizer.step(); run the forward pass again")


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


# ----- 3. helpers ---------------------------------------------------------------------------

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
