"""minigrad.data with bad input: nothing a user owns is lost, every error names the thing.

The user's own MNIST file, where caches go, killed writes, odd mnist-varres
images, and the messages for a too-large validation split and a corrupt
gzip file. All data is small and made here, under tmp_path; downloads come
from local file:// mirrors ($MINIGRAD_MNIST_MIRROR).
"""
import gzip
import hashlib
import io
import os
import stat
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from datafiles import (
    blank_png,
    idx_bytes,
    leftovers,
    png_bytes,
    real_data_dir,
    small_varres_files,
    write_file,
    write_small_mnist,
    write_varres_folder,
    write_varres_tar,
)

from minigrad.data import (
    ChecksumMismatchError,
    DownloadError,
    default_cache_dir,
    download_mnist,
    load_mnist,
    load_varres,
    read_idx,
    split_groups,
)
from minigrad.data import download as download_module
from minigrad.data import varres as varres_module
from minigrad.data.mnist_files import MNIST_MD5, MNIST_SIZES
from minigrad.fileio import TEMP_MARK

LABELS = "t10k-labels-idx1-ubyte"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def user_cache(tmp_path, monkeypatch):
    """Every test gets its own $XDG_CACHE_HOME: nothing is written into the real home."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    return tmp_path / "xdg-cache" / "minigrad"


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A file:// mirror of small synthetic MNIST files that count as genuine
    (the MD5 and size tables are patched); returns their decompressed bytes."""
    folder = tmp_path / "mirror"
    contents = write_small_mnist(folder)
    for name, data in contents.items():
        monkeypatch.setitem(MNIST_MD5, name, hashlib.md5(data).hexdigest())
        monkeypatch.setitem(MNIST_SIZES, name, len(data))
    monkeypatch.setenv("MINIGRAD_MNIST_MIRROR", folder.as_uri())
    return contents


def edited(data, position=8):
    """A copy of IDX bytes with one value changed, as a user editing a label would."""
    data = bytearray(data)
    data[position] = (data[position] + 1) % 10
    return bytes(data)


def killed_write(path):
    """Leave the temporary file of an atomic write whose process was killed mid-write."""
    code = ("import os, sys\nfrom minigrad.fileio import atomic_write\n"
            "with atomic_write(sys.argv[1]) as f:\n    f.write(b'half')\n    os._exit(9)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", code, str(path)], env=env, check=False)
    temporaries = [item.name for item in Path(path).parent.iterdir() if TEMP_MARK in item.name]
    assert len(temporaries) == 1, temporaries
    return temporaries[0]


def mode_of(path):
    return stat.S_IMODE(Path(path).stat().st_mode)


# ------------------------------------------------------------- the user's own MNIST file

def test_user_file_failing_checksum_is_never_replaced(tmp_path, mirror):
    data_dir = tmp_path / "data"
    mine = edited(mirror[LABELS])
    user_file = write_file(data_dir / "mnist" / (LABELS + ".gz"), mine, compress=True)
    before = user_file.read_bytes()
    for attempt in (lambda: load_mnist(data_dir, "test"),  # images missing: a download is due
                    lambda: download_mnist(data_dir)):
        with pytest.raises(ChecksumMismatchError) as error:
            attempt()
        message = str(error.value)
        for part in (str(user_file), MNIST_MD5[LABELS], hashlib.md5(mine).hexdigest(),
                     "--redownload", "redownload=True", LABELS + ".gz.old", "untouched"):
            assert part in message
        assert user_file.read_bytes() == before
        assert leftovers(data_dir) == ["mnist", LABELS + ".gz"]  # checked before any download


def test_user_files_in_place_are_read_as_they_are(tmp_path, mirror):
    """All four present: nothing is downloaded or checked, the user's labels are used."""
    folder = tmp_path / "data" / "mnist"
    write_small_mnist(folder)
    write_file(folder / (LABELS + ".gz"), edited(mirror[LABELS]), compress=True)
    _, labels = load_mnist(tmp_path / "data", "test")
    assert idx_bytes(labels) == edited(mirror[LABELS])


