"""CPU memory: keep what a training step frees for the next step (glibc only).

A speed setting, not part of the engine: the training command and the benchmarks
switch it on; ``import minigrad`` changes nothing outside minigrad.
"""
import ctypes

__all__ = ["M_MMAP_THRESHOLD", "M_TRIM_THRESHOLD", "keep_freed_memory"]

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt() parameter numbers


def keep_freed_memory(largest=32 * 2**20, kept=256 * 2**20):
    """Let glibc's malloc keep freed memory for reuse; True if it took the settings.

    A step frees and reallocates the same large arrays; by default glibc returns
    them to the kernel and the next step page-faults them back (about a quarter
    of a CPU step). Only where memory comes from changes, never a value. It changes
    the whole process's allocator, so nothing calls it on import: the training command
    and the benchmarks switch it on.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this Python runs on
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, largest)) and bool(mallopt(M_TRIM_THRESHOLD, kept))
