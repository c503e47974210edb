"""Load mnist-varres: MNIST digits on 32x32, 48x48 or 64x64 canvases.

Source, under the data directory DIR (first found wins):

    DIR/mnist-varres.tgz                         read as a stream, never extracted
    DIR/mnist-varres/{train,test}/<digit>/*.png  an extracted copy

Since the images differ in size, a split is returned as a dict
(H, W) -> (images uint8 (n, H, W), labels int64 (n,)), keys in sorted
order, images sorted by file path within each group.

Every PNG must be square and 8-bit grayscale (mode L); a corrupt file or
another kind of image stops the loading with a ValueError naming it. Its
size is read from the PNG header BEFORE it is decoded: an image with a side
below `min_size` (default MIN_SIDE = 8, the smallest input the
variable-resolution network accepts) or above `max_size` (default
MAX_SIDE = 512, which bounds the memory of a batch) is skipped, and each
load prints a warning on stderr with the count and the first file names.

Decoding the 70,000 PNGs takes several seconds, so the decoded arrays are
cached per split as a compressed .npz (see cache.py) in the user's cache
folder; the cache key records the source's path, size and mtime and the
size limits, so a changed source is decoded again.
"""

import hashlib
import io
import os
import struct
import sys
from pathlib import Path

import numpy as np

from ..fileio import remove_stale_temporaries
from .cache import default_cache_dir, read_group_cache, write_group_cache
from .mnist_files import SPLITS
from .paths import DATA_ENV, check_folder, resolve_data_dir
from .tarsafe import iter_tar_files

__all__ = ["MAX_SIDE", "MIN_SIDE", "decode_varres", "find_varres", "load_varres", "png_size"]

ARCHIVE_NAME = "mnist-varres.tgz"
FOLDER_NAME = "mnist-varres"
DIGITS = tuple(str(digit) for digit in range(10))
MIN_SIDE = 8      # the variable-resolution network's smallest input (models.var_res_cnn)
MAX_SIDE = 512    # the real images are at most 64 px; larger ones are skipped
MAX_LISTED = 5    # skipped files named in the warning
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_COLOUR_TYPES = {0: "grayscale", 2: "RGB colour", 3: "palette colour", 4: "grayscale with alpha",
                    6: "RGB colour with alpha"}


def find_varres(data_dir):
    """Path of the archive or the extracted folder; FileNotFoundError otherwise."""
    data_dir = Path(data_dir)
    archive, folder = data_dir / ARCHIVE_NAME, data_dir / FOLDER_NAME
    if archive.is_file():
        if folder.is_dir():
            print(f"note: both {archive} and {folder}/ exist; reading the archive",
                  file=sys.stderr)
        return archive
    if folder.is_dir():
        return folder
    raise FileNotFoundError(
        f"mnist-varres not found: looked for {archive} and {folder}/. "
        "Point at the directory holding it with --data-dir DIR or MINIGRAD_DATA=DIR."
    )


