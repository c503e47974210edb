"""Small helpers shared by the tests."""
import numpy as np

from minigrad import Tensor, backend
from minigrad.testing.layouts import copy_to

DEVICES = ["cpu", "gpu"]  # 'gpu' is CuPy, or the CPU stand-in for it (see conftest)


def on(device, array, requires_grad=True):
    """A tensor on ``device`` holding a copy of the NumPy ``array`` (or list), stored in
    the array's memory layout: a transposed, channel-major, strided or reversed input
    stays so."""
    return Tensor(copy_to(np.asarray(array), device), requires_grad=requires_grad)


def host(array):
    """A NumPy copy of a raw array or a tensor's data, from any device."""
    array = array.data if isinstance(array, Tensor) else array
    return np.array(backend.to_device(array, "cpu"))
