"""The stand-in's switch for failing as CuPy fails on a machine that cannot compute.

    "no-device"  no driver or no GPU: ``cuda.runtime.getDeviceCount()`` raises
                 ``CUDARuntimeError`` (CuPy itself still imports, as it does without a driver)
    "no-nvrtc"   CUDA's kernel compiler missing: every kernel (an elementwise operation, a
                 reduction) raises ``RuntimeError("CuPy failed to load libnvrtc.so.12: ...")``
    "no-cublas"  cuBLAS missing: matrix products raise the same for ``libcublas.so.12``
    "no-nccl"    CuPy's NCCL bindings import, but find no library: ``cuda.nccl.available``
                 is False

``with failure("no-device"):`` fails that way inside the block; ``set_failure(name)`` sets
it until changed (a process started only to show the failure has no block to be in).
"""
import contextlib

FAILURES = ("no-device", "no-nvrtc", "no-cublas", "no-nccl")
_failure = None  # one of FAILURES, or None: everything works


def set_failure(name):
    """Fail as ``name`` says from now on (None: work again); returns the failure set before."""
    global _failure
    if name is not None and name not in FAILURES:
        raise ValueError(f"unknown failure {name!r}; expected one of {FAILURES}")
    previous, _failure = _failure, name
    return previous


def simulated_failure():
    """The failure set now, or None."""
    return _failure


@contextlib.contextmanager
def failure(name):
    """``with failure('no-device'):`` the stand-in fails that way inside the block."""
    previous = set_failure(name)
    try:
        yield
    finally:
        set_failure(previous)


def library_error(library):
    """The error CuPy raises when it cannot load one of CUDA's libraries."""
    return RuntimeError(f"CuPy failed to load {library}: OSError: {library}: cannot open shared "
                        "object file: No such file or directory")
