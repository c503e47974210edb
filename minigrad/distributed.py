"""Data parallelism: N processes (ranks) train one model as if they were one.

Every rank holds the whole model. Each global batch of n images is cut into
N parts, one per rank; rank r runs forward and backward on its n_r images
only. The loss of the whole batch is the share-weighted sum of the parts'
mean losses, and the gradient is linear, so

    L = Σ_r s_r · L_r      dL/dw = Σ_r s_r · dL_r/dw      s_r = n_r / n.

The ranks add up their weighted gradients (an *all-reduce*) and every rank
then takes the same optimizer step from the same weights: they stay
identical, and match one process taking the whole batch. With equal parts
(s_r = 1/N) the sum is the mean: add the N gradients, divide by N.

All gradients travel in ONE flat buffer: one collective per step, not one
per parameter. CPU arrays go through MPI (mpi4py), GPU arrays through NCCL
(``cupy.cuda.nccl``), one GPU per rank.

    mpiexec -n 2 python examples/train_mnist.py --distributed ...

Before :func:`init`, the world is this one process (rank 0 of 1) and every
function here does nothing, so a training loop can call them always.

Failures: every collective waits at most ``timeout`` seconds. Each rank first
tells the others it has arrived, so when the deadline passes the ranks that
never came (crashed, killed or stuck) are named, and the whole job is stopped
(MPI_Abort) instead of hanging. An exception escaping on any rank after
:func:`init` also stops every rank at once, naming it.
"""
import json
import math
import sys
import time
from collections import namedtuple
from types import SimpleNamespace

import numpy as np

from minigrad import backend

__all__ = [
    "BatchPart", "DistributedError", "INSTALL", "MyBatch", "all_reduce_gradients", "batch_part",
    "broadcast_parameters", "init", "is_main", "local_rank", "my_batches", "rank",
    "sum_over_ranks", "world_size",
]

INSTALL = "pip install 'minigrad[distributed]'"
ARRIVAL_TAG = 7  # the point-to-point "I have arrived" messages


class DistributedError(RuntimeError):
    """MPI or NCCL is missing or misused; the message says what to do."""


BatchPart = namedtuple("BatchPart", ["rows", "share"])
BatchPart.__doc__ = """This rank's part of a global batch: ``rows`` (a slice of the
batch) and ``share`` = s_r, the fraction of the batch's loss these rows carry."""

MyBatch = namedtuple("MyBatch", ["images", "labels", "share", "count"])
MyBatch.__doc__ = """This process's part of a global batch: its ``images`` and ``labels``,
the ``share`` of the batch's loss they carry, and the ``count`` of the whole batch."""

# The job this process belongs to; before init(), a world of one.
_world = SimpleNamespace(mpi=None, comm=None, rank=0, size=1, local_rank=0, timeout=60.0,
                         nccl=None, calls=0)


# ---------------------------------------------------------------- the world ---

def init(device="cpu", timeout=60.0):
    """Join the job that mpiexec started; returns (rank, world size).

    device 'gpu': take GPU number local_rank() on this machine and open an
    NCCL communicator for the gradients. timeout: seconds any collective may
    wait for the other ranks before the job is stopped.
    """
    if _world.comm is not None:
        raise DistributedError("init() was already called in this process")
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"init: timeout must be a positive number of seconds, got {timeout!r}")
    device = backend.validate_device(device)
    mpi = _import_mpi()
    comm = mpi.COMM_WORLD.Dup()  # our own channel: the user's MPI messages never mix with ours
    machine = comm.Split_type(mpi.COMM_TYPE_SHARED, key=comm.Get_rank())
    _world.local_rank = machine.Get_rank()
    machine.Free()
    _world.mpi, _world.comm, _world.timeout = mpi, comm, float(timeout)
    _world.rank, _world.size = comm.Get_rank(), comm.Get_size()
    sys.excepthook = _stopping_every_rank(sys.excepthook)
    if device == "gpu":
        _open_nccl()
    return _world.rank, _world.size


def rank():
    """This process's number, 0 .. world_size() − 1."""
    return _world.rank


