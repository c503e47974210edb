"""Where the data lives: one rule, used by every loader."""

import os
from pathlib import Path

__all__ = ["DATA_ENV", "check_folder", "resolve_data_dir"]

DATA_ENV = "MINIGRAD_DATA"


def resolve_data_dir(data_dir=None):
    """Return the data directory as a Path.

    Order: the `data_dir` argument, else the environment variable
    MINIGRAD_DATA, else ``./data``. The directory need not exist yet
    (a download may create it).
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    from_env = os.environ.get(DATA_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return Path("data")


def check_folder(path, what):
    """Raise NotADirectoryError naming ``what`` ("the data folder (--data-dir or
    MINIGRAD_DATA)") if ``path`` is a file: said at once, rather than as files not found
    in it or a cache that cannot be written."""
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{what} {path} is a file, not a folder")
