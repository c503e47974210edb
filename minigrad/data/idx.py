"""Reader for IDX files, the container format of the MNIST distribution.

An IDX file is a big-endian header followed by raw bytes::

    byte 0-1   zero
    byte 2     element type; only 0x08 (unsigned byte) is supported here
    byte 3     number of dimensions D
    then D 32-bit unsigned sizes, then prod(sizes) elements, row-major.

MNIST images are magic 2051 (0x00000803: ubyte, 3 dims: N, 28, 28) and
labels 2049 (0x00000801: ubyte, 1 dim: N). Files may be gzip-compressed
(recognised by their first two bytes, whatever the suffix).

Every size in the header is checked against the real amount of data BEFORE
any buffer is allocated, so a damaged or hostile header gives a ValueError,
never a MemoryError or a long hang.
"""

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["read_idx"]

UBYTE_TYPE = 0x08
MAX_NDIM = 8
CHUNK_SIZE = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
# Deflate cannot expand data by more than about 1032:1; anything claiming
# more than this is a lie we can reject without decompressing.
MAX_GZIP_RATIO = 1100


def read_idx(path, ndim=None):
    """Read an unsigned-byte IDX file (raw or gzip) into a uint8 array.

    ndim: if given, the number of dimensions the header must declare.
    Raises FileNotFoundError if the file is missing and ValueError naming
    the file for a wrong magic number, a truncated file, trailing bytes,
    or a header that claims more data than the file can hold.
    """
    path = Path(path)
    compressed = _is_gzip(path)
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as stream:
            dims = _read_header(stream, path)
            if ndim is not None and len(dims) != ndim:
                raise ValueError(
                    f"{path}: expected an IDX file with {ndim} dimension(s), "
                    f"the header declares {len(dims)} ({_dims_text(dims)})"
                )
            payload_size = math.prod(dims)
            header_size = 4 + 4 * len(dims)
            _check_payload_fits(path, compressed, header_size, payload_size, dims)
            data = _read_payload(stream, path, payload_size, dims)
            _check_nothing_follows(stream, path, payload_size, dims)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ValueError(f"{path}: corrupt gzip file ({error})") from error
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _is_gzip(path):
    """True if the file starts with the gzip magic bytes."""
    with open(path, "rb") as stream:
        return stream.read(2) == GZIP_MAGIC


def _dims_text(dims):
    return " x ".join(str(size) for size in dims) or "scalar"


def _read_exactly(stream, size, path, what):
    """Read `size` bytes (size is small: header fields) or fail clearly."""
    data = stream.read(size)
    if len(data) != size:
        raise ValueError(f"{path}: truncated IDX file: the file ends inside the {what}")
    return data


def _read_header(stream, path):
    """Parse and check the magic number and dimensions; return the sizes."""
    magic = _read_exactly(stream, 4, path, "magic number")
    zero, type_code, ndim = magic[:2], magic[2], magic[3]
    if zero != b"\x00\x00":
        number = struct.unpack(">I", magic)[0]
        raise ValueError(
            f"{path}: not an IDX file: magic number {number} (0x{number:08x}); "
            "expected 2051 for images or 2049 for labels (0x000008DD, DD = dimensions)"
        )
    if type_code != UBYTE_TYPE:
        raise ValueError(
            f"{path}: IDX element type 0x{type_code:02x} is not supported; "
            "only unsigned bytes (0x08) are"
        )
    if not 1 <= ndim <= MAX_NDIM:
        raise ValueError(f"{path}: IDX header declares {ndim} dimensions; expected 1 to {MAX_NDIM}")
    raw_dims = _read_exactly(stream, 4 * ndim, path, "dimension sizes")
    return tuple(struct.unpack(f">{ndim}I", raw_dims))


def _check_payload_fits(path, compressed, header_size, payload_size, dims):
    """Compare the header's claim with what the file can hold, before reading."""
    file_size = os.path.getsize(path)
    claim = f"the header declares {_dims_text(dims)} = {payload_size:,} bytes of data"
    if compressed:
        if payload_size + header_size > file_size * MAX_GZIP_RATIO:
            raise ValueError(
                f"{path}: {claim}, more than a gzip file of {file_size:,} bytes can hold "
                "(damaged header or truncated file)"
            )
        return
    available = file_size - header_size
    if available < payload_size:
        raise ValueError(f"{path}: truncated IDX file: {claim} but only {available:,} follow")
    if available > payload_size:
        raise ValueError(
            f"{path}: {claim} but {available - payload_size:,} unexpected bytes follow them"
        )


def _read_payload(stream, path, payload_size, dims):
    """Read exactly payload_size bytes in chunks.

    Reading in chunks means memory grows only with the data really present,
    whatever the header claims.
    """
    data = bytearray()
    while len(data) < payload_size:
        chunk = stream.read(min(CHUNK_SIZE, payload_size - len(data)))
        if not chunk:
            raise ValueError(
                f"{path}: truncated IDX file: the header declares {_dims_text(dims)} = "
                f"{payload_size:,} bytes of data but only {len(data):,} are present"
            )
        data += chunk
    return data


def _check_nothing_follows(stream, path, payload_size, dims):
    """Raise ValueError if bytes follow the payload.

    Damaged bytes inside a gzip stream often decompress to MORE data, and
    gzip checks its CRC only at the end of the stream: so read on to the end
    (at most about payload_size more bytes), letting the CRC check report a
    corrupt gzip file as such rather than as trailing bytes.
    """
    extra = 0
    while extra <= payload_size:
        chunk = stream.read(CHUNK_SIZE)
        if not chunk:
            break
        extra += len(chunk)
    if extra:
        raise ValueError(
            f"{path}: unexpected bytes after the {payload_size:,} bytes of data "
            f"declared by the header ({_dims_text(dims)})"
        )
