"""An on-disk cache of grouped image arrays as a compressed .npz file.

A cache file holds a format version, a key string describing its source
(for example path, size and mtime of an archive) and the groups. Reading
returns None, meaning "rebuild", if the file is missing, stale (other key)
or unreadable in any way. Writing is atomic: temporary file in the same
folder, then os.replace; a folder that cannot be written only costs a
warning.
"""

import os
import stat
import tempfile
import warnings
from pathlib import Path

import numpy as np

__all__ = ["CACHE_VERSION", "default_cache_dir", "read_group_cache", "write_group_cache"]

CACHE_VERSION = 1


def default_cache_dir(data_dir):
    """``DATA_DIR/.minigrad-cache`` if DATA_DIR is writable, else the user cache.

    A directory whose permission bits deny writing counts as read-only even
    for root, so a shared read-only data folder is never written into. The
    user cache is ``$XDG_CACHE_HOME/minigrad``, default ``~/.cache/minigrad``.
    """
    data_dir = Path(data_dir)
    if _is_writable_dir(data_dir):
        return data_dir / ".minigrad-cache"
    user_cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(user_cache) / "minigrad"


def _is_writable_dir(path):
    if not path.is_dir() or not os.access(path, os.W_OK):
        return False
    return bool(path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def read_group_cache(path, key):
    """Return the cached groups dict, or None if missing, stale or unreadable."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            if int(archive["version"]) != CACHE_VERSION or str(archive["key"]) != key:
                return None
            return _unpack_groups(archive)
    except Exception:  # noqa: BLE001 - any damage to a cache file just means "rebuild"
        return None


def _unpack_groups(archive):
    groups = {}
    for index, (height, width) in enumerate(archive["shapes"].tolist()):
        images = archive[f"images_{index}"]
        labels = archive[f"labels_{index}"]
        if images.shape[1:] != (height, width) or len(images) != len(labels):
            raise ValueError("inconsistent cache entry")
        groups[(height, width)] = (images, labels)
    return groups


def write_group_cache(path, key, groups):
    """Atomically write groups to path; warn (don't fail) if that is impossible."""
    path = Path(path)
    arrays = {"version": np.array(CACHE_VERSION), "key": np.array(key)}
    arrays["shapes"] = np.array(list(groups), dtype=np.int64).reshape(-1, 2)
    for index, (images, labels) in enumerate(groups.values()):
        arrays[f"images_{index}"] = images
        arrays[f"labels_{index}"] = labels
    temp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        with os.fdopen(handle, "wb") as temp_file:
            np.savez_compressed(temp_file, **arrays)
        os.replace(temp_name, path)
    except OSError as error:
        warnings.warn(f"could not write the cache file {path}: {error}", stacklevel=2)
    finally:
        if temp_name is not None and os.path.exists(temp_name):
            os.remove(temp_name)
