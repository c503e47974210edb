"""Layers: thin modules around the functional ops, holding their parameters."""
import math

from minigrad import functional as F
from minigrad.nn import init
from minigrad.nn.module import Module, Parameter
from minigrad.ops.conv import _pair

__all__ = ["Conv2d", "Flatten", "GlobalAvgPool2d", "GlobalMaxPool2d", "Linear", "MaxPool2d",
           "ReLU"]


class Conv2d(Module):
    """Convolution with weight (out, in, KH, KW) and bias (out,), PyTorch's layout."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = _pair(kernel_size, "kernel_size"), _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        bound = 1 / math.sqrt(in_channels * self.kernel_size[0] * self.kernel_size[1])
        self.weight = Parameter(init.uniform((out_channels, in_channels) + self.kernel_size, bound))
        self.bias = Parameter(init.uniform((out_channels,), bound)) if bias else None

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class Linear(Module):
    """y = x Wᵀ + b with weight (out, in) and bias (out,)."""

    def __init__(self, in_features, out_features, bias=True):
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(in_features)
        self.weight = Parameter(init.uniform((out_features, in_features), bound))
        self.bias = Parameter(init.uniform((out_features,), bound)) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}"


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None):
        self.kernel_size, self.stride = kernel_size, kernel_size if stride is None else stride

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class Flatten(Module):
    """(N, ...) → (N, D)."""

    def forward(self, x):
        return F.flatten(x, 1)


class GlobalMaxPool2d(Module):
    """(N, C, H, W) → (N, C), the maximum of each channel; any H, W."""

    def forward(self, x):
        return F.global_max_pool2d(x)


class GlobalAvgPool2d(Module):
    """(N, C, H, W) → (N, C), the mean of each channel; any H, W."""

    def forward(self, x):
        return F.global_avg_pool2d(x)
