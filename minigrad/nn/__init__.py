"""Modules: ``import minigrad.nn as nn``; ``import minigrad.nn.functional as F``."""
import sys

from minigrad import functional
from minigrad.nn import init
from minigrad.nn.layers import (
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Flatten,
    GlobalAvgPool2d,
    GlobalMaxPool2d,
    Identity,
    Linear,
    LogSoftmax,
    MaxPool2d,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from minigrad.nn.losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from minigrad.nn.module import Buffer, Module, ModuleDict, ModuleList, Parameter, Sequential

__all__ = ["AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "AvgPool2d", "BCELoss", "BCEWithLogitsLoss",
           "BatchNorm1d", "BatchNorm2d", "Buffer", "Conv2d", "CrossEntropyLoss", "Dropout",
           "Flatten", "GlobalAvgPool2d", "GlobalMaxPool2d", "Identity", "L1Loss", "Linear",
           "LogSoftmax", "MSELoss", "MaxPool2d", "Module", "ModuleDict", "ModuleList",
           "NLLLoss", "Parameter", "ReLU", "Sequential", "Sigmoid", "Softmax", "Tanh",
           "functional", "init"]

# As `import torch.nn.functional as F` in PyTorch: the name minigrad.nn.functional
# is minigrad.functional itself, one module under two names.
sys.modules[f"{__name__}.functional"] = functional