def world_size():
    """How many processes train together."""
    return _world.size


def local_rank():
    """This process's number among the ranks on the same machine (picks its GPU)."""
    return _world.local_rank


def is_main():
    """True on rank 0, the one rank that writes checkpoints, metrics and plots."""
    return _world.rank == 0


def _import_mpi():
    try:
        from mpi4py import MPI
    except (ImportError, RuntimeError) as error:  # RuntimeError: no MPI library found
        raise DistributedError("distributed training needs mpi4py and an MPI library with "
                               f"mpiexec; install them with `{INSTALL}` ({error})") from None
    return MPI


def _stopping_every_rank(previous_hook):
    """An excepthook: report the error as usual, then stop all ranks (the
    others would otherwise wait for this one until their timeout)."""
    def hook(kind, value, traceback):
        previous_hook(kind, value, traceback)
        print(f"minigrad.distributed: rank {_world.rank} stopped with {kind.__name__}: "
              f"{value}; stopping all {_world.size} ranks", file=sys.stderr, flush=True)
        _world.comm.Abort(1)
    return hook


NCCL_PACKAGE = "nvidia-nccl-cu12"  # NCCL's library for CUDA 12, as CuPy finds it


def _nccl():
    """CuPy's NCCL bindings, imported explicitly (``cupy.cuda`` has no ``nccl`` until
    then), or DistributedError saying what to install."""
    nccl = getattr(backend.gpu_module().cuda, "nccl", None)
    if nccl is None:
        try:
            nccl = backend.gpu_submodule("cuda.nccl")
        except ImportError as error:
            raise DistributedError(f"NCCL is unavailable to CuPy ({error}); install it with "
                                   f"`pip install {NCCL_PACKAGE}`") from None
    if not getattr(nccl, "available", True):
        raise DistributedError(f"CuPy finds no NCCL library; install it with "
                               f"`pip install {NCCL_PACKAGE}`")
    return nccl


def _open_nccl():
    """Use GPU number local_rank() and join the NCCL communicator; rank 0 makes
    its id and MPI carries it to the others."""
    gpu = backend.gpu_module()
    count = gpu.cuda.runtime.getDeviceCount()
    if _world.local_rank >= count:
        raise DistributedError(
            f"rank {_world.rank} is process {_world.local_rank + 1} on its machine, which has "
            f"{count} GPU(s): start at most {count} ranks per machine with device 'gpu'")
    gpu.cuda.Device(_world.local_rank).use()
    nccl = _nccl()
    unique_id = b""
    if _world.rank == 0:
        unique_id = np.asarray(nccl.get_unique_id(), dtype=np.int16).tobytes()
    unique_id = _broadcast_bytes(unique_id, "init (the NCCL id)")
    unique_id = tuple(np.frombuffer(unique_id, dtype=np.int16).tolist())
    _world.nccl = nccl.NcclCommunicator(_world.size, unique_id, _world.rank)


# ------------------------------------------------------------- the batches ---

def my_batches(batches):
    """This process's part of each global batch ``(images, labels)`` of ``batches``, as
    a MyBatch: a training loop takes these and needs to know nothing of the ranks
    (on its own, a process takes every batch whole, with share 1)."""
    for images, labels in batches:
        part = batch_part(len(labels))
        yield MyBatch(images[part.rows], labels[part.rows], part.share, len(labels))


def batch_part(count, part=None, parts=None):
    """This rank's part of a global batch of ``count`` images: a BatchPart.

    Rank r of N takes rows [r·count//N, (r+1)·count//N): for count = N·B that
    is rows [r·B, (r+1)·B), so the parts in rank order are the global batch in
    its order, and the run sees the images exactly as one process with batch
    N·B and the same seed. A batch smaller than the world (the last of an
    epoch, at most N − 1 images) is not cut: every rank takes all of it, with
    share 1/N. part, parts: r and N, by default rank() and world_size().
    """
    part = _world.rank if part is None else part
    parts = _world.size if parts is None else parts
    if not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"batch_part: count must be a positive integer, got {count!r}")
    if not 0 <= part < parts:
        raise ValueError(f"batch_part: part must be in [0, {parts}), got {part!r}")
    if count < parts:
        return BatchPart(slice(0, count), 1.0 / parts)
    start, stop = part * count // parts, (part + 1) * count // parts
    return BatchPart(slice(start, stop), (stop - start) / count)


