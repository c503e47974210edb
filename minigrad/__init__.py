"""minigrad: a from-scratch tensor-and-tape autodiff engine on NumPy or CuPy.

Read it in this order: backend.py, tensor.py, ops/ (elementwise, reduce,
shape, linalg, conv, pool, loss), nn/, optim/, models.py.

As in PyTorch, ``import minigrad`` also brings ``minigrad.nn``,
``minigrad.optim`` and ``minigrad.functional`` (also ``minigrad.nn.functional``);
``minigrad.save`` / ``minigrad.load`` keep a state dict in an ``.npz`` file (never pickle).
"""
from minigrad import functional, nn, optim
from minigrad.backend import DeviceMismatchError, GPUUnavailableError, manual_seed
from minigrad.checkpoint import load, save
from minigrad.tensor import ShapeError, Tensor, is_grad_enabled, no_grad, tensor

__all__ = [
    "DeviceMismatchError", "GPUUnavailableError", "ShapeError", "Tensor", "functional",
    "is_grad_enabled", "load", "manual_seed", "nn", "no_grad", "optim", "save", "tensor",
]
__version__ = "0.1.0"
