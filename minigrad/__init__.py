"""minigrad: a from-scratch tensor-and-tape autodiff engine on NumPy or CuPy.

Read it in this order: backend.py, autograd.py, ops/ (elementwise, reduce,
shape, linalg, compare, conv, pool, loss, batchnorm), tensor.py, nn/, optim/,
models.py.

As in PyTorch, ``import minigrad`` also brings ``minigrad.nn``,
``minigrad.optim``, ``minigrad.functional`` (also ``minigrad.nn.functional``) and
``minigrad.utils.data``; ``minigrad.save`` / ``minigrad.load`` keep a state dict in
an ``.npz`` file (never pickle). The top-level names below are PyTorch's, so that a
PyTorch program runs with ``import minigrad as torch``.
"""
from minigrad import accelerator, cuda, functional, memory, nn, optim, utils
from minigrad.autograd import ShapeError, is_grad_enabled, no_grad
from minigrad.backend import DeviceMismatchError, GPUUnavailableError, manual_seed
from minigrad.checkpoint import load, save
from minigrad.creation import (
    Generator,
    arange,
    empty,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from minigrad.devices import device
from minigrad.dtypes import (
    bool,
    double,
    float,
    float16,
    float32,
    float64,
    half,
    int,
    int8,
    int16,
    int32,
    int64,
    long,
    short,
    uint8,
)
from minigrad.functional import (
    abs,
    argmax,
    argmin,
    cat,
    clamp,
    exp,
    flatten,
    log,
    log_softmax,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    relu,
    sigmoid,
    softmax,
    sqrt,
    squeeze,
    stack,
    std,
    sum,
    tanh,
    unsqueeze,
    var,
    where,
)
from minigrad.ops.compare import eq, ge, gt, le, lt, ne
from minigrad.tensor import Tensor

__all__ = [
    "DeviceMismatchError", "GPUUnavailableError", "Generator", "ShapeError", "Tensor", "abs", "accelerator",
    "arange", "argmax", "argmin", "bool", "cat", "clamp", "cuda", "device", "double", "empty",
    "eq", "exp", "flatten", "float", "float16", "float32", "float64", "from_numpy", "full",
    "full_like", "functional", "ge", "gt", "half", "int", "int8", "int16", "int32", "int64",
    "is_grad_enabled", "le", "linspace", "load", "log", "log_softmax", "long", "lt",
    "manual_seed", "matmul", "memory", "max", "maximum", "mean", "min", "minimum", "ne", "nn", "no_grad",
    "ones", "ones_like", "optim", "rand", "randint", "randn", "randperm", "relu", "save",
    "short", "sigmoid", "softmax", "sqrt", "squeeze", "stack", "std", "sum", "tanh", "tensor", "uint8",
    "unsqueeze", "utils", "var", "where", "zeros", "zeros_like",
]
__version__ = "0.1.0"
