"""MNIST for the PyTorch-idiom programs, with NumPy alone (no torchvision): the IDX files
in --data-dir or $MINIGRAD_DATA (the folder that holds mnist/), as float32 images
normalised with MNIST's mean and std, and int64 labels."""
import gzip
import os
from pathlib import Path

import numpy as np

MEAN, STD = 0.1307, 0.3081


def data_dir(given=None):
    """The folder holding mnist/*-ubyte.gz: --data-dir, else $MINIGRAD_DATA, else ./data."""
    return Path(given or os.environ.get("MINIGRAD_DATA") or "data").expanduser()


def read_idx(path):
    """The array in a gzipped IDX file (big-endian header, then uint8 data)."""
    with gzip.open(path, "rb") as file:
        raw = file.read()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_mnist(folder, train=True, limit=None):
    """(images (N, 1, 28, 28) float32, normalised; labels (N,) int64), the first ``limit``."""
    prefix = "train" if train else "t10k"
    mnist = data_dir(folder) / "mnist"
    images = read_idx(mnist / f"{prefix}-images-idx3-ubyte.gz")[:limit]
    labels = read_idx(mnist / f"{prefix}-labels-idx1-ubyte.gz")[:limit]
    images = ((images.astype(np.float32) / 255 - MEAN) / STD)[:, None]
    return np.ascontiguousarray(images), labels.astype(np.int64)
