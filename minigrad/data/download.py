"""Download the MNIST files from a mirror, verified and written atomically.

Each file is fetched as ``<base URL><name>.gz`` into a temporary file in the
destination folder, its DECOMPRESSED bytes are checked against the published
MD5, and only then is it moved into place with os.replace. On any failure the
temporary file is removed: no half-written file is ever left behind, and an
existing file that already verifies is never touched.
"""

import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.request
import zlib
from pathlib import Path

from .mnist_files import MIRROR_ENV, MNIST_MD5, MNIST_NAMES, MNIST_SIZES

__all__ = ["DEFAULT_MIRRORS", "DownloadError", "download_mnist", "mnist_mirrors", "verify_mnist_file"]

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


def download_mnist(data_dir, mirrors=None, names=MNIST_NAMES):
    """Download the MNIST files `names` into ``data_dir/mnist/<name>.gz``.

    Files already present and verified are skipped. Returns a dict
    name -> Path. Raises DownloadError (an OSError) listing what each
    mirror did wrong if a file could not be obtained.
    """
    unknown = [name for name in names if name not in MNIST_MD5]
    if unknown:
        raise ValueError(f"unknown MNIST file name(s) {unknown}; expected some of {list(MNIST_NAMES)}")
    folder = Path(data_dir) / "mnist"
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    try:
        for name in names:
            target = folder / (name + ".gz")
            if not (target.is_file() and _verifies(target, name)):
                _download_one(name, target, mnist_mirrors(mirrors))
            paths[name] = target
    except BaseException:
        if created and not any(folder.iterdir()):
            folder.rmdir()  # leave no trace of a download that got nothing
        raise
    return paths


def verify_mnist_file(path, name, shown_as=None):
    """Raise ValueError unless the gzip file `path` holds the real `name`.

    shown_as: how to name the file in error messages (default: its path).
    Decompresses at most the expected size plus one chunk, so a wrong or
    hostile file cannot use unbounded memory or time.
    """
    shown_as = shown_as or path
    expected_size = MNIST_SIZES[name]
    digest = hashlib.md5()
    size = 0
    try:
        with gzip.open(path, "rb") as stream:
            while size <= expected_size:
                chunk = stream.read(CHUNK_SIZE)
                if not chunk:
                    break
                digest.update(chunk)
                size += len(chunk)
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"{shown_as}: not a valid gzip file for {name} ({error})") from error
    if size != expected_size:
        raise ValueError(
            f"{shown_as}: {name} should hold {expected_size:,} bytes once decompressed, "
            f"not {size:,}"
        )
    if digest.hexdigest() != MNIST_MD5[name]:
        raise ValueError(
            f"{shown_as}: MD5 of the decompressed data is {digest.hexdigest()}, "
            f"expected {MNIST_MD5[name]} for {name}: the file is corrupt or not MNIST"
        )


def _verifies(path, name):
    try:
        verify_mnist_file(path, name)
    except ValueError:
        return False
    return True


def _download_one(name, target, mirrors):
    """Try each mirror in turn; raise DownloadError with every failure."""
    failures = []
    for base in mirrors:
        url = base + name + ".gz"
        try:
            _fetch_verified(url, name, target)
            return
        except (OSError, ValueError, http.client.HTTPException) as error:
            failures.append(f"  {url}: {error}")
    raise DownloadError(f"could not download {name}.gz from any mirror:\n" + "\n".join(failures))


def _fetch_verified(url, name, target):
    """Fetch url into a temporary file beside target, verify, move into place."""
    handle, temp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as temp_file:
            _copy_url(url, temp_file, MNIST_SIZES[name] + MAX_EXTRA_BYTES)
        verify_mnist_file(temp_name, name, shown_as="downloaded file")
        os.replace(temp_name, target)
    except BaseException:
        if os.path.exists(temp_name):
            os.remove(temp_name)
        raise


def _copy_url(url, out_file, max_bytes):
    """Stream url into out_file, refusing more than max_bytes."""
    total = 0
    with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
        while True:
            chunk = response.read(CHUNK_SIZE)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise ValueError(f"{url}: more than {max_bytes:,} bytes; not the expected file")
            out_file.write(chunk)
