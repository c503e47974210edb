"""Initialisation, drawn on the host so CPU and GPU runs start identically."""
import numpy as np

from minigrad.backend import host_rng

__all__ = ["uniform"]


def uniform(shape, bound):
    """float32 array of ``shape``, uniform on [−bound, bound), from the seeded host generator."""
    return host_rng().uniform(-bound, bound, size=shape).astype(np.float32)
