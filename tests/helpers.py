"""Small helpers shared by the tests."""
import os

import numpy as np
from hypothesis import HealthCheck, settings

from minigrad import Tensor, backend
from minigrad.testing.layouts import copy_to

DEVICES = ["cpu", "gpu"]  # 'gpu' is CuPy, or the CPU stand-in for it (see conftest)


def use_our_profiles():
    """Register and load the suite's hypothesis profiles (see conftest). Called again after
    PyTorch's own test utilities are imported (the parity sweep): they register profiles
    of the same names ('dev') and load one, which would change every later test."""
    untimed = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("ci", derandomize=True, database=None, max_examples=50, **untimed)
    # derandomize=False said outright: under CI, hypothesis's own defaults derandomize.
    settings.register_profile("dev", derandomize=False, max_examples=10, **untimed)
    settings.register_profile("thorough", derandomize=False, max_examples=200, **untimed)
    default = "ci" if os.environ.get("CI") else "dev"
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", default))


def on(device, array, requires_grad=True):
    """A tensor on ``device`` holding a copy of the NumPy ``array`` (or list), stored in
    the array's memory layout: a transposed, channel-major, batch-last, strided or reversed input
    stays so."""
    return Tensor(copy_to(np.asarray(array), device), requires_grad=requires_grad)


def host(array):
    """A NumPy copy of a raw array or a tensor's data, from any device."""
    array = array.data if isinstance(array, Tensor) else array
    return np.array(backend.to_device(array, "cpu"))


def assert_matches_torch_forward_and_backward(out, expected, pairs, device, rtol, atol, seed=0):
    """``out`` (minigrad) against ``expected`` (torch): shape, dtype (each input's, the
    first pair's) and values; then one random upstream gradient from ``seed`` through
    both, and for each (ours, theirs) input pair its gradient's dtype and values."""
    import torch
    dtype = pairs[0][0].dtype
    assert out.shape == tuple(expected.shape) and out.dtype == dtype
    np.testing.assert_allclose(host(out), expected.detach().numpy(), rtol=rtol, atol=atol)
    upstream = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
    out.backward(backend.to_device(upstream, device))
    expected.backward(torch.from_numpy(upstream))
    for ours, theirs in pairs:
        assert ours.grad.dtype == dtype
        np.testing.assert_allclose(host(ours.grad), theirs.grad.numpy(), rtol=rtol, atol=atol)
