"""Modules: ``import minigrad.nn as nn``; ``import minigrad.nn.functional as F``."""
import sys

from minigrad import functional
from minigrad.nn.layers import (AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, Conv2d, Flatten,
                                GlobalAvgPool2d, GlobalMaxPool2d, Linear, MaxPool2d, ReLU)
from minigrad.nn.module import Module, Parameter, Sequential

__all__ = ["AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "AvgPool2d", "Conv2d", "Flatten", "GlobalAvgPool2d", "GlobalMaxPool2d", "Linear", "MaxPool2d",
           "Module", "Parameter", "ReLU", "Sequential", "functional"]

# As `import torch.nn.functional as F` in PyTorch: the name minigrad.nn.functional
# is minigrad.functional itself, one module under two names.
sys.modules[f"{__name__}.functional"] = functional
