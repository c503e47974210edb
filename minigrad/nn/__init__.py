"""Modules: ``import minigrad.nn as nn``."""
from minigrad.nn.layers import (Conv2d, Flatten, GlobalAvgPool2d, GlobalMaxPool2d, Linear,
                                MaxPool2d, ReLU)
from minigrad.nn.module import Module, Parameter, Sequential

__all__ = ["Conv2d", "Flatten", "GlobalAvgPool2d", "GlobalMaxPool2d", "Linear", "MaxPool2d",
           "Module", "Parameter", "ReLU", "Sequential"]
