"""Gradient testing for minigrad's ops and yours.

``gradcheck`` compares backward with float64 central differences;
``compare_with_torch`` compares values and gradients with PyTorch (imported
only when called, so gradcheck works without it);
``minigrad.testing.strategies`` holds hypothesis strategies (imported on its
own, since it needs hypothesis); ``minigrad.testing.fake_cupy`` is the CPU
stand-in for CuPy that the tests run the 'gpu' device on.
"""
from minigrad.testing.gradcheck import gradcheck
from minigrad.testing.torch_compare import compare_with_torch

__all__ = ["compare_with_torch", "gradcheck"]
