"""Losses: log_softmax, cross_entropy, binary cross-entropy with logits.

All are computed through log-sum-exp with the maximum subtracted, so logits
of ±1e4 neither overflow nor lose the answer.
"""
import numpy as np

from minigrad import backend
from minigrad.backend import get_array_module
from minigrad.tensor import Function, ShapeError, Tensor

__all__ = ["binary_cross_entropy_with_logits", "cross_entropy", "log_softmax", "one_hot"]


def _log_softmax(x, axis):
    """log softmax on raw arrays: x − max − log Σ exp(x − max)."""
    xp = get_array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


class LogSoftmax(Function):
    """y = x − log Σⱼ exp xⱼ.   dx = dy − softmax(x) · Σⱼ dyⱼ."""

    def forward(self, x, axis):
        self.axis = axis
        self.y = _log_softmax(x, axis)
        return self.y

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        softmax = xp.exp(self.y)
        return (grad_out - softmax * grad_out.sum(axis=self.axis, keepdims=True),)


class CrossEntropy(Function):
    """loss = −(1/N) Σₙ log softmax(xₙ)[tₙ].   dx = (softmax(x) − onehot(t)) / N."""

    def forward(self, logits, target):
        xp = get_array_module(logits)
        n = logits.shape[0]
        log_probs = _log_softmax(logits, axis=1)
        rows = xp.arange(n)
        self.target, self.log_probs = target, log_probs
        return -log_probs[rows, target].sum() / n

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        n = self.log_probs.shape[0]
        grad = xp.exp(self.log_probs)
        grad[xp.arange(n), self.target] -= 1
        return grad * (grad_out / n), None


class BCEWithLogits(Function):
    """loss = mean of max(x, 0) − x·t + log(1 + e^−|x|)  (= −t log σ(x) − (1−t) log(1−σ(x))).

    dx = (σ(x) − t) / (number of elements).
    """

    def forward(self, logits, target):
        xp = get_array_module(logits)
        self.logits, self.target = logits, target
        loss = xp.maximum(logits, 0) - logits * target + xp.log1p(xp.exp(-xp.abs(logits)))
        return loss.mean()

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        decay = xp.exp(-xp.abs(self.logits))  # ≤ 1, so it never overflows
        sigmoid = xp.where(self.logits >= 0, 1 / (1 + decay), decay / (1 + decay))
        return (sigmoid - self.target) * (grad_out / self.logits.size), None


def log_softmax(x, axis=-1):
    return LogSoftmax.apply(x, axis=axis)


def _labels(target, logits, op):
    """Integer labels checked on the host, then placed on the logits' device."""
    labels = target.data if isinstance(target, Tensor) else target
    host = np.asarray(backend.to_device(labels, "cpu"))
    n, classes = logits.shape
    if host.shape != (n,):
        raise ShapeError(f"{op}: expected {n} labels for logits of shape {logits.shape}, "
                         f"got labels of shape {host.shape}")
    if host.dtype.kind not in "iu" and not np.all(host == np.round(host)):
        raise ValueError(f"{op}: labels must be integers, got dtype {host.dtype}")
    if n and (host.min() < 0 or host.max() >= classes):
        raise ValueError(f"{op}: labels must lie in [0, {classes}), "
                         f"got values from {host.min()} to {host.max()}")
    if backend.device_of(labels) == "cpu":
        labels = host
    return backend.to_device(labels.astype(np.int64), logits.device)


def cross_entropy(logits, target):
    """Mean over the batch of −log softmax(logits)[label]; logits (N, C), labels (N,)."""
    if logits.ndim != 2:
        raise ShapeError(f"cross_entropy: expected logits (N, C), got shape {logits.shape}")
    return CrossEntropy.apply(logits, Tensor(_labels(target, logits, "cross_entropy"),
                                             dtype=np.int64))


def one_hot(labels, num_classes, xp=np):
    """(N,) integer labels → (N, C) float32 one-hot rows, in the array module ``xp``."""
    labels = xp.asarray(labels)
    return (labels[:, None] == xp.arange(num_classes)).astype(np.float32)


def binary_cross_entropy_with_logits(logits, target):
    """Mean binary cross-entropy of sigmoid(logits) against ``target`` of the
    same shape (e.g. one-hot rows from :func:`one_hot`)."""
    target = target.data if isinstance(target, Tensor) else target
    if target.shape != logits.shape:
        raise ShapeError(f"binary_cross_entropy_with_logits: target shape {target.shape} "
                         f"differs from logits shape {logits.shape}")
    return BCEWithLogits.apply(logits, Tensor(target, dtype=logits.dtype))
