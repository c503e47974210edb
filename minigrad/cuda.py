"""``minigrad.cuda``: PyTorch's questions about the GPU (CuPy's, here)."""
from minigrad import backend

__all__ = ["device_count", "is_available", "manual_seed"]


def is_available():
    """True when the GPU can be used (CuPy imports and finds a device)."""
    try:
        backend.gpu_module()
    except backend.GPUUnavailableError:
        return False
    return True


def device_count():
    """How many GPUs this process could see (minigrad uses one)."""
    if not is_available():
        return 0
    return backend.gpu_module().cuda.runtime.getDeviceCount()


def manual_seed(seed):
    """As ``minigrad.manual_seed``: every random number comes from one host generator."""
    backend.manual_seed(seed)
