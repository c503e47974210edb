"""Small data files made by the data tests: IDX, gzip, PNG, tar archives.

The real data are read from the directory named by MINIGRAD_DATA; tests that
need it skip when it is unset or missing, except under CI (env CI set),
where they fail instead.
"""
import gzip
import io
import os
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from minigrad.data.mnist_files import MNIST_NAMES


def real_data_dir():
    """The real data directory from MINIGRAD_DATA (skip, or fail under CI, if absent)."""
    value = os.environ.get("MINIGRAD_DATA")
    problem = None
    if not value:
        problem = "MINIGRAD_DATA is not set"
    elif not (Path(value) / "mnist").is_dir():
        problem = f"MINIGRAD_DATA={value} has no mnist/ folder"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"real-data tests must run under CI: {problem}")
        pytest.skip(problem)
    return Path(value)


def idx_bytes(array, magic=None, dims=None):
    """The IDX encoding of a uint8 array; magic / dims override the header."""
    array = np.asarray(array, dtype=np.uint8)
    dims = array.shape if dims is None else dims
    magic = 0x0800 + len(dims) if magic is None else magic
    return struct.pack(f">I{len(dims)}I", magic, *dims) + array.tobytes()


def write_file(path, data, compress=False):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def small_mnist(count=20, seed=0):
    """Random images (count, 28, 28) and digit labels (count,)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
    return images, rng.integers(0, 10, count).astype(np.uint8)


def write_small_mnist(folder, compress=True, count=20):
    """Write all four MNIST files (small, synthetic) into folder; return their contents."""
    contents = {}
    for name in MNIST_NAMES:
        images, labels = small_mnist(count, seed=len(name))
        data = idx_bytes(images if "images" in name else labels)
        write_file(Path(folder) / (name + (".gz" if compress else "")), data, compress)
        contents[name] = data
    return contents


def leftovers(folder):
    """Names of everything below folder, sorted."""
    return sorted(path.name for path in Path(folder).rglob("*"))


def png_bytes(array):
    """PNG bytes of a uint8 array, written by Pillow (mode L or RGB)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def blank_png(width, height):
    """PNG bytes of a black 8-bit grayscale width x height image, built row by row.

    Unlike Pillow, this never holds the whole image in memory, so a
    14000 x 14000 PNG costs a fraction of a second and under 1 MB.
    """
    row = b"\x00" + bytes(width)  # filter type 0, then the pixels
    compressor = zlib.compressobj(1)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", body)
            + _png_chunk(b"IEND", b""))


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def add_bytes(archive, name, data):
    member = tarfile.TarInfo(name)
    member.size = len(data)
    archive.addfile(member, io.BytesIO(data))


def write_varres_tar(path, files):
    """files: {member name: bytes}; plus the directory entries a real archive has."""
    with tarfile.open(path, "w:gz") as archive:
        directory = tarfile.TarInfo("mnist-varres")
        directory.type = tarfile.DIRTYPE
        archive.addfile(directory)
        for name, data in files.items():
            add_bytes(archive, name, data)
    return path


def write_varres_folder(data_dir, files):
    """The extracted layout: files {"mnist-varres/...": bytes} under data_dir."""
    for name, data in files.items():
        write_file(Path(data_dir) / name, data)
    return Path(data_dir) / "mnist-varres"


def small_varres_files(seed=0):
    """A few PNGs of sizes 32 and 48 in both splits; returns {member name: array}."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in (("train", 12), ("test", 4)):
        for index in range(count):
            side = 32 if index % 3 else 48
            digit = index % 10
            name = f"mnist-varres/{split}/{digit}/{index:06d}.png"
            arrays[name] = rng.integers(0, 256, (side, side), dtype=np.uint8)
    return arrays


def labels_of(groups):
    return np.concatenate([labels for _, labels in groups.values()])
