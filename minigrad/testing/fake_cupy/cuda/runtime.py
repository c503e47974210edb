"""The stand-in's ``cupy.cuda.runtime``: the device count, and the error CUDA's runtime raises."""
from minigrad.testing.fake_cupy import failures


class CUDARuntimeError(RuntimeError):
    """CUDA's runtime refused (CuPy: ``cupy_backends.cuda.api.runtime.CUDARuntimeError``)."""


def getDeviceCount():  # CuPy's name
    """1, or under ``failure('no-device')`` CuPy's error on a machine without a driver."""
    if failures.simulated_failure() == "no-device":
        raise CUDARuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient "
                               "for CUDA runtime version")
    return 1