# -------------------------------------------------------------- collectives ---

def broadcast_parameters(model, optimizer=None):
    """Give every rank rank 0's weights, and its optimizer state if given.

    Call it once after building (or resuming on rank 0) and before training:
    ranks that started from other weights, or that did not load the
    checkpoint, become identical to rank 0.
    """
    if _world.comm is None:
        return
    model.load_state_dict(_broadcast_arrays(model.state_dict(), "broadcast_parameters"))
    if optimizer is not None:
        state = _broadcast_arrays(optimizer.state_dict(), "broadcast_parameters (optimizer)")
        optimizer.load_state_dict(state)


def all_reduce_gradients(model, share=None):
    """grad ← Σ_r s_r · grad_r for every parameter, over all ranks, in ONE collective.

    share: this rank's s_r (BatchPart.share); None means equal parts, s_r =
    1/N: the mean of the ranks' gradients. Call it between backward and the
    optimizer step. Afterwards every rank holds the same gradients.
    """
    if _world.comm is None:
        return
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    buffer = _flatten_gradients(named)
    if share is not None and share * _world.size != 1:
        buffer *= share * _world.size  # an unequal part: weigh this rank's gradient
    if backend.device_of(buffer) == "gpu":
        _sum_on_gpus(buffer, "all_reduce_gradients")
    else:
        _sum_on_cpus(buffer, "all_reduce_gradients")
    buffer /= _world.size
    start = 0
    for _, p in named:
        p.grad = buffer[start:start + p.numel()].reshape(p.shape)
        start += p.numel()


def sum_over_ranks(value):
    """The sum of a number over all ranks, as a float on every rank (for
    instance the training loss of a whole batch from the ranks' parts)."""
    if _world.comm is None:
        return float(value)
    total = np.array([value], dtype=np.float64)
    _sum_on_cpus(total, "sum_over_ranks")
    return float(total[0])


def _flatten_gradients(named):
    """One new contiguous buffer holding every gradient, in parameter order."""
    for name, p in named:
        if p.grad is None:
            raise DistributedError(f"all_reduce_gradients: parameter {name!r} has no gradient "
                                   f"on rank {_world.rank}; call it after loss.backward()")
    first = named[0][1].grad
    xp = backend.get_array_module(first)
    buffer = xp.empty(sum(p.numel() for _, p in named), dtype=first.dtype)
    start = 0
    for name, p in named:
        if backend.get_array_module(p.grad) is not xp or p.grad.dtype != first.dtype:
            raise DistributedError(
                f"all_reduce_gradients: parameter {name!r} has a {p.grad.dtype} gradient on "
                f"{backend.device_of(p.grad)}, the first one a {first.dtype} gradient on "
                f"{backend.device_of(first)}; all must match")
        buffer[start:start + p.numel()] = p.grad.reshape(-1)
        start += p.numel()
    return buffer


def _sum_on_cpus(buffer, what):
    """buffer ← Σ over ranks, in place, through MPI."""
    mpi = _world.mpi
    _collective(what, lambda: _world.comm.Iallreduce(mpi.IN_PLACE, buffer, op=mpi.SUM).Test)


