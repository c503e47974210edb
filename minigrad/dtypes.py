"""PyTorch's dtype names, as NumPy dtypes: ``minigrad.float32``, ``minigrad.long`` …

A minigrad tensor's ``dtype`` is a NumPy dtype, so ``x.dtype == minigrad.float32`` and
``x.dtype == np.float32`` both hold.
"""
import numpy as np

__all__ = ["bool", "double", "float", "float16", "float32", "float64", "half", "int",
           "int16", "int32", "int64", "int8", "long", "short", "uint8"]

float16 = half = np.dtype(np.float16)
float32 = float = np.dtype(np.float32)  # noqa: A001, PyTorch's names
float64 = double = np.dtype(np.float64)
uint8 = np.dtype(np.uint8)
int8 = np.dtype(np.int8)
int16 = short = np.dtype(np.int16)
int32 = int = np.dtype(np.int32)  # noqa: A001
int64 = long = np.dtype(np.int64)
bool = np.dtype(np.bool_)  # noqa: A001
