"""The one place that knows NumPy from CuPy: ``xp`` is ``numpy`` on 'cpu' and ``cupy``
on 'gpu'. Moving between devices is explicit (:func:`to_device`); mixing them is an error."""
import importlib

import numpy as np

__all__ = ["DeviceMismatchError", "GPUUnavailableError", "check_same_device", "device_of",
           "get_array_module", "gpu_module", "gpu_submodule", "host_rng", "is_array",
           "manual_seed", "module_for", "set_gpu_module", "to_device", "validate_device"]

DEVICES = ("cpu", "gpu")


class GPUUnavailableError(RuntimeError):
    """Raised when the GPU is asked for and cannot be used; says why."""


class DeviceMismatchError(RuntimeError):
    """Raised when one op receives arrays living on different devices."""


_gpu = None          # the CuPy module (or a stand-in), once found
_gpu_reason = None   # why the GPU is unusable, once known


def set_gpu_module(module):
    """Use ``module`` as the GPU array module (``None`` forgets it); tests pass a CPU stand-in."""
    global _gpu, _gpu_reason
    _gpu, _gpu_reason = module, None


def _find_cupy():
    """Import CuPy and check for a device; return (module, reason_if_not)."""
    try:
        import cupy
    except ImportError as error:
        if getattr(error, "name", None) == "cupy":
            return None, ("CuPy is not installed; install it with "
                          "`pip install 'minigrad[gpu]'` (CuPy for CUDA 12)")
        return None, f"CuPy is installed but failed to import: {error}"
    except Exception as error:  # a broken CUDA install raises all sorts
        return None, f"CuPy is installed but failed to import: {error!r}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:
        return None, f"CuPy found no usable CUDA device: {error}"
    if count == 0:
        return None, "CuPy found no CUDA device on this machine"
    try:  # a device is not enough: allocate, run a kernel and a matmul, read back
        float(((cupy.arange(4, dtype=cupy.float32) * 2) @ cupy.ones(4, cupy.float32)).get())
    except Exception as error:
        return None, (f"CuPy cannot compute on its device ({type(error).__name__}: {error}); "
                      "`pip install 'minigrad[gpu]'` installs CUDA's runtime libraries with it")
    return cupy, None


def gpu_module():
    """The GPU array module, or :class:`GPUUnavailableError` saying why not."""
    global _gpu, _gpu_reason
    if _gpu is None and _gpu_reason is None:
        _gpu, _gpu_reason = _find_cupy()
    if _gpu is None:
        raise GPUUnavailableError(f"the GPU is unavailable: {_gpu_reason}")
    return _gpu


def gpu_submodule(name):
    """``cupy.<name>``, imported: CuPy loads some parts (``cuda.nccl``) only on request."""
    return importlib.import_module(f"{gpu_module().__name__}.{name}")


def validate_device(device):
    """Return ``device`` as ``'cpu'`` or ``'gpu'`` (``'cuda'`` is accepted)."""
    name = str(device).lower()
    if name.startswith("cuda"):
        name = "gpu"
    if name not in DEVICES:
        raise ValueError(f"unknown device {device!r}; expected 'cpu' or 'gpu'")
    return name


def module_for(device):
    """The array module of a device: numpy for 'cpu', CuPy for 'gpu'."""
    return np if validate_device(device) == "cpu" else gpu_module()


def _is_cupy_array(obj):
    """A CuPy array, recognised by its type even before the GPU was asked for."""
    if _gpu is None and type(obj).__module__.split(".")[0] == "cupy":
        gpu_module()  # CuPy made it, so CuPy imports: take it as the GPU module now
    return _gpu is not None and isinstance(obj, _gpu.ndarray)


def is_array(obj):
    """True for a NumPy array or an array of the GPU module."""
    return isinstance(obj, np.ndarray) or _is_cupy_array(obj)


def get_array_module(array):
    """The array module ``array`` belongs to (numpy or the GPU module)."""
    if isinstance(array, (np.ndarray, np.generic)):
        return np
    if _is_cupy_array(array):
        return _gpu
    raise TypeError(f"expected a NumPy or CuPy array, got {type(array).__name__}")


def device_of(array):
    """'cpu' for a NumPy array, 'gpu' for an array of the GPU module."""
    return "cpu" if get_array_module(array) is np else "gpu"


def to_device(array, device):
    """Copy ``array`` to ``device`` (no copy when it is already there)."""
    device = validate_device(device)
    if device_of(array) == device:
        return array
    if device == "cpu":
        return gpu_module().asnumpy(array)
    return gpu_module().asarray(array)


def check_same_device(op_name, arrays):
    """Raise :class:`DeviceMismatchError` if ``arrays`` live on two devices."""
    devices = [device_of(a) for a in arrays]
    if len(set(devices)) > 1:
        raise DeviceMismatchError(
            f"{op_name}: inputs are on different devices ({', '.join(devices)}); "
            "move them with .to('cpu') or .to('gpu') first")


_rng = np.random.default_rng(0)


def manual_seed(seed):
    """Reseed the host generator all of minigrad's random numbers come from."""
    global _rng
    _rng = np.random.default_rng(seed)


def host_rng():
    """The seeded host ``numpy.random.Generator``."""
    return _rng
