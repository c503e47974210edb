"""``minigrad.accelerator``: PyTorch's device-neutral questions; the accelerator is the GPU."""
from minigrad import cuda
from minigrad.devices import device

__all__ = ["current_accelerator", "is_available"]


def is_available():
    """True when the GPU can be used."""
    return cuda.is_available()


def current_accelerator():
    """``device('cuda')`` when the GPU can be used, else None (as PyTorch)."""
    return device("cuda") if cuda.is_available() else None
