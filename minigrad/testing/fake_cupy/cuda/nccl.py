"""The stand-in's ``cupy.cuda.nccl``: imported only on request, as CuPy's is.

CuPy's bindings import even where NCCL's library is missing and then say so with
``available = False``; the stand-in does the same under ``failure("no-nccl")``.
One process is one rank here: the stand-in has no communicator.
"""
from minigrad.testing.fake_cupy import failures


def __getattr__(name):
    if name == "available":
        return failures.simulated_failure() != "no-nccl"
    raise AttributeError(f"the stand-in's cuda.nccl has no {name!r} (it offers only 'available')")