def test_redownload_moves_the_user_file_aside(tmp_path, mirror):
    folder = tmp_path / "data" / "mnist"
    user_file = write_file(folder / (LABELS + ".gz"), edited(mirror[LABELS]), compress=True)
    first = user_file.read_bytes()
    _, labels = load_mnist(tmp_path / "data", "test", redownload=True)
    assert idx_bytes(labels) == mirror[LABELS]
    assert (folder / (LABELS + ".gz.old")).read_bytes() == first

    write_file(user_file, edited(mirror[LABELS], position=9), compress=True)
    second = user_file.read_bytes()
    download_mnist(tmp_path / "data", names=[LABELS], redownload=True)
    assert (folder / (LABELS + ".gz.old")).read_bytes() == first  # never overwritten
    assert (folder / (LABELS + ".gz.old.1")).read_bytes() == second

    download_mnist(tmp_path / "data", names=[LABELS], redownload=True)  # a good file stays
    assert sorted(path.name for path in folder.glob(LABELS + "*")) == [
        LABELS + ".gz", LABELS + ".gz.old", LABELS + ".gz.old.1"]


@pytest.mark.parametrize("mirror_holds", ["nothing", "a corrupt file"])
def test_failed_redownload_keeps_the_user_file(tmp_path, mirror, monkeypatch, mirror_holds):
    bad_mirror = tmp_path / "bad-mirror"
    if mirror_holds == "a corrupt file":
        write_file(bad_mirror / (LABELS + ".gz"), edited(mirror[LABELS], position=12), compress=True)
    monkeypatch.setenv("MINIGRAD_MNIST_MIRROR", bad_mirror.as_uri())
    user_file = write_file(tmp_path / "data" / "mnist" / (LABELS + ".gz"), edited(mirror[LABELS]),
                           compress=True)
    before = user_file.read_bytes()
    with pytest.raises(DownloadError, match=LABELS):
        download_mnist(tmp_path / "data", names=[LABELS], redownload=True)
    assert user_file.read_bytes() == before
    assert leftovers(tmp_path / "data") == ["mnist", LABELS + ".gz"]


def test_a_download_racing_another_process_keeps_its_copy_and_moves_nothing_aside(
        tmp_path, mirror, monkeypatch):
    """Two runs downloading into one data folder at once: the second to finish found the
    first's verified file in place. Before: it moved that file aside to <name>.gz.old."""
    folder = tmp_path / "data" / "mnist"
    fetch = download_module._fetch

    def fetch_while_another_process_finishes(url, max_bytes):
        payload = fetch(url, max_bytes)
        write_file(folder / url.rsplit("/", 1)[1], payload)  # the other process's copy lands
        return payload
    monkeypatch.setattr(download_module, "_fetch", fetch_while_another_process_finishes)
    download_mnist(tmp_path / "data")
    assert leftovers(folder) == sorted(name + ".gz" for name in mirror)


def test_downloaded_and_cached_files_are_0644(tmp_path, mirror):
    old_umask = os.umask(0o077)  # the files must not inherit a strict umask
    try:
        paths = download_mnist(tmp_path / "data", names=[LABELS])
        write_varres_tar(tmp_path / "data" / "mnist-varres.tgz",
                         {name: png_bytes(a) for name, a in small_varres_files().items()})
        load_varres(tmp_path / "data", "test", cache_dir=tmp_path / "cache")
    finally:
        os.umask(old_umask)
    assert mode_of(paths[LABELS]) == 0o644
    cache_files = list((tmp_path / "cache").glob("*.npz"))
    assert len(cache_files) == 2 and all(mode_of(path) == 0o644 for path in cache_files)


