"""compare_with_torch: values and gradients against PyTorch as the oracle."""
import numpy as np

from minigrad import backend
from minigrad.tensor import Tensor

__all__ = ["compare_with_torch"]

TOLERANCES = {np.dtype(np.float64): (1e-7, 1e-9), np.dtype(np.float32): (1e-4, 1e-5)}


def _import_torch():
    try:
        import torch
    except ImportError as error:
        raise ImportError("compare_with_torch needs PyTorch: pip install 'minigrad[test]' "
                          f"(or pip install torch); import failed with: {error}") from None
    return torch


def compare_with_torch(fn, torch_fn, *arrays, rtol=None, atol=None, device="cpu", seed=0):
    """Run ``fn`` on minigrad tensors and ``torch_fn`` on torch tensors made from
    the same NumPy ``arrays``; assert equal outputs and equal gradients of every
    floating input for one random upstream gradient.

    Integer arrays (labels) are passed as plain arrays to ``fn`` and as torch
    tensors to ``torch_fn``. Tolerances default by dtype: float64 rtol 1e-7,
    float32 rtol 1e-4 (atol 1e-9 / 1e-5).
    """
    torch = _import_torch()
    ours, theirs = [], []
    for a in arrays:
        a = np.asarray(a)
        if a.dtype.kind == "f":
            ours.append(Tensor(a, requires_grad=True, device=device))
            theirs.append(torch.tensor(a, requires_grad=True))
        else:
            ours.append(backend.to_device(a, device))
            theirs.append(torch.tensor(a))
    float_dtype = next((a.dtype for a in arrays if np.asarray(a).dtype.kind == "f"), np.float64)
    default_rtol, default_atol = TOLERANCES.get(np.dtype(float_dtype), (1e-4, 1e-5))
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol

    out, expected = fn(*ours), torch_fn(*theirs)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=rtol, atol=atol,
                               err_msg="compare_with_torch: forward values differ")
    upstream = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    out.backward(backend.to_device(upstream, device))
    expected.backward(torch.tensor(upstream))
    for i, (mine, reference) in enumerate(zip(ours, theirs)):
        if isinstance(mine, Tensor):
            np.testing.assert_allclose(
                backend.to_device(mine.grad, "cpu"), reference.grad.numpy(), rtol=rtol, atol=atol,
                err_msg=f"compare_with_torch: gradient of input {i} differs")
    return True
