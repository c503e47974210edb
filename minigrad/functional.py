"""The functional API: ``import minigrad.functional as F``.

Every op as a lowercase function of tensors, re-exported by name from
``minigrad.ops``.
"""
from minigrad.ops.conv import conv2d, conv_output_size, fold, unfold
from minigrad.ops.elementwise import (add, clamp, div, exp, log, maximum, minimum, mul, neg, pow,
                                     relu, sub)
from minigrad.ops.linalg import linear, matmul
from minigrad.ops.loss import (binary_cross_entropy_with_logits, cross_entropy, log_softmax,
                               nll_loss, one_hot)
from minigrad.ops.pool import (adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d,
                               global_avg_pool2d, global_max_pool2d, max_pool2d)
from minigrad.ops.reduce import amax, max, mean, sum
from minigrad.ops.shape import flatten, getitem, permute, reshape, transpose

__all__ = [
    "adaptive_avg_pool2d", "adaptive_max_pool2d", "add", "amax", "avg_pool2d",
    "binary_cross_entropy_with_logits", "clamp", "conv2d", "conv_output_size", "cross_entropy",
    "div", "exp", "flatten", "fold", "getitem", "global_avg_pool2d", "global_max_pool2d",
    "linear", "log", "log_softmax", "matmul", "max", "max_pool2d", "maximum", "mean", "minimum",
    "mul", "neg", "nll_loss", "one_hot", "permute", "pow", "relu", "reshape", "sub", "sum",
    "transpose", "unfold",
]
