"""PyTorch's tensor makers: zeros, ones, full, arange, rand, randn, randint, from_numpy …

Random tensors draw from minigrad's one seeded host generator (``minigrad.manual_seed``),
then move to ``device``, so a CPU and a GPU run draw the same numbers.
"""
import numpy as np

from minigrad import backend
from minigrad.tensor import Tensor

__all__ = ["Generator", "arange", "empty", "from_numpy", "full", "full_like", "linspace", "ones",
           "ones_like", "rand", "randint", "randn", "randperm", "tensor", "zeros", "zeros_like"]


class Generator:
    """A random number generator of its own, as ``torch.Generator``: pass it as
    ``generator=`` to the random makers, ``DataLoader`` or ``random_split``."""

    def __init__(self, device="cpu"):
        self.rng = np.random.default_rng()

    def manual_seed(self, seed):
        self.rng = np.random.default_rng(seed)
        return self


def _rng(generator):
    """The generator's NumPy generator, or minigrad's seeded host one."""
    return backend.host_rng() if generator is None else generator.rng


def tensor(data, requires_grad=False, dtype=None, device=None):
    """A new :class:`Tensor` holding a copy of ``data``, as ``torch.tensor``: Python floats
    become float32, ints int64, bools bool; arrays and tensors keep their dtype."""
    if isinstance(data, Tensor):
        data = data.data
    if backend.is_array(data):
        data = data.copy()
    _check_rectangular(data)
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def _check_rectangular(data, dim=0):
    """Nested lists must have one length per dimension, as torch.tensor says."""
    if not isinstance(data, (list, tuple)):
        return
    lengths = [len(item) if isinstance(item, (list, tuple)) else None for item in data]
    for length in lengths:
        if length != lengths[0]:
            expected = "a number" if lengths[0] is None else f"a sequence of length {lengths[0]}"
            got = "a number" if length is None else f"a sequence of length {length}"
            raise ValueError(f"tensor(): expected {expected} at dim {dim + 1}, got {got}")
    for item in data:
        _check_rectangular(item, dim + 1)


def _shape(size):
    """``zeros(2, 3)`` and ``zeros((2, 3))`` are one shape."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        return tuple(size[0])
    return tuple(size)


def _made(array, dtype, device, requires_grad):
    """A host array as a tensor of ``dtype`` (float32 if None and floating) on ``device``."""
    if dtype is None and array.dtype.kind == "f":
        dtype = np.float32
    return Tensor(array, dtype=dtype, device=device, requires_grad=requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """A tensor of ``size`` holding ``fill_value`` (its dtype inferred as PyTorch does)."""
    if dtype is None:
        dtype = Tensor(fill_value).dtype
    array = backend.module_for(device or "cpu").full(_shape((size,)), fill_value, dtype=dtype)
    return Tensor(array, requires_grad=requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return full(_shape(size), 0.0, dtype=dtype, device=device, requires_grad=requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return full(_shape(size), 1.0, dtype=dtype, device=device, requires_grad=requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    """As ``zeros`` (minigrad never hands out uninitialised memory)."""
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False):
    return full(input.shape, fill_value, dtype=dtype or input.dtype,
                device=device or input.device, requires_grad=requires_grad)


def zeros_like(input, *, dtype=None, device=None, requires_grad=False):
    return full_like(input, 0, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False):
    return full_like(input, 1, dtype=dtype, device=device, requires_grad=requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """start, start + step, … below end; int64 when every argument is an int, as PyTorch."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if dtype is None:
        whole = all(isinstance(v, int) for v in (start, end, step))
        dtype = np.int64 if whole else np.float32
    return Tensor(np.arange(start, end, step), dtype=dtype, device=device,
                  requires_grad=requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    return _made(np.linspace(start, end, steps), dtype, device, requires_grad)


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Uniform on [0, 1)."""
    return _made(_rng(generator).random(_shape(size)), dtype, device, requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Standard normal."""
    return _made(_rng(generator).standard_normal(_shape(size)), dtype, device, requires_grad)


def randint(low, high=None, size=None, *, generator=None, dtype=None, device=None):
    """Integers in [low, high) (``randint(high, size)`` takes low = 0), int64 by default."""
    if size is None:  # randint(high, size)
        low, high, size = 0, low, high
    array = _rng(generator).integers(low, high, _shape((size,)))
    return Tensor(array, dtype=dtype or np.int64, device=device)


def randperm(n, *, generator=None, dtype=None, device=None):
    """0 … n − 1 in a random order, int64 by default."""
    return Tensor(_rng(generator).permutation(n), dtype=dtype or np.int64, device=device)


def from_numpy(array):
    """A tensor sharing ``array``'s memory and dtype, as ``torch.from_numpy``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a NumPy array, got {type(array).__name__}")
    return Tensor(array)
