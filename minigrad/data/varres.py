"""Load mnist-varres: MNIST digits on 32x32, 48x48 or 64x64 canvases.

Source, under the data directory DIR (first found wins):

    DIR/mnist-varres.tgz                         read as a stream, never extracted
    DIR/mnist-varres/{train,test}/<digit>/*.png  an extracted copy

Since the images differ in size, a split is returned as a dict
(H, W) -> (images uint8 (n, H, W), labels int64 (n,)), keys in sorted
order, images sorted by file path within each group.

Decoding the 70,000 PNGs takes several seconds, so the decoded arrays are
cached per split as a compressed .npz (see cache.py); the cache key records
the source's path, size and mtime, so a changed source is decoded again.
"""

import hashlib
import io
import os
from pathlib import Path

import numpy as np

from .cache import default_cache_dir, read_group_cache, write_group_cache
from .mnist_files import SPLITS
from .paths import resolve_data_dir
from .tarsafe import iter_tar_files

__all__ = ["decode_varres", "find_varres", "load_varres"]

ARCHIVE_NAME = "mnist-varres.tgz"
FOLDER_NAME = "mnist-varres"
DIGITS = tuple(str(digit) for digit in range(10))


def find_varres(data_dir):
    """Path of the archive or the extracted folder; FileNotFoundError otherwise."""
    data_dir = Path(data_dir)
    archive, folder = data_dir / ARCHIVE_NAME, data_dir / FOLDER_NAME
    if archive.is_file():
        return archive
    if folder.is_dir():
        return folder
    raise FileNotFoundError(
        f"mnist-varres not found: looked for {archive} and {folder}/. "
        "Point at the directory holding it with --data-dir DIR or MINIGRAD_DATA=DIR."
    )


def load_varres(data_dir=None, split="train", cache_dir=None):
    """Load one split of mnist-varres grouped by resolution (see module doc).

    data_dir: see resolve_data_dir. cache_dir: where the .npz cache lives
    (default: default_cache_dir(data_dir)). On a cache miss both splits are
    decoded in one pass over the source and both are cached.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    data_dir = resolve_data_dir(data_dir)
    source = find_varres(data_dir)
    key = _source_key(source)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir(data_dir)
    groups = read_group_cache(_cache_path(cache_dir, source, split), key)
    if groups is not None:
        return groups
    by_split = decode_varres(source)
    for name, split_groups in by_split.items():
        write_group_cache(_cache_path(cache_dir, source, name), key, split_groups)
    if not by_split[split]:
        raise ValueError(f"{source}: no images for split {split!r}")
    return by_split[split]


def decode_varres(source):
    """Decode every PNG of the archive or folder `source`, no cache involved.

    Returns {split: {(H, W): (images, labels)}}.
    """
    source = Path(source)
    records = {split: [] for split in SPLITS}
    for parts, data in _iter_source(source):
        where = _locate(parts, source)
        if where is None:
            continue
        split, label, name = where
        image = _decode_png(data, f"{source}: {name}")
        records[split].append((name, label, image))
    return {split: _group(split_records) for split, split_records in records.items()}


def _iter_source(source):
    """Yield (path parts below the mnist-varres folder, bytes) for every file."""
    if source.is_dir():
        yield from _iter_folder(source)
        return
    for parts, data in iter_tar_files(source):
        if parts and parts[0] == FOLDER_NAME:
            yield parts[1:], data


def _iter_folder(folder):
    for path in sorted(folder.rglob("*.png")):
        yield list(path.relative_to(folder).parts), path.read_bytes()


def _locate(parts, source):
    """(split, label, name) for split/digit/file.png, None for other files."""
    if len(parts) != 3 or parts[0] not in SPLITS or not parts[2].endswith(".png"):
        return None
    split, digit, _ = parts
    name = "/".join(parts)
    if digit not in DIGITS:
        raise ValueError(f"{source}: {name}: class folder {digit!r} is not a digit 0-9")
    return split, int(digit), name


def _decode_png(data, where):
    """Decode PNG bytes to a uint8 (H, W) array with Pillow (converted to mode L)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            if image.mode != "L":
                image = image.convert("L")
            return np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"{where}: not a readable PNG image ({error})") from error


def _group(records):
    """Group (name, label, image) records by image shape, sorted by name."""
    by_shape = {}
    for record in sorted(records, key=lambda item: item[0]):
        by_shape.setdefault(record[2].shape, []).append(record)
    groups = {}
    for shape in sorted(by_shape):
        members = by_shape[shape]
        images = np.stack([image for _, _, image in members])
        labels = np.array([label for _, label, _ in members], dtype=np.int64)
        groups[shape] = (images, labels)
    return groups


def _source_key(source):
    """A string that changes when the source changes: path, size, mtime."""
    resolved = source.resolve()
    if source.is_dir():
        size, mtime, count = _folder_signature(resolved)
        return f"folder|{resolved}|{count}|{size}|{mtime}"
    info = resolved.stat()
    return f"archive|{resolved}|{info.st_size}|{info.st_mtime_ns}"


def _folder_signature(folder):
    """(total size, newest mtime_ns, number of files) of every file below folder."""
    size = mtime = count = 0
    for root, _, files in os.walk(folder):
        for name in files:
            info = os.stat(os.path.join(root, name))
            size += info.st_size
            mtime = max(mtime, info.st_mtime_ns)
            count += 1
    return size, mtime, count


def _cache_path(cache_dir, source, split):
    digest = hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:12]
    return Path(cache_dir) / f"mnist-varres-{split}-{digest}.npz"
