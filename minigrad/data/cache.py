"""An on-disk cache of grouped image arrays as a compressed .npz file.

A cache file holds a format version, a key string describing its source
(for example path, size and mtime of an archive), the groups, and notes
(short strings the loader wants repeated on every load, such as the names
of skipped files). Reading returns None, meaning "rebuild", if the file is
missing, stale (other key) or unreadable in any way. Writing goes through
minigrad.fileio.atomic_write (permissions 0644); a folder that cannot be
written only costs a warning on stderr.

Caches live in the user's cache folder, never in the data folder unasked:
``$XDG_CACHE_HOME/minigrad``, else ``~/.cache/minigrad``.
"""

import os
import sys
from pathlib import Path

import numpy as np

from ..fileio import atomic_write

__all__ = ["CACHE_VERSION", "default_cache_dir", "read_group_cache", "write_group_cache"]

CACHE_VERSION = 2


def default_cache_dir():
    """``$XDG_CACHE_HOME/minigrad``, else ``~/.cache/minigrad``.

    As the XDG specification says, an XDG_CACHE_HOME that is not an
    absolute path is ignored.
    """
    user_cache = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(user_cache):
        user_cache = Path.home() / ".cache"
    return Path(user_cache) / "minigrad"


def read_group_cache(path, key):
    """Return (groups, notes) from the cache, or None if missing, stale or unreadable."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            if int(archive["version"]) != CACHE_VERSION or str(archive["key"]) != key:
                return None
            return _unpack_groups(archive), [str(note) for note in archive["notes"]]
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


def write_group_cache(path, key, groups, notes=()):
    """Atomically write groups and notes to path; warn on stderr (don't fail) if that is
    impossible."""
    path = Path(path)
    arrays = {"version": np.array(CACHE_VERSION), "key": np.array(key)}
    arrays["notes"] = np.array(list(notes), dtype=str)
    arrays["shapes"] = np.array(list(groups), dtype=np.int64).reshape(-1, 2)
    for index, (images, labels) in enumerate(groups.values()):
        arrays[f"images_{index}"] = images
        arrays[f"labels_{index}"] = labels
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, mode=0o644) as cache_file:
            np.savez_compressed(cache_file, **arrays)
    except OSError as error:  # one line on stderr, as the loaders' other warnings
        print(f"warning: could not write the cache file {path}: {error.strerror or error}; "
              "the images will be decoded again next time", file=sys.stderr)
