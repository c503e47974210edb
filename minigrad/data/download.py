"""Download the MNIST files from a mirror, verified, without ever replacing a user's file.

Each file is fetched as ``<base URL><name>.gz`` into memory (at most the
expected size plus 1 MiB), its DECOMPRESSED bytes are checked against the
published MD5, and only then is it written with minigrad.fileio's atomic
writer (permissions 0644): no half-written file is ever left behind.

A file already in place that verifies is kept. One that does NOT verify
(perhaps the user's own edited copy) is never replaced silently:
ChecksumMismatchError names it with both checksums, before anything is
downloaded. ``redownload=True`` asks for it on purpose: a verified
download then takes its place and the old file is first moved aside to
``<name>.gz.old`` (``.old.1``, ``.old.2``, ... if that name is taken).
"""

import gzip
import hashlib
import http.client
import io
import os
import urllib.request
import zlib
from pathlib import Path

from ..fileio import remove_stale_temporaries, write_bytes
from .mnist_files import MIRROR_ENV, MNIST_MD5, MNIST_NAMES, MNIST_SIZES

__all__ = ["DEFAULT_MIRRORS", "ChecksumMismatchError", "DownloadError", "download_mnist",
           "mnist_file_problem", "mnist_mirrors", "verify_mnist_file"]

DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
TIMEOUT_SECONDS = 30
CHUNK_SIZE = 1 << 20
# A gzip file is never much larger than what it holds; refuse endless streams.
MAX_EXTRA_BYTES = 1 << 20


class DownloadError(OSError):
    """No mirror delivered a file that passed verification."""


class ChecksumMismatchError(ValueError):
    """A file already in place fails verification, so a download would replace it."""


def mnist_mirrors(mirrors=None):
    """The base URLs to try, in order.

    The `mirrors` argument wins, then the environment variable
    MINIGRAD_MNIST_MIRROR (one base URL, used alone; ``file://`` URLs and
    plain directory paths work), then DEFAULT_MIRRORS.
    """
    if mirrors is None:
        from_env = os.environ.get(MIRROR_ENV)
        mirrors = [from_env] if from_env else list(DEFAULT_MIRRORS)
    return [_as_base_url(mirror) for mirror in mirrors]


def _as_base_url(mirror):
    """A URL ending in '/'; a plain directory path becomes a file:// URL."""
    mirror = str(mirror)
    if "://" not in mirror:
        mirror = Path(mirror).expanduser().resolve().as_uri()
    return mirror if mirror.endswith("/") else mirror + "/"


def download_mnist(data_dir, mirrors=None, names=MNIST_NAMES, redownload=False):
    """Download the MNIST files `names` into ``data_dir/mnist/<name>.gz``.

    Files already present and verified are kept. A present file that fails
    verification raises ChecksumMismatchError (a ValueError) before anything
    is downloaded, unless `redownload` is true: then it is moved aside to
    ``<name>.gz.old`` once a verified copy has been downloaded (see module
    doc). Returns a dict name -> Path. Raises DownloadError (an OSError)
    listing what each mirror did wrong if a file could not be obtained.
    """
    unknown = [name for name in names if name not in MNIST_MD5]
    if unknown:
        raise ValueError(f"unknown MNIST file name(s) {unknown}; expected some of {list(MNIST_NAMES)}")
    folder = Path(data_dir) / "mnist"
    if folder.is_dir():
        remove_stale_temporaries(folder)  # left by a download that was killed
    targets = {name: folder / (name + ".gz") for name in names}
    to_fetch = [name for name in names if _needs_download(targets[name], name, redownload)]
    if to_fetch:
        created = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        try:
            for name in to_fetch:
                _download_one(name, targets[name], mnist_mirrors(mirrors))
        except BaseException:
            if created and not any(folder.iterdir()):
                folder.rmdir()  # leave no trace of a download that got nothing
            raise
    return targets


def _needs_download(target, name, redownload):
    """False for a verified file in place; True if missing (or bad, when redownload)."""
    if not os.path.lexists(target):
        return True
    problem = mnist_file_problem(target, name)
    if problem is None:
        return False
    if redownload:
        return True
    raise ChecksumMismatchError(
        f"{target}: this is not the published {name}.gz: {problem}. The file was left "
        "untouched. To replace it with a fresh download on purpose, run train_mnist.py "
        "with --redownload (in Python: redownload=True): once a verified copy has arrived, "
        f"this file is moved aside to {_aside_name(target).name}, never deleted."
    )


def verify_mnist_file(path, name, shown_as=None):
    """Raise ValueError unless the gzip file `path` holds the real `name`.

    shown_as: how to name the file in error messages (default: its path).
    """
    problem = mnist_file_problem(path, name)
    if problem is not None:
        raise ValueError(f"{shown_as or path}: {problem}")


def mnist_file_problem(source, name):
    """None if the gzip file `source` (a path or binary file) holds the real `name`,
    else a sentence saying what is wrong, with the expected and actual MD5.

    Decompresses at most the expected size plus one chunk, so a wrong or
    hostile file cannot use unbounded memory or time.
    """
    expected_size, expected_md5 = MNIST_SIZES[name], MNIST_MD5[name]
    digest = hashlib.md5()
    size = 0
    try:
        with gzip.open(source, "rb") as stream:
            while size <= expected_size:
                chunk = stream.read(CHUNK_SIZE)
                if not chunk:
                    break
                digest.update(chunk)
                size += len(chunk)
    except (OSError, EOFError, zlib.error) as error:
        return (f"not a valid gzip file ({error}); expected gzip data whose "
                f"{expected_size:,} decompressed bytes have MD5 {expected_md5}")
    if size > expected_size:
        return (f"it holds more than the {expected_size:,} bytes of {name} once decompressed "
                f"(expected MD5 {expected_md5})")
    if size != expected_size or digest.hexdigest() != expected_md5:
        return (f"the MD5 of its {size:,} decompressed bytes is {digest.hexdigest()}, "
                f"expected {expected_md5} ({expected_size:,} bytes)")
    return None


def _aside_name(target):
    """The first free name of ``<target>.old``, ``<target>.old.1``, ..."""
    candidate, number = target.with_name(target.name + ".old"), 0
    while os.path.lexists(candidate):
        number += 1
        candidate = target.with_name(f"{target.name}.old.{number}")
    return candidate


def _download_one(name, target, mirrors):
    """Try each mirror in turn; raise DownloadError, its first line naming the first
    mirror's failure, then (if several) every mirror's."""
    failures = []
    for base in mirrors:
        url = base + name + ".gz"
        try:
            payload = _fetch(url, MNIST_SIZES[name] + MAX_EXTRA_BYTES)
            verify_mnist_file(io.BytesIO(payload), name, shown_as="downloaded file")
        except (OSError, ValueError, http.client.HTTPException) as error:
            failures.append(f"  {url}: {error}")
            continue
        if os.path.lexists(target):
            if mnist_file_problem(target, name) is None:
                return  # another process put a verified copy in place meanwhile: keep it
            os.rename(target, _aside_name(target))
        write_bytes(target, payload, mode=0o644)
        return
    tried = "\nMirrors tried:\n" + "\n".join(failures) if len(failures) > 1 else ""
    raise DownloadError(f"could not download {name}.gz from any mirror "
                        f"({failures[0].strip()}){tried}")


def _fetch(url, max_bytes):
    """The bytes at url, refusing more than max_bytes."""
    chunks, total = [], 0
    with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
        while True:
            chunk = response.read(CHUNK_SIZE)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise ValueError(f"{url}: more than {max_bytes:,} bytes; not the expected file")
            chunks.append(chunk)
    return b"".join(chunks)
