"""The stand-in's ``cupy.cuda``: enough of CuPy's to select and synchronise a device.

Every name here is one ``cupy.cuda`` has (a test checks them against the snapshot).
``nccl`` is not among them until ``importlib.import_module(<stand-in>.cuda.nccl)``
imports it, as in CuPy, where ``cupy.cuda`` has no ``nccl`` until then.
"""
from minigrad.testing.fake_cupy import failures
from minigrad.testing.fake_cupy.cuda import runtime as runtime  # getDeviceCount, CUDARuntimeError


class Stream:
    """A CUDA stream; on the CPU every operation is already done."""

    def synchronize(self):
        pass


Stream.null = Stream()


def get_current_stream():
    return Stream.null


class Device:
    """A CUDA device; ``Device()`` is the current one (number 0)."""

    def __init__(self, device=0):
        self.id = int(device)

    def synchronize(self):
        pass

    def use(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def __repr__(self):
        return f"<CUDA Device {self.id} (fake_cupy stand-in)>"


def is_available():
    return failures.simulated_failure() != "no-device"

