"""Small helpers shared by the tests."""
import numpy as np

from minigrad import Tensor, backend

DEVICES = ["cpu", "gpu"]  # 'gpu' is CuPy, or the CPU stand-in for it (see conftest)


def on(device, array, requires_grad=True):
    """A tensor on ``device`` holding a copy of the NumPy ``array``."""
    return Tensor(np.array(array), requires_grad=requires_grad, device=device)


def host(array):
    """A NumPy copy of a raw array or a tensor's data, from any device."""
    array = array.data if isinstance(array, Tensor) else array
    return np.array(backend.to_device(array, "cpu"))
