"""Layers: thin modules around the functional ops, holding their parameters."""
import math

import numpy as np

from minigrad import functional as F
from minigrad.autograd import ShapeError
from minigrad.checks import check_padding, check_positive_int, pair
from minigrad.nn import init
from minigrad.nn.module import Module, Parameter

__all__ = ["AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d",
           "Conv2d", "Dropout", "Flatten", "GlobalAvgPool2d", "GlobalMaxPool2d", "Identity",
           "Linear", "LogSoftmax", "MaxPool2d", "ReLU", "Sigmoid", "Softmax", "Tanh"]


class Conv2d(Module):
    """Convolution with weight (out, in/groups, KH, KW) and bias (out,): PyTorch's layout,
    arguments and initialisation (uniform ±1/√fan_in); zero padding only."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros"):
        if padding_mode != "zeros":
            raise ValueError(f"Conv2d: padding_mode={padding_mode!r} is not supported; "
                             "minigrad pads with zeros only (padding_mode='zeros')")
        check_positive_int("Conv2d", "groups", groups)
        for name, channels in (("in_channels", in_channels), ("out_channels", out_channels)):
            check_positive_int("Conv2d", name, channels, TypeError)
            if channels % groups:
                raise ValueError(f"Conv2d: {name}={channels} must be divisible by groups={groups}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = pair(kernel_size, "kernel_size", "Conv2d")
        if min(self.kernel_size) < 1:  # before its init divides by the fan-in
            raise ShapeError(f"Conv2d: kernel_size must be ≥ 1, got {self.kernel_size}")
        self.stride = pair(stride, "stride", "Conv2d")
        self.dilation = pair(dilation, "dilation", "Conv2d")
        self.padding = check_padding("Conv2d", padding, self.stride)
        shape = (out_channels, in_channels // groups) + self.kernel_size
        bound = 1 / math.sqrt(shape[1] * shape[2] * shape[3])
        self.weight = Parameter(init.uniform(shape, bound))
        self.bias = Parameter(init.uniform((out_channels,), bound)) if bias else None

    def forward(self, input):
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)

    def extra_repr(self):
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class Linear(Module):
    """y = x Wᵀ + b with weight (out, in) and bias (out,)."""

    def __init__(self, in_features, out_features, bias=True):
        for name, size in (("in_features", in_features), ("out_features", out_features)):
            check_positive_int("Linear", name, size, TypeError)
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(in_features)
        self.weight = Parameter(init.uniform((out_features, in_features), bound))
        self.bias = Parameter(init.uniform((out_features,), bound)) if bias else None

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class ReLU(Module):
    """y = max(x, 0), elementwise. ``inplace=True`` is refused: the tape keeps
    the input's data, so it is never overwritten."""

    def __init__(self, inplace=False):
        if inplace:
            raise ValueError("ReLU: inplace=True is not supported (minigrad never overwrites "
                             "an input); use ReLU()")

    def forward(self, input):
        return F.relu(input)


class MaxPool2d(Module):
    """Max over sliding windows: ``torch.nn.MaxPool2d``'s arguments (see ``max_pool2d``)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        self.kernel_size, self.stride = kernel_size, kernel_size if stride is None else stride
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input):
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                               self.ceil_mode, self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class Flatten(Module):
    """Dims ``start_dim``..``end_dim`` merged: (N, ...) → (N, D) by default."""

    def __init__(self, start_dim=1, end_dim=-1):
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        return F.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class GlobalMaxPool2d(Module):
    """(N, C, H, W) → (N, C), the maximum of each channel; any H, W."""

    def forward(self, input):
        return F.global_max_pool2d(input)


class GlobalAvgPool2d(Module):
    """(N, C, H, W) → (N, C), the mean of each channel; any H, W."""

    def forward(self, input):
        return F.global_avg_pool2d(input)


class AvgPool2d(Module):
    """Mean over sliding windows: ``torch.nn.AvgPool2d``'s arguments (see ``avg_pool2d``)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        self.kernel_size, self.stride = kernel_size, kernel_size if stride is None else stride
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input):
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                               self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveMaxPool2d(Module):
    """(N, C, H, W) → (N, C, *output_size), max over adaptive windows; any H, W."""

    def __init__(self, output_size, return_indices=False):
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, input):
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(Module):
    """(N, C, H, W) → (N, C, *output_size), mean over adaptive windows; any H, W."""

    def __init__(self, output_size):
        self.output_size = output_size

    def forward(self, input):
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class Identity(Module):
    """y = x."""

    def __init__(self, *args, **kwargs):
        pass  # PyTorch's Identity takes and ignores any arguments

    def forward(self, input):
        return input


class Sigmoid(Module):
    def forward(self, input):
        return F.sigmoid(input)


class Tanh(Module):
    def forward(self, input):
        return F.tanh(input)


class Softmax(Module):
    def __init__(self, dim=None):
        self.dim = -1 if dim is None else dim

    def forward(self, input):
        return F.softmax(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, input):
        return F.log_softmax(input, self.dim)


class Dropout(Module):
    """Zero each element with probability ``p`` in training (scaling the rest by 1/(1 − p));
    the identity after ``eval()``. ``Dropout2d`` is not provided."""

    def __init__(self, p=0.5, inplace=False):
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        if inplace:
            raise ValueError("Dropout: inplace=True is not supported; minigrad never changes "
                             "a tensor in place (use inplace=False)")
        self.p = p

    def forward(self, input):
        return F.dropout(input, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class BatchNorm2d(Module):
    """Batch normalisation of each channel of (N, C, H, W), with PyTorch's parameters
    (weight γ = 1, bias β = 0) and buffers (running_mean, running_var, num_batches_tracked)."""

    dims = (4,)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, bias=True):
        check_positive_int(type(self).__name__, "num_features", num_features)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(np.ones(num_features, np.float32)) if affine else None
        self.bias = Parameter(np.zeros(num_features, np.float32)) if affine and bias else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, np.float32))
            self.register_buffer("running_var", np.ones(num_features, np.float32))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))

    def forward(self, input):
        if input.ndim not in self.dims or input.shape[1] != self.num_features:
            raise ShapeError(f"expected a {' or '.join(f'{d}-D' for d in self.dims)} input with "
                             f"{self.num_features} channels on axis 1, got shape {input.shape}")
        tracking = self.track_running_stats
        momentum = self.momentum
        if self.training and tracking:
            self.num_batches_tracked.data += 1
            if momentum is None:  # a cumulative average
                momentum = 1 / int(self.num_batches_tracked.item())
        use_batch = self.training or not tracking
        return F.batch_norm(input, self.running_mean if tracking else None,
                            self.running_var if tracking else None, self.weight, self.bias,
                            use_batch, momentum if momentum is not None else 0.0, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(BatchNorm2d):
    """Batch normalisation of each feature of (N, C) or (N, C, L)."""

    dims = (2, 3)
