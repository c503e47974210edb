"""Checkpoints: model, optimizer and random-generator state in one ``.npz``.

Written atomically (a temporary file in the same folder, flushed and synced,
then renamed over the target), so a crash mid-write never leaves a broken
checkpoint or destroys the previous one. Read with ``allow_pickle=False``:
loading never executes code. Non-array state (the generator's state, epoch,
anything else in ``meta``) travels as JSON text stored in a uint8 array.
"""
import json
import os

import numpy as np

__all__ = ["load_checkpoint", "load_meta", "save_arrays", "save_checkpoint"]


def _json_array(value):
    return np.frombuffer(json.dumps(value).encode("utf-8"), dtype=np.uint8)


def _from_json_array(array):
    return json.loads(array.tobytes().decode("utf-8"))


def save_arrays(path, arrays):
    """``numpy.savez`` to ``path`` atomically; the old file survives any failure."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_checkpoint(path, model, optimizer=None, rng=None, meta=None):
    """Save ``model`` (and ``optimizer``, a NumPy Generator ``rng``, a JSON-able
    ``meta`` dict) to ``path``."""
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    if optimizer is not None:
        arrays.update({f"optimizer/{k}": v for k, v in optimizer.state_dict().items()})
    if rng is not None:
        arrays["rng"] = _json_array(rng.bit_generator.state)
    arrays["meta"] = _json_array(meta or {})
    save_arrays(path, arrays)


def load_checkpoint(path, model, optimizer=None):
    """Load ``path`` into ``model`` (and ``optimizer``); return ``(meta, rng)``,
    ``rng`` a NumPy Generator restored to its saved state (or None)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    model.load_state_dict({k[len("model/"):]: v for k, v in arrays.items()
                           if k.startswith("model/")})
    if optimizer is not None:
        optimizer.load_state_dict({k[len("optimizer/"):]: v for k, v in arrays.items()
                                   if k.startswith("optimizer/")})
    rng = None
    if "rng" in arrays:
        rng = np.random.default_rng()
        rng.bit_generator.state = _from_json_array(arrays["rng"])
    return _from_json_array(arrays["meta"]), rng


def load_meta(path):
    """The ``meta`` dict of the checkpoint at ``path``, without building a model
    (for instance to read the settings a run was started with)."""
    with np.load(path, allow_pickle=False) as data:
        return _from_json_array(data["meta"])
