"""One rank of the distributed tests, started as

    mpiexec -n N python tests/distributed_worker.py --out DIR [options]

It trains the fixed network for --steps steps on synthetic images, taking
its part of every global batch of N·--batch images, and writes into DIR its
final weights (rank<r>.npz) and what it saw (rank<r>.json: the global loss
of every step, its GPU and NCCL calls). Every rank starts from its OWN random
weights, so only broadcast_parameters can make them agree; with --checkpoint
only rank 0 loads it (model and Adam state) and the broadcast carries it.

--device fake-gpu runs the GPU code path on the CuPy stand-in, with a fake
cupy.cuda.nccl that records every call and sums through MPI on host copies.
--fail kill|stop|raise makes rank --fail-rank die (SIGKILL), hang (SIGSTOP)
or raise at step --fail-step.

tests/test_distributed.py imports the shared pieces (data, model, inputs).
"""
import argparse
import json
import os
import signal
import sys
import types

import numpy as np

import minigrad
import minigrad.functional as F
from minigrad import backend, data, distributed, models, optim
from minigrad.checkpoint import load_checkpoint, save
from minigrad.fileio import write_bytes
from minigrad.testing import fake_cupy

DATA_SEED, LR, MEAN, STD = 5, 1e-3, 0.1307, 0.3081


# ------------------------------------------------- shared with the tests ---

def make_groups(steps, global_batch):
    """Synthetic 28x28 images for exactly ``steps`` global batches, the last one
    shorter (about half), so the ranks' parts of it differ in size."""
    count = (steps - 1) * global_batch + global_batch // 2 + 1
    rng = np.random.default_rng(DATA_SEED)
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=count).astype(np.int64)
    return {(28, 28): (images, labels)}


def global_batches(groups, global_batch):
    """The shuffled global batches: the same order on every rank and in the reference."""
    return data.iterate_batches(groups, global_batch, rng=np.random.default_rng(DATA_SEED))


def build(dtype, device, seed):
    """The fixed network in ``dtype`` on ``device``, initialised from ``seed``, and its Adam."""
    minigrad.manual_seed(seed)
    model = models.fixed_res_cnn()
    for p in model.parameters():
        p.data = p.data.astype(dtype)
    model.to(device)
    return model, optim.Adam(model.parameters(), lr=LR)


def inputs(images, xp, dtype):
    """uint8 images -> normalised (n, 1, 28, 28) ``dtype`` array of module ``xp``."""
    return data.to_float(images, xp, MEAN, STD).astype(dtype)


# ----------------------------------------------- the fake GPU, with NCCL ---

class FakeNccl:
    """Stands in for cupy.cuda.nccl: records every call; allReduce sums the
    buffer over the ranks through MPI on a host copy."""

    NCCL_FLOAT32, NCCL_FLOAT64, NCCL_SUM = "ncclFloat32", "ncclFloat64", "ncclSum"
    log = {"unique_id": None, "communicator": None, "all_reduce": []}

    @staticmethod
    def get_unique_id():
        FakeNccl.log["unique_id"] = list(range(-64, 64))
        return tuple(range(-64, 64))

    class NcclCommunicator:
        def __init__(self, ndev, unique_id, rank):
            FakeNccl.log["communicator"] = {"ndev": ndev, "unique_id": list(unique_id),
                                            "rank": rank}

        def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):
            # fake_gpu_module makes an array's "pointer" the array itself
            FakeNccl.log["all_reduce"].append({
                "in_place": sendbuf is recvbuf, "count": count, "buffer_size": sendbuf.size,
                "datatype": datatype, "buffer_dtype": sendbuf.dtype.name, "op": op,
                "stream": stream})
            from mpi4py import MPI  # here, so the tests can import this file without it
            host = sendbuf.get()
            MPI.COMM_WORLD.Allreduce(MPI.IN_PLACE, host, op=MPI.SUM)
            recvbuf[...] = fake_cupy.asarray(host)


class FakeDevice:
    used = []

    def __init__(self, number):
        self.number = number

    def use(self):
        FakeDevice.used.append(self.number)


class FakeEvent:
    done = True

    def __init__(self, disable_timing=False):
        pass

    def record(self, stream=None):
        pass


def fake_gpu_module():
    """fake_cupy with a cuda namespace that has nccl, Device.use, Event, streams."""
    module = types.ModuleType("fake_cupy_with_nccl")
    module.__getattr__ = lambda name: getattr(fake_cupy, name)
    module.cuda = types.SimpleNamespace(
        nccl=FakeNccl, Device=FakeDevice, Event=FakeEvent,
        get_current_stream=lambda: types.SimpleNamespace(ptr=12345),
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 8))
    fake_cupy.ndarray.data = property(lambda array: types.SimpleNamespace(ptr=array))
    return module


# ------------------------------------------------------------- one rank ---

def parse(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=4, help="images per rank")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    parser.add_argument("--device", choices=["cpu", "gpu", "fake-gpu"], default="cpu")
    parser.add_argument("--checkpoint", help="rank 0 starts from it")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--fail", choices=["kill", "stop", "raise"])
    parser.add_argument("--fail-rank", type=int, default=1)
    parser.add_argument("--fail-step", type=int, default=3)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    if args.device == "fake-gpu":
        backend.set_gpu_module(fake_gpu_module())
    device = "cpu" if args.device == "cpu" else "gpu"
    rank, size = distributed.init(device, timeout=args.timeout)
    xp = backend.module_for(device)
    model, optimizer = build(np.dtype(args.dtype), device, seed=100 + rank)
    if args.checkpoint and distributed.is_main():
        load_checkpoint(args.checkpoint, model, optimizer)
    distributed.broadcast_parameters(model, optimizer)

    global_batch, losses = size * args.batch, []
    for step, (images, labels) in enumerate(global_batches(make_groups(args.steps, global_batch),
                                                           global_batch)):
        if args.fail and step == args.fail_step and rank == args.fail_rank:
            fail(args.fail, rank)
        part = distributed.batch_part(len(labels))
        loss = F.cross_entropy(model(minigrad.Tensor(inputs(images[part.rows], xp, args.dtype))),
                               labels[part.rows])
        optimizer.zero_grad()
        loss.backward()
        distributed.all_reduce_gradients(model, part.share)
        optimizer.step()
        losses.append(distributed.sum_over_ranks(loss.item() * part.share))

    save(model.state_dict(), os.path.join(args.out, f"rank{rank}.npz"))
    seen = {"rank": rank, "world_size": size, "local_rank": distributed.local_rank(),
            "losses": losses, "devices_used": FakeDevice.used, "nccl": FakeNccl.log}
    write_bytes(os.path.join(args.out, f"rank{rank}.json"), json.dumps(seen).encode())


def fail(how, rank):
    print(f"worker: rank {rank} fails now ({how})", file=sys.stderr, flush=True)
    if how in ("kill", "stop"):
        os.kill(os.getpid(), signal.SIGKILL if how == "kill" else signal.SIGSTOP)
    raise RuntimeError(f"planted failure on rank {rank}")


if __name__ == "__main__":
    main()
