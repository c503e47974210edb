"""Initialisation, drawn on the host so CPU and GPU runs start identically.

``uniform(shape, bound)`` makes the layers' default weights; the in-place initialisers
(``zeros_``, ``kaiming_uniform_`` …) fill an existing tensor, as ``torch.nn.init``.
"""
import math

import numpy as np

from minigrad import backend
from minigrad.backend import host_rng

__all__ = ["calculate_gain", "constant_", "kaiming_normal_", "kaiming_uniform_", "normal_",
           "ones_", "uniform", "uniform_", "xavier_normal_", "xavier_uniform_", "zeros_"]


def uniform(shape, bound):
    """float32 array of ``shape``, uniform on [−bound, bound), from the seeded host generator."""
    return host_rng().uniform(-bound, bound, size=shape).astype(np.float32)


def _fill(tensor, values):
    """Write host ``values`` into ``tensor`` in place (its dtype and device kept)."""
    tensor.data[...] = backend.to_device(np.asarray(values, dtype=tensor.dtype), tensor.device)
    return tensor


def _fans(tensor):
    """(fan_in, fan_out): inputs and outputs per weight, kernels counted (PyTorch's rule)."""
    if tensor.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 "
                         "dimensions")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def calculate_gain(nonlinearity, param=None):
    """PyTorch's recommended gains: relu √2, tanh 5/3, leaky_relu √(2/(1 + slope²)), else 1."""
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    return 1.0


def constant_(tensor, val):
    return _fill(tensor, np.full(tensor.shape, val))


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def uniform_(tensor, a=0.0, b=1.0):
    return _fill(tensor, host_rng().uniform(a, b, size=tensor.shape))


def normal_(tensor, mean=0.0, std=1.0):
    return _fill(tensor, host_rng().normal(mean, std, size=tensor.shape))


def xavier_uniform_(tensor, gain=1.0):
    fan_in, fan_out = _fans(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    fan_in, fan_out = _fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity):
    fan_in, fan_out = _fans(tensor)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == "fan_in" else fan_out)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))
