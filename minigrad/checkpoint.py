"""Saving and loading: state dicts as ``.npz`` files, and training checkpoints.

``save(state_dict, path)`` stores {name: array} as an ``.npz`` file, one
``.npy`` member per name, through :func:`minigrad.fileio.atomic_write` (a
crash mid-write leaves the old file as it was). ``load(path)`` reads it
back. Neither ever pickles: an array of Python objects is refused on both
sides, so loading a file never executes code from it.

A checkpoint is one such file holding the model's state (``model/<name>``),
the optimizer's (``optimizer/<name>``), and, as JSON text in a uint8 array,
a ``meta`` dict of your own and the state of a NumPy random generator.
"""
import json
import zipfile

import numpy as np

from minigrad import backend
from minigrad.fileio import atomic_write
from minigrad.tensor import Tensor

__all__ = ["load", "load_checkpoint", "load_meta", "non_finite", "save", "save_checkpoint"]


def save(state_dict, path):
    """Store ``state_dict`` ({name: array or Tensor}, on any device) at ``path``
    as an ``.npz`` file, atomically. Arrays of Python objects are refused."""
    if not isinstance(state_dict, dict):
        hint = " (pass model.state_dict())" if hasattr(state_dict, "state_dict") else ""
        raise TypeError(f"save: expected a state dict {{name: tensor or array}}, got "
                        f"{type(state_dict).__name__}{hint}; minigrad stores arrays, never "
                        "pickled objects")
    arrays = {}
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise TypeError(f"save: names must be strings, got {name!r}")
        if isinstance(value, Tensor):
            value = value.data
        array = np.asarray(backend.to_device(value, "cpu") if backend.is_array(value) else value)
        if array.dtype.hasobject:
            raise TypeError(f"save: {name!r} is an array of Python objects; only numbers are "
                            "stored (storing objects would need pickle)")
        arrays[name] = array
    with atomic_write(path) as file, zipfile.ZipFile(file, "w") as archive:
        for name, array in arrays.items():
            with archive.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def load(path, map_location=None, weights_only=True):
    """{name: NumPy array} from the ``.npz`` file at ``path``. A file that is no
    ``.npz`` of plain arrays (damaged, empty, pickled, a PyTorch ``.pt``) raises
    ValueError naming the file and what is wrong. PyTorch's ``weights_only`` and
    ``map_location`` are accepted: loading never runs code, and arrays load on the host
    (``load_state_dict`` moves them to each parameter's device)."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: not an .npz file of arrays ({error})") from None
    if isinstance(archive, np.ndarray):
        raise ValueError(f"{path}: holds one bare array (.npy), not named arrays (.npz)")
    state = {}
    with archive:
        for name in archive.files:
            try:
                value = archive[name]
            except ValueError as error:
                raise ValueError(f"{path}: {name!r} is refused: {error} (minigrad never "
                                 "unpickles, as that could run code from the file)") from None
            except (EOFError, OSError, zipfile.BadZipFile) as error:
                raise ValueError(f"{path}: {name!r} is damaged ({error})") from None
            if not isinstance(value, np.ndarray):
                raise ValueError(f"{path}: {name!r} is not a NumPy array (a PyTorch .pt file? "
                                 "minigrad reads .npz files only)")
            state[name] = value
    return state


def json_array(value):
    """JSON text as a uint8 array, so that it can travel in an .npz file."""
    return np.frombuffer(json.dumps(value).encode("utf-8"), dtype=np.uint8)


def from_json_array(state, key, path):
    """The value stored by :func:`json_array` as ``state[key]``, read from ``path``."""
    try:
        return json.loads(state[key].tobytes().decode("utf-8"))
    except ValueError as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ValueError(f"{path}: its {key!r} record is damaged ({error})") from None


def save_checkpoint(path, model, optimizer=None, rng=None, meta=None, extras=None):
    """Save ``model`` (and ``optimizer``, a NumPy Generator ``rng``, a JSON-able
    ``meta`` dict, and ``extras``: {part name: anything with a ``state_dict()``,
    such as a weight average, or None: left out}) to ``path``, atomically."""
    parts = {"model": model, "optimizer": optimizer, **(extras or {})}
    state = {f"{part}/{name}": value for part, owner in parts.items() if owner is not None
             for name, value in owner.state_dict().items()}
    if rng is not None:
        state["rng"] = json_array(rng.bit_generator.state)
    try:
        state["meta"] = json_array(meta or {})
    except (TypeError, ValueError) as error:  # e.g. a NumPy number: float(x) makes it JSON
        raise TypeError(f"save_checkpoint: meta must be JSON data (dicts, lists, str, int, "
                        f"float, bool, None): {error}") from None
    save(state, path)


def load_checkpoint(path, model, optimizer=None, extras=None):
    """Load ``path`` into ``model`` (and ``optimizer``, and each of ``extras``, as
    :func:`save_checkpoint` names them; None is skipped); return ``(meta, rng)``, ``rng`` a NumPy
    Generator in its saved state (None if none was saved).

    Raises ValueError naming the file if it is no checkpoint, does not fit the
    model, optimizer or extras, or holds NaN or infinite values in any part it loads
    (the weights, the optimizer's state, an extra such as a weight average).
    """
    state = load(path)
    extras = {part: owner for part, owner in (extras or {}).items() if owner is not None}
    parts = {"model": {}, "optimizer": {}, **{part: {} for part in extras}}
    for key, value in state.items():
        part, _, name = key.partition("/")
        if part in parts:
            parts[part][name] = value
    if "meta" not in state or not parts["model"]:
        raise ValueError(f"{path}: not a checkpoint (no model/... weights and meta record; "
                         "a model.npz loads with model.load_state_dict(minigrad.load(path)))")
    problem = non_finite(parts)
    if problem:
        raise ValueError(f"{path}: {problem}; a checkpoint with them cannot be trusted")
    if optimizer is not None and not parts["optimizer"]:
        raise ValueError(f"{path}: holds no optimizer state, so training cannot resume from it")
    for part in extras:
        if not parts[part]:
            raise ValueError(f"{path}: holds no {part!r} state")
    try:
        model.load_state_dict(parts["model"])
        if optimizer is not None:
            optimizer.load_state_dict(parts["optimizer"])
        for part, owner in extras.items():
            owner.load_state_dict(parts[part])
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    rng = None
    if "rng" in state:
        rng = np.random.default_rng()
        rng.bit_generator.state = from_json_array(state, "rng", path)
    return from_json_array(state, "meta", path), rng


def non_finite(parts):
    """None if every float array of ``parts`` ({part: {name: array}}) is finite, else
    "'NAME' of the PART holds N NaN or infinite value(s)" for the first that is not."""
    for part, arrays in parts.items():
        for name, value in arrays.items():
            value = np.asarray(value)
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                count = int(np.size(value) - np.isfinite(value).sum())
                return f"{name!r} of the {part} holds {count:,} NaN or infinite value(s)"
    return None


def load_meta(path):
    """The ``meta`` dict of the checkpoint at ``path``, without building a model
    (for instance to read the settings a run was started with)."""
    state = load(path)
    if "meta" not in state:
        raise ValueError(f"{path}: not a checkpoint (no meta record)")
    return from_json_array(state, "meta", path)
