"""Losses, with PyTorch's shapes: input (N, C), (C,) or (N, C, d1, …), classes on axis 1.

Both classification losses are one formula per sample: loss = −Σ_c q_c · log p_c,
log p given (``nll_loss``) or log_softmax(x) = x − m − log Σ exp(x − m), m = max x
(``cross_entropy``). q comes from the target, class weights w and smoothing ε::

    a class label y:      q = (1 − ε)·w_y at class y  +  ε·w_c / C at every class c
                          (q = 0 when y equals ignore_index)
    class probabilities:  q = w_c · ((1 − ε)·target_c + ε / C)

'mean' divides the sum by Σ w_y over the labels kept (the sample count for
probabilities), as PyTorch. Through log_softmax, dx = softmax(x)·Σ_c q_c − q.
"""
import math

import numpy as np

from minigrad import backend
from minigrad.autograd import Function, ShapeError, is_tensor
from minigrad.backend import get_array_module
from minigrad.checks import (
    broadcast_constant,
    check_loss_options,
    check_same_dtype,
    checked_labels,
    class_dim,
    constant_on_device,
    dim_index,
)
from minigrad.ops import reduce
from minigrad.ops.shape import reshape

__all__ = ["BinaryCrossEntropyWithLogits", "LogSoftmax", "NegativeLogLikelihood", "Softmax",
           "binary_cross_entropy_with_logits", "cross_entropy", "log_softmax", "nll_loss",
           "softmax"]

def _log_softmax(x, dim):
    """log softmax on raw arrays: x − max − log Σ exp(x − max)."""
    xp = get_array_module(x)
    if x.shape[dim] == 0:  # nothing to normalise (and no maximum to subtract)
        return x.copy()
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))


class LogSoftmax(Function):
    """y = x − log Σⱼ exp xⱼ along ``dim``.   dx = dy − softmax(x) · Σⱼ dyⱼ."""

    def forward(self, x, dim):
        self.dim = dim
        self.y = _log_softmax(x, dim)
        return self.y

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        softmax = xp.exp(self.y)
        return (grad_out - softmax * grad_out.sum(axis=self.dim, keepdims=True),)


class Softmax(Function):
    """y = exp(x − m) / Σⱼ exp(xⱼ − m) along ``dim``, m = max x (no overflow).
    dx = y · (dy − Σⱼ dyⱼ·yⱼ)."""

    def forward(self, x, dim):
        xp = get_array_module(x)
        self.dim = dim
        if x.shape[dim] == 0:
            self.y = x.copy()
        else:
            shifted = xp.exp(x - x.max(axis=dim, keepdims=True))
            self.y = shifted / shifted.sum(axis=dim, keepdims=True)
        return self.y

    def backward(self, grad_out):
        return (self.y * (grad_out - (grad_out * self.y).sum(axis=self.dim, keepdims=True)),)


class NegativeLogLikelihood(Function):
    """loss = −Σ_c q_c · log p_c along ``dim``.   d/d(log p) = −q · dy;  d/dq = −log p · dy."""

    def forward(self, log_probs, q, dim):
        self.dim, self.q = dim, q
        self.log_probs = log_probs if self.needs_grad[1] else None
        return -(q * log_probs).sum(axis=dim)

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        grad = xp.expand_dims(grad_out, self.dim)
        grad_q = None if self.log_probs is None else -self.log_probs * grad
        # Where q = 0 the loss does not depend on log p: gradient 0, even when dy is not
        # finite (the 'mean' over labels that are all ignored is 0/0), as in PyTorch.
        return xp.where(self.q != 0, -self.q * grad, 0), grad_q


class BinaryCrossEntropyWithLogits(Function):
    """loss = w·[(1 − t)·s(x) + pw·t·s(−x)].   dx = w·[(1 − t)·σ(x) − pw·t·σ(−x)].

    s(z) = log(1 + eᶻ); dt = w·[pw·s(−x) − s(x)]. s is computed from e^−|x| ≤ 1 and
    σ(±x) = e^−s(∓x), so huge logits never overflow.
    """

    def forward(self, x, target, weight, pos_weight):
        xp = get_array_module(x)
        self.target, self.weight, self.pos_weight = target, weight, pos_weight
        tail = xp.log1p(xp.exp(-xp.abs(x)))                     # log(1 + e^−|x|)
        self.softplus, self.softplus_neg = xp.maximum(x, 0) + tail, xp.maximum(-x, 0) + tail
        loss = (1 - target) * self.softplus + pos_weight * target * self.softplus_neg
        return loss * weight

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        target, pos_weight, grad = self.target, self.pos_weight, grad_out * self.weight
        sigmoid, sigmoid_neg = xp.exp(-self.softplus_neg), xp.exp(-self.softplus)
        grad_x = ((1 - target) * sigmoid - pos_weight * target * sigmoid_neg) * grad
        grad_target = None
        if self.needs_grad[1]:
            grad_target = (pos_weight * self.softplus_neg - self.softplus) * grad
        return grad_x, grad_target


def _target_tensor(op, target, input):
    """A floating target as a tensor of the input's dtype (a tensor is kept, with its graph)."""
    if not is_tensor(target):
        return input.wrap(constant_on_device(op, "target", target, input))
    check_same_dtype(op, {"the target": target, "the input": input})
    return target


def _class_weights(op, weight, input, dim):
    """The class weights w as (C, 1, …, 1), to broadcast along the class axis; all 1 if None."""
    xp = get_array_module(input.data)
    classes = input.shape[dim]
    if weight is None:
        weight = xp.ones(classes, dtype=input.dtype)
    else:
        weight = constant_on_device(op, "weight", weight, input)
        if weight.shape != (classes,):
            raise ShapeError(f"{op}: weight must hold one weight per class, shape ({classes},), "
                             f"got shape {weight.shape}")
    return weight.reshape((classes,) + (1,) * (input.ndim - dim - 1))


