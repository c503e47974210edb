"""The functional API: ``import minigrad.functional as F``.

Every op as a lowercase function of tensors, re-exported by name from
``minigrad.ops``.
"""
from minigrad.ops.batchnorm import batch_norm
from minigrad.ops.compare import argmax, argmin
from minigrad.ops.conv import conv2d, conv_output_size, fold, unfold
from minigrad.ops.elementwise import (abs, add, clamp, div, dropout, exp, log, maximum, minimum,
                                     mul, neg, pow, relu, sigmoid, sub, tanh, where)
from minigrad.ops.linalg import linear, matmul
from minigrad.ops.loss import (binary_cross_entropy_with_logits, cross_entropy, log_softmax,
                               nll_loss, one_hot, softmax)
from minigrad.ops.pool import (adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d,
                               global_avg_pool2d, global_max_pool2d, max_pool2d)
from minigrad.ops.reduce import amax, amin, max, mean, min, sum
from minigrad.ops.shape import cat, flatten, getitem, permute, reshape, stack, transpose

__all__ = [
    "abs", "adaptive_avg_pool2d", "adaptive_max_pool2d", "add", "amax", "amin", "argmax",
    "argmin", "avg_pool2d", "batch_norm", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "cat", "clamp", "conv2d", "conv_output_size",
    "cross_entropy", "div", "dropout", "exp", "flatten", "fold", "getitem", "global_avg_pool2d",
    "global_max_pool2d", "l1_loss", "linear", "log", "log_softmax", "matmul", "max",
    "max_pool2d", "maximum", "mean", "min", "minimum", "mse_loss", "mul", "neg", "nll_loss",
    "one_hot", "permute", "pow", "relu", "reshape", "sigmoid", "softmax", "stack", "sub", "sum",
    "tanh", "transpose", "unfold", "where",
]

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
