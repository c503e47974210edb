"""The functional API: ``import minigrad.functional as F``.

Every op as a lowercase function of tensors, re-exported by name from
``minigrad.ops``.
"""
from minigrad.ops.conv import conv2d, conv_output_size, fold, unfold
from minigrad.ops.elementwise import add, div, exp, log, mul, neg, pow, relu, sub
from minigrad.ops.linalg import linear, matmul
from minigrad.ops.loss import binary_cross_entropy_with_logits, cross_entropy, log_softmax, one_hot
from minigrad.ops.pool import global_avg_pool2d, global_max_pool2d, max_pool2d
from minigrad.ops.reduce import max, mean, sum
from minigrad.ops.shape import flatten, getitem, reshape, transpose

__all__ = [
    "add", "binary_cross_entropy_with_logits", "conv2d", "conv_output_size", "cross_entropy",
    "div", "exp", "flatten", "fold", "getitem", "global_avg_pool2d", "global_max_pool2d",
    "linear", "log", "log_softmax", "matmul", "max", "max_pool2d", "mean", "mul", "neg",
    "one_hot", "pow", "relu", "reshape", "sub", "sum", "transpose", "unfold",
]
