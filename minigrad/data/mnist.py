"""Find and load the MNIST IDX files.

Accepted layouts under the data directory DIR, searched in this order, each
file gzip-compressed (``.gz``) or not:

    DIR/mnist/<name>[.gz]          what download_mnist writes
    DIR/<name>[.gz]                the four files straight in DIR
    DIR/MNIST/raw/<name>[.gz]      torchvision's layout
"""

from pathlib import Path

import numpy as np

from .download import download_mnist
from .idx import read_idx
from .mnist_files import MIRROR_ENV, MNIST_NAMES, SPLIT_FILES, SPLITS
from .paths import DATA_ENV, check_folder, resolve_data_dir

__all__ = ["find_mnist", "load_mnist", "mnist_candidates"]

SUBFOLDERS = ("mnist", ".", "MNIST/raw")
NUM_CLASSES = 10


def mnist_candidates(data_dir, name):
    """Every path where the MNIST file `name` is looked for, in order."""
    data_dir = Path(data_dir)
    paths = []
    for sub in SUBFOLDERS:
        folder = data_dir if sub == "." else data_dir / sub
        paths.append(folder / (name + ".gz"))
        paths.append(folder / name)
    return paths


def find_mnist(data_dir, split=None):
    """Return a dict name -> Path of the MNIST files of `split` (all four if None).

    Raises FileNotFoundError listing every place looked if one is missing.
    """
    names = MNIST_NAMES if split is None else SPLIT_FILES[_check_split(split)]
    found, missing = {}, []
    for name in names:
        path = _first_existing(mnist_candidates(data_dir, name))
        if path is None:
            missing.append(name)
        else:
            found[name] = path
    if missing:
        error = FileNotFoundError(_missing_message(data_dir, missing))
        error.missing = missing
        raise error
    return found


def load_mnist(data_dir=None, split="train", download=True, redownload=False):
    """Load one MNIST split as (images uint8 (N, 28, 28), labels int64 (N,)).

    data_dir: see resolve_data_dir (argument, else MINIGRAD_DATA, else ./data).
    If files are missing and `download` is true, download_mnist is tried
    first; it never replaces a file in ``DIR/mnist/`` that fails its
    checksum (ChecksumMismatchError) unless `redownload` is true, which
    re-downloads such files on purpose, moving the old ones aside (see
    download_mnist). Raises FileNotFoundError explaining where it looked and
    how to point at a local copy if the files cannot be found or fetched.
    """
    split = _check_split(split)
    data_dir = resolve_data_dir(data_dir)
    check_folder(data_dir, f"the data folder (--data-dir or {DATA_ENV})")
    if redownload:
        download_mnist(data_dir, names=SPLIT_FILES[split], redownload=True)
    try:
        paths = find_mnist(data_dir, split)
    except FileNotFoundError as missing:
        if not download:
            raise
        paths = _download_or_explain(data_dir, split, missing.missing)
    images_name, labels_name = SPLIT_FILES[split]
    images = read_idx(paths[images_name], ndim=3)
    labels = read_idx(paths[labels_name], ndim=1)
    _check_pair(images, labels, paths[images_name], paths[labels_name])
    return images, labels.astype(np.int64)


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    return split


def _first_existing(paths):
    for path in paths:
        if path.is_file():
            return path
    return None


def _missing_message(data_dir, names, download_error=None):
    """The cause first, in one line (the files missing, and why the download failed),
    then the remedy, every place looked in, and every mirror tried."""
    cause = f"MNIST file(s) not found: {', '.join(names)}, in {data_dir} or its mnist/ or MNIST/raw/"
    details = []
    if download_error is not None:
        first, _, details = str(download_error).partition("\n")
        cause += f", and the download failed: {first}"
        details = [details] if details else []
    lines = [cause + ".",
             "Point at a local copy with --data-dir DIR or the environment variable "
             f"{DATA_ENV}=DIR (DIR holding mnist/*-ubyte.gz, *-ubyte.gz or MNIST/raw/), "
             f"or set {MIRROR_ENV} to a base URL to download from (file:// works). Looked in:"]
    for name in names:
        lines += [f"  {path}" for path in mnist_candidates(data_dir, name)]
    return "\n".join(lines + details)


def _download_or_explain(data_dir, split, missing):
    """Download the split's files; on failure raise FileNotFoundError with both stories."""
    try:
        download_mnist(data_dir, names=SPLIT_FILES[split])
    except OSError as error:
        raise FileNotFoundError(_missing_message(data_dir, missing, error)) from error
    return find_mnist(data_dir, split)


def _check_pair(images, labels, images_path, labels_path):
    """Check shapes agree and labels are digits."""
    if images.shape[1:] != (28, 28):
        raise ValueError(f"{images_path}: MNIST images must be 28 x 28, found {images.shape[1:]}")
    if len(images) != len(labels):
        raise ValueError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels"
        )
    if labels.size and labels.max() >= NUM_CLASSES:
        raise ValueError(f"{labels_path}: label {labels.max()} is not a digit 0-9")
