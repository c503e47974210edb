"""Batch normalisation and dropout: the two ops that behave differently in training.

Batch norm, per channel c over the n values of the batch (and of every position)::

    μ = mean x,   σ² = mean (x − μ)²,   x̂ = (x − μ) / √(σ² + ε),   y = γ·x̂ + β

In evaluation μ and σ² are the running estimates instead, and y is an affine function
of x made of elementwise ops.
"""
from minigrad.autograd import Function, ShapeError
from minigrad.backend import get_array_module

__all__ = ["BatchNormalization", "batch_norm"]


class BatchNormalization(Function):
    """y = γ·(x − μ)/√(σ² + ε) + β, μ and σ² over the batch.
    dx = (γ/√(σ² + ε))·(dy − mean dy − x̂·mean(dy·x̂)),  dγ = Σ dy·x̂,  dβ = Σ dy.

    μ and σ² depend on every x: that is where the two means in dx come from.
    """

    def forward(self, x, weight, bias, axes, eps):
        xp = get_array_module(x)
        self.axes = axes
        self.mean = x.mean(axis=axes, keepdims=True)
        self.var = ((x - self.mean) ** 2).mean(axis=axes, keepdims=True)
        self.inv_std = 1 / xp.sqrt(self.var + eps)
        self.normalized = (x - self.mean) * self.inv_std
        self.scale = _along_channels(weight, x.ndim)
        return self.normalized * self.scale + _along_channels(bias, x.ndim)

    def backward(self, grad_out):
        axes, x_hat = self.axes, self.normalized
        grad_weight = (grad_out * x_hat).sum(axis=axes)
        grad_bias = grad_out.sum(axis=axes)
        grad_x = (self.scale * self.inv_std) * (
            grad_out - grad_out.mean(axis=axes, keepdims=True)
            - x_hat * (grad_out * x_hat).mean(axis=axes, keepdims=True))
        return grad_x, grad_weight, grad_bias


def _along_channels(vector, ndim):
    """A (C,) vector shaped (1, C, 1, …) to broadcast along axis 1 of an ndim-D input."""
    return vector.reshape((1, -1) + (1,) * (ndim - 2))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """As ``torch.nn.functional.batch_norm``: normalise each channel (axis 1) by the batch's
    statistics when ``training`` (updating the running ones in place), else by the running
    ones. ``running_*`` are tensors or None; ``weight``/``bias`` γ and β or None (1 and 0)."""
    if input.ndim < 2:
        raise ShapeError(f"batch_norm: expected an input with a channel axis (N, C, …), "
                         f"got shape {input.shape}")
    xp = get_array_module(input.data)
    axes, channels = (0,) + tuple(range(2, input.ndim)), input.shape[1]
    gamma = weight if weight is not None else xp.ones(channels, input.dtype)
    beta = bias if bias is not None else xp.zeros(channels, input.dtype)
    if not training:  # y = (x − running mean) · γ/√(running var + ε) + β: elementwise ops
        scale = gamma * (1 / xp.sqrt(running_var.data + eps))
        return ((input - _along_channels(running_mean.data, input.ndim))
                * _along_channels(scale, input.ndim) + _along_channels(beta, input.ndim))
    count = input.numel() // channels
    if count == 0:  # an empty batch: nothing to normalise, as PyTorch
        return input * 1
    if count == 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input shape {input.shape}")
    if running_mean is not None:
        mean, var = input.data.mean(axis=axes), input.data.var(axis=axes)
        running_mean.data[...] = (1 - momentum) * running_mean.data + momentum * mean
        unbiased = var * (count / (count - 1))  # as PyTorch
        running_var.data[...] = (1 - momentum) * running_var.data + momentum * unbiased
    return BatchNormalization.apply(input, gamma, beta, axes=axes, eps=eps)