# ----- the target distribution q -------------------------------------------------------------

def _label_targets(op, input, target, weight, ignore_index, smoothing):
    """(q, Σ w_y over the labels kept) for class labels; see the module docstring."""
    xp = get_array_module(input.data)
    dim = class_dim(op, input)
    classes = input.shape[dim]
    labels = checked_labels(op, target, input, dim, ignore_index)
    kept = xp.expand_dims(labels != ignore_index, dim)
    class_ids = xp.arange(classes).reshape((classes,) + (1,) * (input.ndim - dim - 1))
    onehot = ((xp.expand_dims(labels, dim) == class_ids) & kept).astype(input.dtype)
    weight = _class_weights(op, weight, input, dim)
    q = onehot * weight
    denominator = q.sum()
    if smoothing:
        q = (1 - smoothing) * q + (smoothing / classes) * (kept * weight)
    return q, denominator


def _probability_targets(op, input, target, weight, smoothing):
    """(q, number of samples) for class probabilities; q is a tensor, so a target that
    requires grad gets its gradient through it."""
    dim = class_dim(op, input)
    q = _target_tensor(op, target, input)
    if smoothing:
        q = q * (1 - smoothing) + smoothing / input.shape[dim]
    if weight is not None:
        q = q * _class_weights(op, weight, input, dim)
    return q, math.prod(input.shape[:dim] + input.shape[dim + 1:])


def _reduce(losses, reduction, denominator):
    """'none': the losses; 'sum': their sum; 'mean': their sum / denominator."""
    if reduction == "none":
        return losses
    total = reduce.sum(losses)
    return total if reduction == "sum" else total / denominator


# ----- the functions users call --------------------------------------------------------------

def log_softmax(x, dim=-1, dtype=None):
    """log softmax(x) along ``dim``: x − log Σ exp x, computed without overflow.
    ``dtype`` may only repeat x's dtype: minigrad has no differentiable cast."""
    if dtype is not None and np.dtype(dtype) != x.dtype:
        raise TypeError(f"log_softmax: dtype={dtype} differs from the input's {x.dtype}; "
                        "minigrad does not cast inside an op (make the input that dtype)")
    dim = dim_index("log_softmax", dim, x.ndim)
    if x.ndim == 0:   # as PyTorch: one element along dim 0, so log softmax is 0
        return reshape(LogSoftmax.apply(reshape(x, 1), dim=0))
    return LogSoftmax.apply(x, dim=dim)


def softmax(x, dim=-1):
    """softmax(x) along ``dim``: exp x / Σ exp x, computed without overflow."""
    dim = dim_index("softmax", dim, x.ndim)
    if x.ndim == 0:   # one element: softmax is 1
        return reshape(Softmax.apply(reshape(x, 1), dim=0))
    return Softmax.apply(x, dim=dim)


def nll_loss(input, target, weight=None, *, ignore_index=-100, reduction="mean"):
    """−(weighted) log-probability of each sample's label; ``input`` holds log-probabilities
    (N, C), (C,) or (N, C, d1, …), ``target`` integer labels of the other axes."""
    check_loss_options("nll_loss", reduction)
    dim = class_dim("nll_loss", input)
    q, denominator = _label_targets("nll_loss", input, target, weight, ignore_index, 0.0)
    return _reduce(NegativeLogLikelihood.apply(input, q, dim=dim), reduction, denominator)


def cross_entropy(input, target, weight=None, *, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Cross-entropy of softmax(input) against integer labels or class probabilities
    (a floating target shaped like the input), with PyTorch's arguments and semantics.

    The plain case, N labels y, no weights, no smoothing, 'mean':
    loss = −(1/N) Σₙ log softmax(xₙ)[yₙ], and its gradient is dx = (softmax(x) − onehot(y)) / N.
    """
    check_loss_options("cross_entropy", reduction, label_smoothing)
    dim = class_dim("cross_entropy", input)
    data = target.data if is_tensor(target) else target
    # PyTorch's rule: a floating target shaped like the input holds class probabilities.
    if backend.is_array(data) and data.dtype.kind == "f" and data.shape == input.shape:
        if ignore_index != -100:
            raise ValueError("cross_entropy: ignore_index is not supported for class-"
                             "probability targets")
        q, denominator = _probability_targets("cross_entropy", input, target, weight,
                                              label_smoothing)
    else:
        q, denominator = _label_targets("cross_entropy", input, target, weight, ignore_index,
                                        label_smoothing)
    losses = NegativeLogLikelihood.apply(log_softmax(input, dim), q, dim=dim)
    return _reduce(losses, reduction, denominator)


def binary_cross_entropy_with_logits(input, target, weight=None, *, reduction="mean",
                                     pos_weight=None):
    """Binary cross-entropy of sigmoid(input) against ``target`` (same shape), with
    element weights ``weight`` and positive-class weights ``pos_weight`` broadcast
    against the input, as in PyTorch. A target that requires grad gets its gradient."""
    op = "binary_cross_entropy_with_logits"
    check_loss_options(op, reduction)
    target = _target_tensor(op, target, input)
    if target.shape != input.shape:
        raise ShapeError(f"{op}: target shape {target.shape} differs from the input shape "
                         f"{input.shape}")
    weight = broadcast_constant(op, "weight", weight, input, "element weights")
    pos_weight = broadcast_constant(op, "pos_weight", pos_weight, input,
                                     "one weight per class, along the last axis")
    losses = BinaryCrossEntropyWithLogits.apply(
        input, target, weight=1 if weight is None else weight,
        pos_weight=1 if pos_weight is None else pos_weight)
    return _reduce(losses, reduction, losses.numel())
