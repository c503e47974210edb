"""minigrad: a from-scratch tensor-and-tape autodiff engine on NumPy or CuPy.

Read it in this order: backend.py, tensor.py, ops/ (elementwise, reduce,
shape, linalg, conv, pool, loss), nn/, optim/, models.py.
"""
from minigrad.backend import DeviceMismatchError, GPUUnavailableError, manual_seed
from minigrad.tensor import ShapeError, Tensor, is_grad_enabled, no_grad, tensor

__all__ = [
    "DeviceMismatchError", "GPUUnavailableError", "ShapeError", "Tensor",
    "is_grad_enabled", "manual_seed", "no_grad", "tensor",
]
__version__ = "0.1.0"
