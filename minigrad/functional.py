"""The functional API: ``import minigrad.functional as F``.

Every op as a lowercase function of tensors, re-exported by name from
``minigrad.ops``, and below them the functions that are compositions of ops
(``unsqueeze``, ``stack``, ``min``, the regression losses …): no new math, so no
Function of their own.
"""
import numpy as np

from minigrad.autograd import ShapeError, is_tensor
from minigrad.checks import dim_index
from minigrad.memory import conv2d
from minigrad.ops.batchnorm import batch_norm
from minigrad.ops.compare import argmax, argmin
from minigrad.ops.conv import conv_output_size, fold, unfold
from minigrad.ops.elementwise import (
    abs,
    add,
    clamp,
    div,
    dropout,
    exp,
    log,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    sqrt,
    sub,
    tanh,
    where,
)
from minigrad.ops.linalg import linear, matmul
from minigrad.ops.loss import (
    binary_cross_entropy_with_logits,
    cross_entropy,
    log_softmax,
    nll_loss,
    softmax,
)
from minigrad.ops.pool import (
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
    avg_pool2d,
    global_avg_pool2d,
    global_max_pool2d,
    max_pool2d,
)
from minigrad.ops.reduce import MaxResult, amax, max, mean, sum
from minigrad.ops.shape import cat, expand, flatten, getitem, permute, reshape, transpose

__all__ = [
    "abs", "adaptive_avg_pool2d", "adaptive_max_pool2d", "add", "amax", "amin", "argmax",
    "argmin", "avg_pool2d", "batch_norm", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "cat", "clamp", "conv2d", "conv_output_size",
    "cross_entropy", "div", "dropout", "exp", "expand", "flatten", "fold", "getitem",
    "global_avg_pool2d", "global_max_pool2d", "l1_loss", "linear", "log", "log_softmax", "matmul",
    "max", "max_pool2d", "maximum", "mean", "min", "minimum", "mse_loss", "mul", "neg",
    "nll_loss", "one_hot", "permute", "pow", "relu", "reshape", "sigmoid", "softmax", "sqrt",
    "squeeze", "stack", "std", "sub", "sum", "tanh", "transpose", "unfold", "unsqueeze", "var",
    "where",
]


# ----- compositions of the ops --------------------------------------------------------------

def unsqueeze(x, dim):
    """``x`` with a new dim of size 1 at ``dim`` (which may be x.ndim, or −1 for the end)."""
    if not -x.ndim - 1 <= dim <= x.ndim:
        raise IndexError(f"unsqueeze: dim {dim} is out of range for a tensor with {x.ndim} dims "
                         f"(expected {-x.ndim - 1} to {x.ndim})")
    dim = dim % (x.ndim + 1)
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


def squeeze(x, dim=None):
    """``x`` without its dims of size 1 (only ``dim``, an int or tuple, if given; a named
    dim of another size stays, as in PyTorch)."""
    dims = range(x.ndim) if dim is None else (dim,) if isinstance(dim, int) else dim
    dropped = {dim_index("squeeze", d, x.ndim) for d in dims} if x.ndim else set()
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in dropped or n != 1))


def stack(tensors, dim=0):
    """The tensors, all of one shape, stacked along a new dim ``dim``, as ``torch.stack``."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    if any(t.shape != tensors[0].shape for t in tensors):
        raise ShapeError(f"stack: expected tensors of one shape, got "
                         f"{[t.shape for t in tensors]}")
    dim = dim_index("stack", dim, tensors[0].ndim + 1)
    return cat([unsqueeze(t, dim) for t in tensors], dim)


def amin(x, dim=None, keepdim=False):
    """The smallest elements over ``dim``: −amax(−x), so ties share the gradient."""
    return neg(amax(neg(x), dim, keepdim))


def min(x, dim=None, keepdim=False):
    """:func:`max` of −x, negated: ``min(x)``, ``min(x, dim)`` → ``MaxResult(values,
    indices)`` of the first minimum, ``min(x, other)`` the elementwise ``minimum``."""
    if is_tensor(dim):
        return minimum(x, dim)
    result = max(neg(x), dim, keepdim)
    if dim is None:
        return neg(result)
    return MaxResult(neg(result.values), result.indices)


def one_hot(labels, num_classes, xp=np):
    """(N,) integer labels → (N, C) float32 one-hot rows, in the array module ``xp``."""
    labels = xp.asarray(labels)
    return (labels[:, None] == xp.arange(num_classes)).astype(np.float32)


def var(x, dim=None, keepdim=False, *, unbiased=True, correction=None):
    """Σ (x − mean)² / (n − correction) over ``dim`` (correction 1 unless ``unbiased`` is
    False), as ``torch.var``; made of ops, so its gradient comes from theirs."""
    correction = (1 if unbiased else 0) if correction is None else correction
    dims = range(x.ndim) if dim is None else (dim,) if isinstance(dim, int) else dim
    count = 1
    for d in dims:
        count *= x.shape[d]
    centred = x - mean(x, dim, keepdim=True)
    return sum(centred * centred, dim, keepdim) / (count - correction)


def std(x, dim=None, keepdim=False, *, unbiased=True, correction=None):
    """√var, as ``torch.std``."""
    return sqrt(var(x, dim, keepdim, unbiased=unbiased, correction=correction))


REDUCTIONS = ("mean", "sum", "none")


def _reduced(losses, reduction, op):
    """PyTorch's ``reduction``: 'mean', 'sum' or 'none' (every element's loss)."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if reduction == "none":
        return losses
    return sum(losses) if reduction == "sum" else mean(losses)


def _checked_target(op, input, target):
    if target.shape != input.shape:
        raise ValueError(f"{op}: target shape {target.shape} differs from the input shape "
                         f"{input.shape} (PyTorch would broadcast with a warning)")
    return target


def mse_loss(input, target, reduction="mean"):
    """(input − target)², then ``reduction``; made of elementwise ops, as its gradient."""
    difference = input - _checked_target("mse_loss", input, target)
    return _reduced(difference * difference, reduction, "mse_loss")


def l1_loss(input, target, reduction="mean"):
    """|input − target|, then ``reduction``."""
    return _reduced(abs(input - _checked_target("l1_loss", input, target)), reduction,
                    "l1_loss")


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """−w·(t·log p + (1 − t)·log(1 − p)) for probabilities p = ``input``; each log is
    clamped at −100, as PyTorch, so p = 0 or 1 gives a finite loss."""
    _checked_target("binary_cross_entropy", input, target)
    log_p = clamp(log(input), min=-100)
    log_not_p = clamp(log(1 - input), min=-100)
    losses = -(target * log_p + (1 - target) * log_not_p)
    if weight is not None:
        losses = losses * weight
    return _reduced(losses, reduction, "binary_cross_entropy")