def load_varres(data_dir=None, split="train", cache_dir=None, min_size=MIN_SIDE, max_size=MAX_SIDE):
    """Load one split of mnist-varres grouped by resolution (see module doc).

    data_dir: see resolve_data_dir. cache_dir: where the .npz cache lives
    (default: default_cache_dir(), never the data folder). min_size,
    max_size: images with a side outside this range are skipped, with a
    warning. On a cache miss both splits are decoded in one pass over the
    source and both are cached.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    _check_limits(min_size, max_size)
    data_dir = resolve_data_dir(data_dir)
    check_folder(data_dir, f"the data folder (--data-dir or {DATA_ENV})")
    source = find_varres(data_dir)
    key = f"{_source_key(source)}|sides {min_size}-{max_size}"
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    check_folder(cache_dir, "the cache folder (--cache-dir)")
    if source.is_dir() and cache_dir.resolve().is_relative_to(source.resolve()):
        raise ValueError(f"the cache folder {cache_dir} (--cache-dir) lies inside the image "
                         f"folder {source}: its files would change the images' cache key, so "
                         "the cache would never be used; choose a cache folder outside it")
    if cache_dir.is_dir():
        remove_stale_temporaries(cache_dir)  # left by a cache write that was killed
    cached = read_group_cache(_cache_path(cache_dir, source, split), key)
    if cached is not None and not _labels_are_digits(cached[0]):
        cached = None  # an edited cache file: decode the PNGs again, as for a damaged one
    if cached is None:
        by_split = decode_varres(source, min_size, max_size)
        for name, (split_groups, split_skipped) in by_split.items():
            write_group_cache(_cache_path(cache_dir, source, name), key, split_groups, split_skipped)
        cached = by_split[split]
    groups, skipped = cached
    if skipped:
        print(_skipped_warning(source, split, skipped, min_size, max_size), file=sys.stderr)
    if not groups:
        raise ValueError(f"{source}: no usable images for split {split!r}"
                         + (f" ({len(skipped):,} skipped for their size)" if skipped else ""))
    return groups


def decode_varres(source, min_size=MIN_SIDE, max_size=MAX_SIDE):
    """Decode every PNG of the archive or folder `source`, no cache involved.

    Returns {split: (groups, skipped)}: skipped lists the images with a side
    outside [min_size, max_size] as "train/3/000001.png (2 x 2)", in order.
    """
    source = Path(source)
    records = {split: [] for split in SPLITS}
    skipped = {split: [] for split in SPLITS}
    ignored = []
    for parts, data in _iter_source(source):
        where = _locate(parts, source)
        if where is None:
            ignored.append("/".join(parts))
            continue
        split, label, name = where
        shown = f"{source}: {name}"
        width, height = png_size(data, shown)
        if not (min_size <= width <= max_size and min_size <= height <= max_size):
            skipped[split].append(f"{name} ({width} x {height})")
            continue
        if width != height:
            raise ValueError(f"{shown}: the image is {width} x {height} pixels; "
                             "mnist-varres images must be square")
        records[split].append((name, label, _decode_png(data, shown)))
    if ignored:
        listed = ", ".join(ignored[:MAX_LISTED])
        more = f" and {len(ignored) - MAX_LISTED:,} more" if len(ignored) > MAX_LISTED else ""
        print(f"warning: {source}: ignored {len(ignored):,} file(s) that are not "
              f"train|test/<digit>/<name>.png images: {listed}{more}", file=sys.stderr)
    return {split: (_group(records[split]), sorted(skipped[split])) for split in SPLITS}


def png_size(data, where):
    """(width, height) from the header of PNG bytes, which must be 8-bit grayscale.

    Reads only the first chunk (IHDR), so nothing is decoded; a file that is
    not a PNG, or another kind of PNG, raises ValueError naming `where`.
    """
    if len(data) < 33 or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError(f"{where}: not a PNG image (its first bytes are not a PNG header)")
    width, height, bit_depth, colour_type = struct.unpack(">IIBB", data[16:26])
    if (bit_depth, colour_type) != (8, 0):
        kind = PNG_COLOUR_TYPES.get(colour_type, f"colour type {colour_type}")
        raise ValueError(f"{where}: the image is in {kind}, {bit_depth} bits per sample; "
                         "mnist-varres images must be 8-bit grayscale (mode L)")
    return width, height


def _labels_are_digits(groups):
    return all(labels.dtype.kind in "iu" and (not labels.size or 0 <= labels.min() <= labels.max()
                                              < len(DIGITS))
               for _, labels in groups.values())


def _check_limits(min_size, max_size):
    for name, value in (("min_size", min_size), ("max_size", max_size)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"load_varres: {name} must be a positive integer, got {value!r}")
    if min_size > max_size:
        raise ValueError(f"load_varres: min_size {min_size} is larger than max_size {max_size}")


def _skipped_warning(source, split, skipped, min_size, max_size):
    listed = ", ".join(skipped[:MAX_LISTED])
    more = f" and {len(skipped) - MAX_LISTED:,} more" if len(skipped) > MAX_LISTED else ""
    return (f"warning: {source}: skipped {len(skipped):,} {split} image(s) with a side outside "
            f"{min_size}-{max_size} pixels (load_varres min_size / max_size): {listed}{more}")


def _iter_source(source):
    """Yield (path parts below the mnist-varres folder, bytes) for every file."""
    if source.is_dir():
        yield from _iter_folder(source)
        return
    for parts, data in iter_tar_files(source):
        if parts and parts[0] == FOLDER_NAME:
            yield parts[1:], data


def _iter_folder(folder):
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            yield list(path.relative_to(folder).parts), path.read_bytes()


def _locate(parts, source):
    """(split, label, name) for split/digit/file.png (or .PNG), None for other files."""
    if len(parts) != 3 or parts[0] not in SPLITS or not parts[2].lower().endswith(".png"):
        return None
    split, digit, _ = parts
    name = "/".join(parts)
    if digit not in DIGITS:
        raise ValueError(f"{source}: {name}: class folder {digit!r} is not a digit 0-9")
    return split, int(digit), name


def _decode_png(data, where):
    """Decode the bytes of an 8-bit grayscale PNG (see png_size) to uint8 (H, W)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            return np.asarray(image, dtype=np.uint8)
    except UnidentifiedImageError as error:  # its message shows only an object's address
        raise ValueError(f"{where}: not a readable PNG image (Pillow cannot identify it)") from error
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError) as error:
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
    """A string that changes when the source changes: the archive's path, size and
    mtime; for a folder, a digest of every file's relative path, size and mtime (so
    moving a PNG to another class folder, a relabelling, changes it)."""
    resolved = source.resolve()
    if source.is_dir():
        return f"folder|{resolved}|{_folder_signature(resolved)}"
    info = resolved.stat()
    return f"archive|{resolved}|{info.st_size}|{info.st_mtime_ns}"


def _folder_signature(folder):
    """SHA-256 of (relative path, size, mtime_ns) of every file below folder, sorted."""
    digest = hashlib.sha256()
    for root, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            path = os.path.join(root, name)
            info = os.stat(path)
            digest.update(f"{os.path.relpath(path, folder)}|{info.st_size}|"
                          f"{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _cache_path(cache_dir, source, split):
    digest = hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:12]
    return Path(cache_dir) / f"mnist-varres-{split}-{digest}.npz"
