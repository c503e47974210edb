"""Elementwise ops. Binary ops broadcast like NumPy and sum each gradient
back to its input's shape (``unbroadcast``)."""
import numpy as np

from minigrad.backend import get_array_module
from minigrad.tensor import Function, unbroadcast

__all__ = ["add", "div", "exp", "log", "mul", "neg", "pow", "relu", "sub"]


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


class Pow(Function):
    """y = x ** p for a constant number p.   dy/dx = p · x^(p-1)."""

    def forward(self, x, exponent):
        self.x, self.exponent = x, exponent
        return x ** exponent

    def backward(self, grad_out):
        p = self.exponent
        if p == 0:  # y = 1: no gradient (and no 0 · 0⁻¹ = NaN at x = 0)
            return (grad_out * 0,)
        return (grad_out * p * self.x ** (p - 1),)


class Exp(Function):
    """y = eˣ.   dy/dx = eˣ = y."""

    def forward(self, x):
        self.y = get_array_module(x).exp(x)
        return self.y

    def backward(self, grad_out):
        return (grad_out * self.y,)


class Log(Function):
    """y = ln x.   dy/dx = 1/x."""

    def forward(self, x):
        self.x = x
        return get_array_module(x).log(x)

    def backward(self, grad_out):
        return (grad_out / self.x,)


class ReLU(Function):
    """y = max(x, 0).   dy/dx = 1 where x > 0, else 0."""

    def forward(self, x):
        xp = get_array_module(x)
        y = xp.maximum(x, xp.zeros_like(x))  # (an array of zeros: NumPy's fast path)
        self.positive = y > 0
        return y

    def backward(self, grad_out):
        return (grad_out * self.positive,)


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


def pow(x, exponent):
    if isinstance(exponent, bool) or not isinstance(exponent, (int, float, np.integer, np.floating)):
        raise TypeError(f"pow: the exponent must be a number, got {type(exponent).__name__}")
    # A Python number, so a NumPy float64 exponent cannot promote float32 data.
    exponent = int(exponent) if isinstance(exponent, (int, np.integer)) else float(exponent)
    return Pow.apply(x, exponent=exponent)


def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def relu(x):
    return ReLU.apply(x)
