"""Tensor: an array plus ``grad``, ``requires_grad`` and ``grad_fn``. Every method that
computes is one line calling an op of minigrad.ops, so go-to-definition leads from
``x * y`` to ``elementwise.mul`` and on to ``Mul.forward``; the tape itself is in
autograd.py, read before this file.
"""
import numpy as np

from minigrad import backend, devices
from minigrad.autograd import Function, backpropagate
from minigrad.ops import compare, elementwise, linalg, loss, reduce, shape

__all__ = ["Tensor", "ToDevice", "tensor"]


def _default_dtype(data):
    """PyTorch's inference: bools stay bool, integers int64, other numbers float32."""
    kind = np.asarray(data).dtype.kind
    return {"b": np.bool_, "i": np.int64, "u": np.int64}.get(kind, np.float32)


class Tensor:
    """An array (``data``, NumPy or CuPy) plus ``grad`` (a raw array of its shape, None
    until backward reaches it), ``requires_grad`` and ``grad_fn``, the op that made it.

    Unlike PyTorch, ``data`` is the raw array (as in micrograd and DeZero): write
    ``x.data`` where PyTorch code writes ``x.detach()`` and then wants an array.
    """

    __array_priority__ = 1000  # NumPy defers `array + tensor` to Tensor.__radd__
    __hash__ = object.__hash__  # `==` makes a tensor of truth values, so hash by identity

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        if isinstance(data, Tensor):
            data = data.data
        if isinstance(data, np.generic):  # a NumPy scalar (NumPy reductions make them)
            data = np.asarray(data)
        elif not backend.is_array(data):   # Python numbers and lists, inferred as PyTorch
            dtype = dtype or _default_dtype(data)
            data = np.asarray(data)
        dtype = data.dtype if dtype is None else np.dtype(getattr(dtype, "numpy", dtype))
        if data.dtype != dtype:
            data = data.astype(dtype)
        if requires_grad and dtype.kind != "f":
            raise RuntimeError(f"only floating-point tensors can require gradients, "
                               f"got {dtype} (convert with .float() first)")
        self.data = data if device is None else backend.to_device(data, device)
        self.grad = None
        self.requires_grad = requires_grad
        self._fn = None  # the Function that produced this tensor, if recorded

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

    def size(self, dim=None):
        """The shape, or the size of dimension ``dim`` (``numel()`` counts elements)."""
        return self.shape if dim is None else self.shape[shape.dim_index("size", dim, self.ndim)]

    def numel(self):
        return self.data.size

    def dim(self):
        return self.data.ndim

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        body = backend.to_device(self.data, "cpu")
        return f"tensor({np.array2string(body, prefix='tensor(')}, device='{self.device}'{grad})"

    # ----- to Python and NumPy -----
    def numpy(self):
        """A host (NumPy) copy of the data."""
        return np.array(backend.to_device(self.data, "cpu"))

    def tolist(self):
        return self.numpy().tolist()

    def item(self):
        """The single element as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.reshape(()).item()

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

    # ----- copies, casts, devices -----
    def detach(self):
        """The same data, cut off from the graph (no copy)."""
        return Tensor(self.data)

    def clone(self):
        """A copy of the data, on the tape (its gradient flows back to this tensor)."""
        return elementwise.add(self, 0) if self.dtype.kind == "f" else Tensor(self.data.copy())

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

    def type(self, dtype):
        """This tensor as ``dtype``; float to float is on the tape, anything else is not."""
        dtype = np.dtype(getattr(dtype, "numpy", dtype))
        if dtype == self.dtype:
            return self
        if dtype.kind == "f" and self.dtype.kind == "f":
            return elementwise.cast(self, dtype)
        return Tensor(self.data.astype(dtype))

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

    # ----- gradients -----
    def zero_grad(self):
        """Forget the accumulated gradient."""
        self.grad = None

    def requires_grad_(self, requires_grad=True):
        """Switch ``requires_grad`` of this leaf in place, as PyTorch."""
        if requires_grad and self.dtype.kind != "f":
            raise RuntimeError(f"only floating-point tensors can require gradients, got {self.dtype}")
        self.requires_grad = requires_grad
        return self

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

    # ----- operators: each one an op of minigrad.ops -----
    def __add__(self, other):
        return elementwise.add(self, other)

    def __radd__(self, other):
        return elementwise.add(other, self)

    def __sub__(self, other):
        return elementwise.sub(self, other)

    def __rsub__(self, other):
        return elementwise.sub(other, self)

    def __mul__(self, other):
        return elementwise.mul(self, other)

    def __rmul__(self, other):
        return elementwise.mul(other, self)

    def __truediv__(self, other):
        return elementwise.div(self, other)

    def __rtruediv__(self, other):
        return elementwise.div(other, self)

    def __pow__(self, exponent):
        return elementwise.pow(self, exponent)

    def __rpow__(self, base):
        return elementwise.pow(base, self)

    def __neg__(self):
        return elementwise.neg(self)

    def __matmul__(self, other):
        return linalg.matmul(self, other)

    def __rmatmul__(self, other):
        return linalg.matmul(other, self)

    def __getitem__(self, index):
        return shape.getitem(self, index)

    def __eq__(self, other):
        return compare.eq(self, other)

    def __ne__(self, other):
        return compare.ne(self, other)

    def __lt__(self, other):
        return compare.lt(self, other)

    def __le__(self, other):
        return compare.le(self, other)

    def __gt__(self, other):
        return compare.gt(self, other)

    def __ge__(self, other):
        return compare.ge(self, other)

    # ----- methods: each one an op of minigrad.ops -----
    def exp(self):
        return elementwise.exp(self)

    def log(self):
        return elementwise.log(self)

    def relu(self):
        return elementwise.relu(self)

    def sigmoid(self):
        return elementwise.sigmoid(self)

    def tanh(self):
        return elementwise.tanh(self)

    def maximum(self, other):
        return elementwise.maximum(self, other)

    def minimum(self, other):
        return elementwise.minimum(self, other)

    def clamp(self, min=None, max=None):
        return elementwise.clamp(self, min, max)

    def sum(self, dim=None, keepdim=False):
        return reduce.sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim=False):
        return reduce.mean(self, dim, keepdim)

    def max(self, dim=None, keepdim=False):
        return reduce.max(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return reduce.min(self, dim, keepdim)

    def amax(self, dim=None, keepdim=False):
        return reduce.amax(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return compare.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return compare.argmin(self, dim, keepdim)

    def eq(self, other):
        return compare.eq(self, other)

    def ne(self, other):
        return compare.ne(self, other)

    def lt(self, other):
        return compare.lt(self, other)

    def le(self, other):
        return compare.le(self, other)

    def gt(self, other):
        return compare.gt(self, other)

    def ge(self, other):
        return compare.ge(self, other)

    def softmax(self, dim):
        return loss.softmax(self, dim)

    def log_softmax(self, dim):
        return loss.log_softmax(self, dim)

    def reshape(self, *sizes):
        return shape.reshape(self, *sizes)

    def view(self, *sizes):
        """``reshape`` (minigrad's reshape copies only when it must, and never aliases)."""
        return shape.reshape(self, *sizes)

    def view_as(self, other):
        return shape.reshape(self, other.shape)

    def transpose(self, dim0, dim1):
        return shape.transpose(self, dim0, dim1)

    def permute(self, *dims):
        return shape.permute(self, *dims)

    def flatten(self, start_dim=0, end_dim=-1):
        return shape.flatten(self, start_dim, end_dim)

    def unsqueeze(self, dim):
        return shape.unsqueeze(self, dim)

    def squeeze(self, dim=None):
        return shape.squeeze(self, dim)

    def expand(self, *sizes):
        return shape.expand(self, *sizes)

    @property
    def T(self):
        """All dimensions reversed, as NumPy's .T."""
        return shape.permute(self, *reversed(range(self.ndim)))


def tensor(data, requires_grad=False, dtype=None, device=None):
    """A new :class:`Tensor` holding a copy of ``data``, as ``torch.tensor``: Python floats
    become float32, ints int64, bools bool; arrays and tensors keep their dtype."""
    if isinstance(data, Tensor):
        data = data.data
    if backend.is_array(data):
        data = data.copy()
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


class ToDevice(Function):
    """y = x, copied to another device.   dy/dx = 1: the gradient is copied back."""

    def forward(self, x, device):
        self.source = backend.device_of(x)
        return backend.to_device(x, device)

    def backward(self, grad_out):
        return (backend.to_device(grad_out, self.source),)
