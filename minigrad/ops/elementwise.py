"""Elementwise ops. Binary ops broadcast like NumPy and sum each gradient
back to its input's shape (``unbroadcast``). Where a derivative is undefined
(a tie, a boundary, NaN, 0 to a power) the gradient is PyTorch's."""
from minigrad import backend
from minigrad.autograd import Function, is_tensor, unbroadcast
from minigrad.backend import get_array_module

__all__ = ["abs", "add", "cast", "clamp", "div", "dropout", "exp", "log", "maximum", "minimum", "mul", "neg",
           "pow", "relu", "sigmoid", "sqrt", "sub", "tanh", "where"]


class Add(Function):
    """y = a + b.   dy/da = 1, dy/db = 1."""

    def forward(self, a, b):
        self.a_shape, self.b_shape = a.shape, b.shape
        return a + b

    def backward(self, grad_out):
        return unbroadcast(grad_out, self.a_shape), unbroadcast(grad_out, self.b_shape)


class Sub(Function):
    """y = a - b.   dy/da = 1, dy/db = -1."""

    def forward(self, a, b):
        self.a_shape, self.b_shape = a.shape, b.shape
        return a - b

    def backward(self, grad_out):
        grad_b = -unbroadcast(grad_out, self.b_shape) if self.needs_grad[1] else None
        return unbroadcast(grad_out, self.a_shape), grad_b


class Mul(Function):
    """y = a * b.   dy/da = b, dy/db = a."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, grad_out):
        grad_a = unbroadcast(grad_out * self.b, self.a.shape) if self.needs_grad[0] else None
        grad_b = unbroadcast(grad_out * self.a, self.b.shape) if self.needs_grad[1] else None
        return grad_a, grad_b


class Div(Function):
    """y = a / b.   dy/da = 1/b, dy/db = -a/b² = -y/b."""

    def forward(self, a, b):
        self.a_shape, self.b, self.y = a.shape, b, a / b
        return self.y

    def backward(self, grad_out):
        grad_a = unbroadcast(grad_out / self.b, self.a_shape) if self.needs_grad[0] else None
        grad_b = (unbroadcast(-grad_out * self.y / self.b, self.b.shape)
                  if self.needs_grad[1] else None)
        return grad_a, grad_b


class Neg(Function):
    """y = -x.   dy/dx = -1."""

    def forward(self, x):
        return -x

    def backward(self, grad_out):
        return (-grad_out,)


class Power(Function):
    """y = bᵉ.   dy/db = e·bᵉ⁻¹,   dy/de = bᵉ·ln b.

    As in PyTorch, dy/db = 0 where e = 0, and dy/de = 0 where b = 0 and e ≥ 0.
    """

    def forward(self, base, exponent):
        self.base, self.exponent = base, exponent
        self.y = base ** exponent
        return self.y

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        base, exponent = self.base, self.exponent
        grad_base = grad_exponent = None
        if self.needs_grad[0]:
            local = xp.where(exponent == 0, 0, exponent * base ** (exponent - 1))
            grad_base = unbroadcast(grad_out * local, base.shape)
        if self.needs_grad[1]:
            local = xp.where((base == 0) & (exponent >= 0), 0, self.y * xp.log(base))
            grad_exponent = unbroadcast(grad_out * local, exponent.shape)
        return grad_base, grad_exponent


class Absolute(Function):
    """y = |x|.   dy/dx = sign x (0 at x = 0 and at NaN, as PyTorch)."""

    def forward(self, x):
        self.sign = (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)
        return get_array_module(x).abs(x)

    def backward(self, grad_out):
        return (grad_out * self.sign,)


class Exp(Function):
    """y = eˣ.   dy/dx = eˣ = y."""

    def forward(self, x):
        self.y = get_array_module(x).exp(x)
        return self.y

    def backward(self, grad_out):
        return (grad_out * self.y,)


class SquareRoot(Function):
    """y = √x.   dy/dx = 1 / (2·y)."""

    def forward(self, x):
        self.y = get_array_module(x).sqrt(x)
        return self.y

    def backward(self, grad_out):
        return (grad_out / (2 * self.y),)


class Log(Function):
    """y = ln x.   dy/dx = 1/x."""

    def forward(self, x):
        self.x = x
        return get_array_module(x).log(x)

    def backward(self, grad_out):
        return (grad_out / self.x,)


class Sigmoid(Function):
    """y = 1 / (1 + e⁻ˣ).   dy/dx = y·(1 − y)."""

    def forward(self, x):
        xp = get_array_module(x)
        # e^(−|x|) never overflows: for x < 0, 1/(1 + e⁻ˣ) = eˣ/(1 + eˣ)
        small = xp.exp(-xp.abs(x))
        self.y = xp.where(x >= 0, 1 / (1 + small), small / (1 + small)).astype(x.dtype)
        return self.y

    def backward(self, grad_out):
        return (grad_out * self.y * (1 - self.y),)


class Tanh(Function):
    """y = tanh x.   dy/dx = 1 − y²."""

    def forward(self, x):
        self.y = get_array_module(x).tanh(x)
        return self.y

    def backward(self, grad_out):
        return (grad_out * (1 - self.y * self.y),)


class Rectifier(Function):
    """y = max(x, 0).   dy/dx = 0 where y ≤ 0, else 1 (so NaN passes, as in PyTorch)."""

    def forward(self, x):
        y = get_array_module(x).maximum(x, 0)  # NaN stays NaN
        self.passes = y != 0  # y is 0 or positive or NaN; NaN passes
        return y

    def backward(self, grad_out):
        return (grad_out * self.passes,)


class Maximum(Function):
    """y = max(a, b).   dy/da = 1 where a > b, dy/db = 1 where b > a; a tie gives each ½."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return get_array_module(a).maximum(a, b)

    def backward(self, grad_out):
        return _split_between(grad_out, self.a, self.b, self.a < self.b, self.b < self.a)


