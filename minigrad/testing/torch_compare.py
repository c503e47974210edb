"""compare_with_torch: values and gradients against PyTorch as the oracle."""
import numpy as np

from minigrad import backend
from minigrad.tensor import Tensor
from minigrad.testing.gradcheck import backward_checked
from minigrad.testing.layouts import copy_to

__all__ = ["compare_with_torch"]

TOLERANCES = {np.dtype(np.float64): (1e-7, 1e-9), np.dtype(np.float32): (1e-4, 1e-5)}


def _import_torch():
    try:
        import torch
    except ImportError as error:
        raise ImportError("compare_with_torch needs PyTorch, which is not installed: "
                          "pip install 'minigrad[test]' (or pip install torch); "
                          f"the import failed with: {error}") from None
    return torch


def _host(a):
    """A NumPy array from a NumPy array, a device array, a tensor or a number."""
    if isinstance(a, Tensor):
        return a.numpy()
    if backend.is_array(a):
        return np.asarray(backend.to_device(a, "cpu"))
    return np.asarray(a)


def compare_with_torch(fn, torch_fn, *arrays, rtol=None, atol=None, device="cpu", seed=0):
    """Run ``fn`` on minigrad tensors and ``torch_fn`` on torch tensors made from
    the same ``arrays`` (NumPy arrays; tensors and device arrays are copied to
    the host first); assert equal output shapes and values, and equal
    gradients of every floating input for one random upstream gradient drawn
    from ``seed``.

    Floating arrays become tensors on ``device`` that require grad, copied in
    their memory layout (a transposed or strided array stays so on the device).
    Integer arrays (labels) are passed as plain arrays on ``device`` to ``fn``
    and as torch tensors to ``torch_fn``. Tolerances default by dtype: float64 rtol
    1e-7, float32 rtol 1e-4 (atol 1e-9 / 1e-5). An input neither side sends a
    gradient to passes; one side's missing gradient counts as zeros.

    Raises ``AssertionError`` saying whether the forward or which input's
    gradient differs, or that backward wrote into the upstream gradient it was
    handed or left two gradients sharing one array; ``ImportError`` with the
    install command if PyTorch is missing. Returns True.
    """
    torch = _import_torch()
    arrays = [_host(a) for a in arrays]
    ours, theirs = [], []
    for a in arrays:
        host_copy = np.array(a, order="C")  # torch.tensor refuses negative strides
        if a.dtype.kind == "f":
            ours.append(Tensor(copy_to(a, device), requires_grad=True))
            theirs.append(torch.tensor(host_copy, requires_grad=True))
        else:
            ours.append(copy_to(a, device))
            theirs.append(torch.tensor(host_copy))
    float_dtype = next((a.dtype for a in arrays if a.dtype.kind == "f"), np.float64)
    default_rtol, default_atol = TOLERANCES.get(np.dtype(float_dtype), (1e-4, 1e-5))
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol

    out, expected = fn(*ours), torch_fn(*theirs)
    expected_values = expected.detach().numpy()
    if tuple(out.shape) != tuple(expected_values.shape):
        raise AssertionError(f"compare_with_torch: output shape {tuple(out.shape)}, "
                             f"PyTorch's is {tuple(expected_values.shape)}")
    np.testing.assert_allclose(out.numpy(), expected_values, rtol=rtol, atol=atol,
                               err_msg="compare_with_torch: forward values differ")
    upstream = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    leaves = {f"input {i}": t for i, t in enumerate(ours) if isinstance(t, Tensor)}
    backward_checked(out, backend.to_device(upstream, device), leaves, "compare_with_torch")
    expected.backward(torch.tensor(upstream, dtype=expected.dtype))
    for i, (mine, reference) in enumerate(zip(ours, theirs)):
        if not isinstance(mine, Tensor) or (mine.grad is None and reference.grad is None):
            continue
        grad = np.zeros(mine.shape) if mine.grad is None else backend.to_device(mine.grad, "cpu")
        expected_grad = (np.zeros(mine.shape) if reference.grad is None
                         else reference.grad.numpy())
        if grad.shape != expected_grad.shape:
            raise AssertionError(f"compare_with_torch: the gradient of input {i} has shape "
                                 f"{grad.shape}, PyTorch's has {expected_grad.shape}")
        np.testing.assert_allclose(
            grad, expected_grad, rtol=rtol, atol=atol,
            err_msg=f"compare_with_torch: gradient of input {i} (shape {mine.shape}) differs")
    return True