def test_killed_download_leaves_nothing_at_the_next_start(tmp_path, mirror):
    folder = tmp_path / "data" / "mnist"
    temporary = killed_write(folder / (LABELS + ".gz"))
    for name in ("notes.tmp", ".hidden", f"mine{TEMP_MARK[:-1]}"):  # the user's: kept
        write_file(folder / name, b"user data")
    download_mnist(tmp_path / "data", names=[LABELS])
    assert temporary not in leftovers(folder)
    assert leftovers(folder) == sorted([".hidden", LABELS + ".gz", f"mine{TEMP_MARK[:-1]}",
                                        "notes.tmp"])


# ------------------------------------------------------------- where caches go

@pytest.fixture
def small_varres(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    write_varres_tar(data_dir / "mnist-varres.tgz",
                     {name: png_bytes(a) for name, a in small_varres_files().items()})
    return data_dir


def test_cache_goes_to_the_user_cache_not_the_data_folder(small_varres, user_cache):
    load_varres(small_varres, "train")
    assert leftovers(small_varres) == ["mnist-varres.tgz"]
    assert len(list(user_cache.glob("mnist-varres-*.npz"))) == 2


def test_explicit_cache_dir_wins(small_varres, user_cache, tmp_path):
    load_varres(small_varres, "train", cache_dir=tmp_path / "mine")
    assert len(list((tmp_path / "mine").glob("*.npz"))) == 2 and not user_cache.exists()


def test_default_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "minigrad"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # not absolute: ignored, as XDG says
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "minigrad"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "minigrad"


def test_killed_cache_write_leaves_nothing_at_the_next_start(small_varres, user_cache):
    load_varres(small_varres, "train")
    before = leftovers(user_cache)
    temporary = killed_write(user_cache / before[0])
    write_file(user_cache / "notes.txt", b"user data")
    load_varres(small_varres, "test")  # a cache hit: nothing is written, yet cleaned
    assert temporary not in leftovers(user_cache)
    assert leftovers(user_cache) == sorted(before + ["notes.txt"])


def test_a_cache_that_cannot_be_written_is_one_warning_line_naming_it(small_varres, tmp_path,
                                                                      capsys):
    """Before: a UserWarning naming cache.py's line, the hidden temporary file, and the
    source line of the call."""
    load_varres(small_varres, "train", cache_dir=tmp_path / "cache")
    for cached in (tmp_path / "cache").iterdir():  # a folder in the way of each cache file
        cached.unlink()
        cached.mkdir()
    capsys.readouterr()
    groups = load_varres(small_varres, "train", cache_dir=tmp_path / "cache")
    assert sum(len(labels) for _, labels in groups.values()) == 12
    lines = capsys.readouterr().err.splitlines()
    paths = sorted(str(path) for path in (tmp_path / "cache").iterdir())
    assert sorted(lines) == [f"warning: could not write the cache file {path}: Is a directory; "
                             "the images will be decoded again next time" for path in paths]


# ------------------------------------------------------------- mnist-varres images of odd sizes

@pytest.fixture(scope="module")
def odd_sizes():
    """Member name -> PNG bytes of images the network cannot take."""
    return {
        "mnist-varres/train/1/tiny.png": png_bytes(np.zeros((2, 2), np.uint8)),
        "mnist-varres/train/2/huge.png": blank_png(5000, 5000),
        "mnist-varres/test/3/bomb.png": blank_png(14000, 14000),  # beyond Pillow's bomb limit
    }


def write_varres(data_dir, files, layout):
    if layout == "archive":
        return write_varres_tar(Path(data_dir) / "mnist-varres.tgz", files)
    return write_varres_folder(data_dir, files)


def shapes_and_count(groups):
    return sorted(groups), sum(len(labels) for _, labels in groups.values())


@pytest.mark.parametrize("layout", ["archive", "folder"])
def test_images_of_unusable_size_are_skipped_with_a_warning(tmp_path, odd_sizes, layout, capsys,
                                                            monkeypatch):
    files = {name: png_bytes(a) for name, a in small_varres_files().items()}
    write_varres(tmp_path, {**files, **odd_sizes}, layout)
    tracemalloc.start()
    try:
        train = load_varres(tmp_path, "train")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20  # sizes come from the header: the 25 MB image was never decoded
    assert shapes_and_count(train) == ([(32, 32), (48, 48)], 12)
    warning = capsys.readouterr().err
    for part in ("warning:", "skipped 2 train image(s)", "8-512 pixels", "train/1/tiny.png (2 x 2)",
                 "train/2/huge.png (5000 x 5000)", "min_size / max_size"):
        assert part in warning

    def no_decoding(*args):
        raise AssertionError("decoded again although the cache is fresh")
    monkeypatch.setattr(varres_module, "decode_varres", no_decoding)
    assert shapes_and_count(load_varres(tmp_path, "train")) == ([(32, 32), (48, 48)], 12)
    assert capsys.readouterr().err == warning  # repeated on every load, from the cache
    assert shapes_and_count(load_varres(tmp_path, "test")) == ([(32, 32), (48, 48)], 4)
    warning = capsys.readouterr().err
    assert "skipped 1 test image(s)" in warning and "test/3/bomb.png (14000 x 14000)" in warning


def test_size_limits_are_arguments(small_varres, capsys):
    groups = load_varres(small_varres, "train", min_size=40)
    assert shapes_and_count(groups) == ([(48, 48)], 4)
    warning = capsys.readouterr().err
    assert "skipped 8 train image(s)" in warning and "40-512 pixels" in warning
    assert warning.count("(32 x 32)") == 5 and "and 3 more" in warning
    groups = load_varres(small_varres, "train", max_size=40)  # another cache entry
    assert shapes_and_count(groups) == ([(32, 32)], 8)


def test_split_with_every_image_skipped(tmp_path, odd_sizes):
    write_varres_tar(tmp_path / "mnist-varres.tgz", odd_sizes)
    with pytest.raises(ValueError, match=r"no usable images for split 'train' \(2 skipped"):
        load_varres(tmp_path, "train")


@pytest.mark.parametrize("limits, message", [
    ({"min_size": 0}, "min_size must be a positive integer, got 0"),
    ({"max_size": 2.5}, "max_size must be a positive integer, got 2.5"),
    ({"min_size": 64, "max_size": 32}, "min_size 64 is larger than max_size 32"),
])
def test_bad_size_limits(small_varres, limits, message):
    with pytest.raises(ValueError, match=f"load_varres: {message}"):
        load_varres(small_varres, "train", **limits)


def corrupt_body(png):
    """A PNG whose header is intact but whose image data is garbage."""
    return png[:41] + bytes(len(png) - 41)


def jpeg_bytes():
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


GOOD = png_bytes(np.arange(32 * 32, dtype=np.uint8).reshape(32, 32))
MALFORMED = {
    "non-square": (png_bytes(np.zeros((32, 40), np.uint8)),
                   r"the image is 40 x 32 pixels; mnist-varres images must be square"),
    "RGB": (png_bytes(np.zeros((32, 32, 3), np.uint8)),
            r"in RGB colour, 8 bits per sample; mnist-varres images must be 8-bit grayscale \(mode L\)"),
    "16-bit": (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR"
               + struct.pack(">IIBBBBB", 32, 32, 16, 0, 0, 0, 0) + bytes(30),
               r"the image is in grayscale, 16 bits per sample"),
    "not a PNG": (b"GIF89a" + bytes(40), r"not a PNG image"),
    "truncated": (GOOD[: len(GOOD) // 2], r"not a readable PNG image"),
    "corrupt data": (corrupt_body(GOOD), r"not a readable PNG image \(broken data stream"),
    "garbage chunks": (GOOD[:33] + bytes(30), r"not a readable PNG image \(Pillow cannot identify it\)"),
    "zero bytes": (b"", r"not a PNG image \(its first bytes are not a PNG header\)"),  # issue 21,
    "a JPEG named .png": (jpeg_bytes(), r"not a PNG image \(its first bytes"),  # held
}


@pytest.mark.parametrize("layout", ["archive", "folder"])
@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_png_named(tmp_path, kind, layout):
    data, message = MALFORMED[kind]
    files = {"mnist-varres/train/3/000000.png": data,
             "mnist-varres/train/3/000001.png": GOOD}
    source = write_varres(tmp_path, files, layout)
    with pytest.raises(ValueError, match=message) as error:
        load_varres(tmp_path, "train")
    assert str(error.value).startswith(f"{source}: train/3/000000.png: ")


def test_png_helper_matches_pillow():
    from PIL import Image

    with Image.open(io.BytesIO(blank_png(3, 2))) as image:
        assert image.mode == "L" and image.size == (3, 2)
        assert np.array_equal(np.asarray(image), np.zeros((2, 3), np.uint8))


# ------------------------------------------------------------- messages that name the thing

def test_validation_split_too_large_names_data_and_option():
    groups = {(28, 28): (np.zeros((5000, 28, 28), np.uint8), np.zeros(5000, np.int64))}
    with pytest.raises(ValueError) as error:
        split_groups(groups, n_val=10000, source="the MNIST training split in data/",
                     option="--val-size")
    assert str(error.value) == ("--val-size must be between 0 and 5,000, the number of images in "
                                "the MNIST training split in data/; got 10,000")
    with pytest.raises(ValueError, match="n_val must be between 0 and 5,000, .* the data; got -1"):
        split_groups(groups, n_val=-1)


def compressible_idx(count=300, seed=0):
    """IDX images that compress well, as real MNIST does (blocks on black)."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, 28, 28), np.uint8)
    for image in images:
        row, col = rng.integers(4, 14, 2)
        image[row:row + 10, col:col + 6] = rng.integers(100, 256)
    return idx_bytes(images)


def test_random_bytes_inside_gzip_reported_as_corrupt_gzip(tmp_path):
    """Damage often decompresses to MORE data, caught only by gzip's final CRC."""
    whole = gzip.compress(compressible_idx())
    for seed in range(12):
        noise = np.random.default_rng(seed).integers(1, 256, 16, dtype=np.uint8).tobytes()
        middle = len(whole) // 2
        damaged = bytes(a ^ b for a, b in zip(whole[middle:middle + 16], noise))
        path = write_file(tmp_path / f"images-{seed}.gz", whole[:middle] + damaged + whole[middle + 16:])
        with pytest.raises(ValueError, match="corrupt gzip file") as error:
            read_idx(path)
        assert str(error.value).startswith(f"{path}: ")


def test_genuine_trailing_bytes_after_gzip_payload(tmp_path):
    """A sound gzip stream with more data than the header declares is still 'unexpected bytes'."""
    path = write_file(tmp_path / "labels.gz", idx_bytes(np.zeros(5)) + b"extra", compress=True)
    with pytest.raises(ValueError, match="unexpected bytes after the 5 bytes"):
        read_idx(path)


def test_real_labels_edited_then_redownloaded(tmp_path):
    """The same story with the real files and checksums (no patched tables)."""
    real = real_data_dir() / "mnist"
    with gzip.open(real / (LABELS + ".gz"), "rb") as stream:
        genuine = stream.read()
    mine = edited(genuine)
    user_file = write_file(tmp_path / "data" / "mnist" / (LABELS + ".gz"), mine, compress=True)
    mirrors = [real.resolve().as_uri()]
    with pytest.raises(ChecksumMismatchError, match=f"{hashlib.md5(mine).hexdigest()}, expected "
                                                    "27ae3e4e09519cfbb04c329615203637"):
        download_mnist(tmp_path / "data", mirrors=mirrors, names=[LABELS])
    download_mnist(tmp_path / "data", mirrors=mirrors, names=[LABELS], redownload=True)
    with gzip.open(user_file, "rb") as stream:
        assert stream.read() == genuine
    with gzip.open(user_file.with_name(LABELS + ".gz.old"), "rb") as stream:
        assert stream.read() == mine