class Minimum(Function):
    """y = min(a, b).   dy/da = 1 where a < b, dy/db = 1 where b < a; a tie gives each ½."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return get_array_module(a).minimum(a, b)

    def backward(self, grad_out):
        return _split_between(grad_out, self.a, self.b, self.a > self.b, self.b > self.a)


class Dropout(Function):
    """y = x·m / (1 − p), m = 1 with probability 1 − p, else 0.   dy/dx = m / (1 − p)."""

    def forward(self, x, keep, p):
        self.scaled_mask = keep.astype(x.dtype) * x.dtype.type(1 / (1 - p))
        return x * self.scaled_mask

    def backward(self, grad_out):
        return (grad_out * self.scaled_mask,)


class Where(Function):
    """y = a where the condition holds, else b.   dy/da = [condition], dy/db = [not condition]."""

    def forward(self, a, b, condition):
        self.condition, self.a_shape, self.b_shape = condition, a.shape, b.shape
        return get_array_module(a).where(condition, a, b)

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        return (unbroadcast(xp.where(self.condition, grad_out, 0), self.a_shape),
                unbroadcast(xp.where(self.condition, 0, grad_out), self.b_shape))


class Cast(Function):
    """y = x as another floating dtype.   dy/dx = 1: the gradient is cast back."""

    def forward(self, x, dtype):
        self.x_dtype = x.dtype
        return x.astype(dtype)

    def backward(self, grad_out):
        return (grad_out.astype(self.x_dtype),)


def _split_between(grad_out, a, b, a_loses, b_loses):
    """The gradients of a and b for maximum/minimum: everything to the winner,
    half each on a tie, nothing to a loser (PyTorch's rule; NaN loses to nobody)."""
    xp = get_array_module(grad_out)
    shared = xp.where(a == b, grad_out / 2, grad_out)
    grad_a = unbroadcast(xp.where(a_loses, 0, shared), a.shape)
    grad_b = unbroadcast(xp.where(b_loses, 0, shared), b.shape)
    return grad_a, grad_b


class Clamp(Function):
    """y = min(max(x, lo), hi).   dy/dx = [lo ≤ x ≤ hi],  dy/dlo = [x < lo],  dy/dhi = [x > hi].

    As in PyTorch; when lo > hi, y = hi everywhere and hi takes the whole gradient.
    """

    def forward(self, x, lo, hi):
        xp = get_array_module(x)
        self.x, self.lo, self.hi = x, lo, hi
        return xp.minimum(xp.maximum(x, lo), hi)

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        x, lo, hi = self.x, self.lo, self.hi
        grad_x = xp.where((x >= lo) & (x <= hi), grad_out, 0)
        grad_lo = xp.where((x < lo) & (lo < hi), grad_out, 0)
        grad_hi = xp.where((x > hi) | (hi < lo), grad_out, 0)
        return (unbroadcast(grad_x, x.shape), unbroadcast(grad_lo, lo.shape),
                unbroadcast(grad_hi, hi.shape))


def add(a, b):
    return Add.apply(a, b)


def sub(a, b):
    return Sub.apply(a, b)


def mul(a, b):
    return Mul.apply(a, b)


def div(a, b):
    return Div.apply(a, b)


def neg(x):
    return Neg.apply(x)


def pow(base, exponent):
    """``base ** exponent``; either may be a number (it takes the tensor's dtype)."""
    return Power.apply(base, exponent)


def abs(x):
    return Absolute.apply(x)


def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def sqrt(x):
    return SquareRoot.apply(x)


def relu(x):
    return Rectifier.apply(x)


def sigmoid(x):
    return Sigmoid.apply(x)


def tanh(x):
    return Tanh.apply(x)


def dropout(x, p=0.5, training=True):
    """Zero each element with probability ``p`` and scale the rest by 1/(1 − p) when
    ``training``; the identity otherwise. The mask comes from the seeded host generator."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must lie in [0, 1], got {p}")
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0
    keep = backend.to_device(backend.host_rng().random(x.shape) >= p, backend.device_of(x.data))
    return Dropout.apply(x, keep=keep, p=p)


def where(condition, a, b):
    """``a`` where ``condition`` (a bool tensor or array) holds, else ``b``; either may be
    a number, as ``torch.where``."""
    mask = condition.data if is_tensor(condition) else condition
    if getattr(mask, "dtype", None) is None or mask.dtype.kind != "b":
        raise TypeError(f"where: the condition must be a bool tensor, got {type(condition).__name__}"
                        f" of dtype {getattr(mask, 'dtype', None)}")
    return Where.apply(a, b, condition=mask)


def cast(x, dtype):
    """``x`` as the floating ``dtype``, on the tape (``Tensor.float()``, ``.double()``)."""
    return Cast.apply(x, dtype=dtype)


def maximum(a, b):
    return Maximum.apply(a, b)


def minimum(a, b):
    return Minimum.apply(a, b)


def clamp(x, min=None, max=None):
    """Limit ``x`` to [min, max]; each bound a number, a tensor or None (no bound)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of 'min' and 'max' must be given")
    lower = -float("inf") if min is None else min
    upper = float("inf") if max is None else max
    return Clamp.apply(x, lower, upper)