def _sum_on_gpus(buffer, what):
    """buffer ← Σ over ranks, in place, through NCCL on the current stream."""
    if _world.nccl is None:
        raise DistributedError(f"{what}: the gradients are on the GPU but init() was called "
                               "without device='gpu'")
    gpu = backend.gpu_module()
    nccl = _nccl()
    kinds = {"float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64}
    if buffer.dtype.name not in kinds:
        raise DistributedError(f"{what}: NCCL sums float32 or float64, got {buffer.dtype}")
    stream = gpu.cuda.get_current_stream()

    def start():
        _world.nccl.allReduce(buffer.data.ptr, buffer.data.ptr, buffer.size,
                              kinds[buffer.dtype.name], nccl.NCCL_SUM, stream.ptr)
        finished = gpu.cuda.Event(disable_timing=True)
        finished.record(stream)
        return lambda: finished.done
    _collective(what, start)


def _broadcast_arrays(arrays, what):
    """Rank 0's {name: NumPy array} on every rank: a JSON header (names,
    dtypes, shapes), then all the bytes in one buffer."""
    header = payload = b""
    if _world.rank == 0:
        header = json.dumps([[name, array.dtype.str, list(array.shape)]
                             for name, array in arrays.items()]).encode("utf-8")
        payload = b"".join(np.ascontiguousarray(array).tobytes() for array in arrays.values())
    header = _broadcast_bytes(header, what)
    payload = _broadcast_bytes(payload, what)
    received, offset = {}, 0
    for name, dtype, shape in json.loads(header.decode("utf-8")):
        dtype, count = np.dtype(dtype), math.prod(shape)
        received[name] = np.frombuffer(payload, dtype, count, offset).reshape(shape)
        offset += count * dtype.itemsize
    return received


def _broadcast_bytes(data, what):
    """Rank 0's bytes on every rank: first their length, then the bytes."""
    comm = _world.comm
    length = np.array([len(data)], dtype=np.int64)
    _collective(what, lambda: comm.Ibcast(length, root=0).Test)
    buffer = np.frombuffer(data, dtype=np.uint8).copy() if _world.rank == 0 \
        else np.empty(int(length[0]), dtype=np.uint8)
    _collective(what, lambda: comm.Ibcast(buffer, root=0).Test)
    return buffer.tobytes()


# ----------------------------------------------------- waiting, with a limit ---

def _collective(what, start):
    """Run one collective, waiting at most the timeout for the other ranks.

    start() begins it without blocking and returns a function telling whether
    it has finished. Before that, each rank sends every other one a short
    "arrived" note, so that at the deadline the missing ranks can be named.
    The notes are awaited too (a broadcast can finish on one rank before
    another arrives), so every collective also tells that all ranks are alive.
    """
    _world.calls += 1
    arrival = _announce_arrival()
    finished = start()
    notes = arrival.sends + list(arrival.notes.values())
    deadline = time.monotonic() + _world.timeout
    for done in (finished, lambda: _world.mpi.Request.Testall(notes)):
        pause = 0.0
        while not done():
            if time.monotonic() > deadline:
                _stop_job(what, arrival)
            time.sleep(pause)  # yield the core to the rank we wait for (2-core machines)
            pause = min(2 * pause + 1e-5, 1e-3)


def _announce_arrival():
    """Post this rank's note to every other rank, and receives for theirs."""
    comm, mine = _world.comm, np.array([_world.calls], dtype=np.int64)
    sends, notes, boxes = [], {}, []
    for peer in range(_world.size):
        if peer != _world.rank:
            sends.append(comm.Isend(mine, dest=peer, tag=ARRIVAL_TAG))
            boxes.append(np.empty(1, dtype=np.int64))
            notes[peer] = comm.Irecv(boxes[-1], source=peer, tag=ARRIVAL_TAG)
    return SimpleNamespace(sends=sends, notes=notes, buffers=[mine, *boxes])


def _stop_job(what, arrival):
    """The deadline passed: say who is missing, then stop every rank."""
    missing = [str(peer) for peer, note in arrival.notes.items() if not note.Test()]
    if missing:
        reason = (f"rank{'s' if len(missing) > 1 else ''} {', '.join(missing)} never arrived "
                  "(crashed, killed or stuck)")
    else:
        reason = "every rank arrived, but the collective did not finish"
    print(f"minigrad.distributed: rank {_world.rank} waited {_world.timeout:g} s in {what} "
          f"(collective #{_world.calls}): {reason}; stopping all {_world.size} ranks",
          file=sys.stderr, flush=True)
    _world.comm.Abort(1)
