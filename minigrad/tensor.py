"""Tensor: an array plus ``grad``, ``requires_grad`` and ``grad_fn``. Every method that
computes is an op's function of minigrad.ops itself, so go-to-definition leads from
``x * y`` to ``elementwise.mul`` and on to ``Mul.forward``; the tape itself is in
autograd.py, read before this file. PyTorch's other names for the same ops (``view``,
``size()``, ``==``, ``long()`` …) come from the base class in tensor_methods.py.
"""
import numpy as np

from minigrad import backend, devices
from minigrad.autograd import Function, backpropagate
from minigrad.ops import elementwise, linalg, reduce
from minigrad.ops import shape as shape_ops  # `shape` is the tensor's property
from minigrad.tensor_methods import TorchMethods

__all__ = ["Tensor", "ToDevice"]


class Tensor(TorchMethods):
    """An array (``data``, NumPy or CuPy) plus ``grad`` (a raw array of its shape, None
    until backward reaches it), ``requires_grad`` and ``grad_fn``, the op that made it.

    Unlike PyTorch, ``data`` is the raw array (as in micrograd and DeZero): write
    ``x.data`` where PyTorch code writes ``x.detach()`` and then wants an array.
    """

    __array_priority__ = 1000  # NumPy defers `array + tensor` to Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        if isinstance(data, Tensor):
            data = data.data
        if isinstance(data, np.generic):  # a NumPy scalar (NumPy reductions make them)
            data = np.asarray(data)
        elif not backend.is_array(data):  # Python data: bools bool, ints int64, else float32
            data = np.asarray(data)
            dtype = dtype or {"b": np.bool_, "i": np.int64}.get(data.dtype.kind, np.float32)
        dtype = data.dtype if dtype is None else np.dtype(getattr(dtype, "numpy", dtype))
        if data.dtype != dtype:
            data = data.astype(dtype)
        if requires_grad and dtype.kind != "f":
            raise RuntimeError(f"only floating-point tensors can require gradients, "
                               f"got {dtype} (convert with .float() first)")
        self.version = -1  # how often .data was replaced (an optimizer step replaces it)
        self.data = data if device is None else backend.to_device(data, device)
        self.grad = None
        self.requires_grad = requires_grad
        self._fn = None  # the Function that produced this tensor, if recorded

    @property
    def data(self):
        """The array (NumPy or CuPy)."""
        return self._array

    @data.setter
    def data(self, array):
        self._array, self.version = array, self.version + 1

    @staticmethod
    def wrap(array):
        """``array`` as a plain Tensor, no copy (how ops make their outputs)."""
        return Tensor(array)

    # ----- what a PyTorch user expects to read off a tensor -----
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: self.data.dtype)
    grad_fn = property(lambda self: self._fn, doc="The Function that made this tensor (None: a leaf).")
    is_leaf = property(lambda self: self._fn is None)

    @property
    def device(self):
        """Where the data lives, as ``minigrad.device`` (equal to 'cpu', or to 'gpu'/'cuda')."""
        return devices.device(backend.device_of(self.data))

    def __len__(self):
        return len(self.data)

    # ----- copies, casts, devices -----
    def detach(self):
        """The same data, cut off from the graph (no copy)."""
        return Tensor(self.data)

    def to(self, *args, dtype=None, device=None):
        """``to(device)``, ``to(dtype)`` or both: 'cpu', 'gpu'/'cuda' or minigrad.device;
        minigrad.float32 etc. or a NumPy dtype. Recorded on the tape."""
        for arg in args:
            if isinstance(arg, Tensor):
                dtype, device = arg.dtype, arg.device
            elif isinstance(arg, str):  # a device name or minigrad.device
                device = arg
            else:
                dtype = arg
        result = self
        if device is not None:
            name = backend.validate_device(str(device))
            if name != backend.device_of(self.data):
                result = ToDevice.apply(result, device=name)
        if dtype is not None:
            result = result.type(dtype)
        return result

    # ----- gradients -----
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

    # ----- operators and methods: each one IS an op's function ----------------------------
    # ``x * y`` calls ``elementwise.mul(x, y)``: a function stored on the class becomes a
    # method, the tensor its first argument. Go-to-definition on ``mul`` leads to the op.
    __add__ = __radd__ = elementwise.add  # a + b = b + a
    __mul__ = __rmul__ = elementwise.mul
    __sub__ = elementwise.sub
    __truediv__ = elementwise.div
    __pow__ = elementwise.pow
    __neg__ = elementwise.neg
    __matmul__ = linalg.matmul
    __getitem__ = shape_ops.getitem
    exp, log, relu = elementwise.exp, elementwise.log, elementwise.relu
    maximum, minimum, clamp = elementwise.maximum, elementwise.minimum, elementwise.clamp
    sum, mean, max, amax = reduce.sum, reduce.mean, reduce.max, reduce.amax
    reshape, transpose = shape_ops.reshape, shape_ops.transpose
    permute, flatten = shape_ops.permute, shape_ops.flatten

    def __rsub__(self, other):  # other − self: the tensor comes second
        return elementwise.sub(other, self)

    def __rtruediv__(self, other):
        return elementwise.div(other, self)

    def __rpow__(self, base):
        return elementwise.pow(base, self)

    def __rmatmul__(self, other):
        return linalg.matmul(other, self)

    @property
    def T(self):
        """All dimensions reversed, as NumPy's .T."""
        return shape_ops.permute(self, *reversed(range(self.ndim)))


class ToDevice(Function):
    """y = x, copied to another device.   dy/dx = 1: the gradient is copied back."""

    def forward(self, x, device):
        self.source = backend.device_of(x)
        return backend.to_device(x, device)

    def backward(self, grad_out):
        return (backend.to_device(grad_out, self.source),)
