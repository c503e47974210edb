"""Tests for minigrad.data: readers, download, mnist-varres, splits, batching, augmentation.

Synthetic files are written under pytest's tmp_path. The real-data tests
read the directory named by MINIGRAD_DATA; they skip when it is unset or
missing, except under CI (env CI set), where they fail instead.
"""

import gzip
import hashlib
import os
import tarfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from datafiles import (
    add_bytes,
    idx_bytes,
    labels_of,
    leftovers,
    png_bytes,
    real_data_dir,
    small_mnist,
    small_varres_files,
    write_file,
    write_small_mnist,
    write_varres_folder,
    write_varres_tar,
)

from minigrad.data import (
    DownloadError,
    affine_warp,
    augment_batch,
    count_batches,
    download_mnist,
    find_mnist,
    iterate_batches,
    limit_groups,
    load_mnist,
    load_varres,
    read_idx,
    resize_groups,
    resize_images,
    resolve_data_dir,
    split_groups,
    to_float,
    verify_mnist_file,
)
from minigrad.data import varres as varres_module
from minigrad.data.mnist_files import MNIST_MD5, MNIST_NAMES, MNIST_SIZES
from minigrad.data.tarsafe import iter_tar_files
from minigrad.fileio import TEMP_MARK
from minigrad.testing import fake_cupy

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
FIRST_TEN = {"train": [5, 0, 4, 1, 9, 2, 1, 3, 1, 4], "test": [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]}
VARRES_SIZES = {"train": {32: 19913, 48: 20080, 64: 20007}, "test": {32: 3269, 48: 3381, 64: 3350}}


@pytest.fixture(autouse=True)
def user_cache(tmp_path, monkeypatch):
    """Every test gets its own $XDG_CACHE_HOME: nothing is written into the real home."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    return tmp_path / "xdg-cache" / "minigrad"


@pytest.fixture(scope="session")
def real_data():
    return real_data_dir()


@pytest.fixture(scope="session")
def varres_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("varres-cache")


@pytest.fixture
def no_download(monkeypatch, tmp_path):
    """Point the mirror at a file:// folder that does not exist."""
    monkeypatch.setenv("MINIGRAD_MNIST_MIRROR", (tmp_path / "no-such-mirror").as_uri())


# --------------------------------------------------------------------------- paths

def test_resolve_data_dir_order(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path))
    assert resolve_data_dir("elsewhere") == Path("elsewhere")
    assert resolve_data_dir() == tmp_path
    monkeypatch.delenv("MINIGRAD_DATA")
    assert resolve_data_dir() == Path("data")


# --------------------------------------------------------------------------- IDX reader

@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path, compress):
    images, labels = small_mnist()
    image_path = write_file(tmp_path / "images", idx_bytes(images), compress)
    label_path = write_file(tmp_path / "labels", idx_bytes(labels), compress)
    assert np.array_equal(read_idx(image_path, ndim=3), images)
    assert np.array_equal(read_idx(label_path, ndim=1), labels)


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_truncated(tmp_path, compress):
    images, _ = small_mnist()
    path = write_file(tmp_path / "images", idx_bytes(images)[:-100], compress)
    with pytest.raises(ValueError, match="truncated") as error:
        read_idx(path)
    assert str(path) in str(error.value)


def test_read_idx_truncated_inside_header(tmp_path):
    path = write_file(tmp_path / "labels", idx_bytes(np.zeros(5))[:6])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)


def test_read_idx_cut_gzip_stream(tmp_path):
    images, _ = small_mnist()
    whole = gzip.compress(idx_bytes(images))
    path = write_file(tmp_path / "images.gz", whole[: len(whole) // 2])
    with pytest.raises(ValueError, match="images.gz"):
        read_idx(path)


@pytest.mark.parametrize("magic", [0x12345678, 0x00000903, 0x00000800])
def test_read_idx_wrong_magic(tmp_path, magic):
    path = write_file(tmp_path / "labels", idx_bytes(np.zeros(5), magic=magic, dims=(5,)))
    with pytest.raises(ValueError, match="labels"):
        read_idx(path)


def test_read_idx_wrong_ndim(tmp_path):
    path = write_file(tmp_path / "labels", idx_bytes(np.zeros(5)))
    with pytest.raises(ValueError, match="3 dimension"):
        read_idx(path, ndim=3)


def test_read_idx_trailing_bytes(tmp_path):
    path = write_file(tmp_path / "labels", idx_bytes(np.zeros(5)) + b"extra")
    with pytest.raises(ValueError, match="unexpected"):
        read_idx(path)


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_huge_claim_fails_fast(tmp_path, compress):
    """The header's claim is refused before the payload is read or any buffer allocated."""
    images, _ = small_mnist()
    data = idx_bytes(images, dims=(2**31, 28, 28))
    path = write_file(tmp_path / "images", data, compress)
    up_front = "can hold" if compress else "but only 15,680 follow"  # _check_payload_fits
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=f"2147483648 x 28 x 28 .*{up_front}"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_read_idx_gzip_claim_checked_against_content(tmp_path):
    """A claim within gzip's maximum ratio is still caught once the data runs out."""
    data = idx_bytes(np.zeros((3, 28, 28)), dims=(1000, 28, 28))
    path = write_file(tmp_path / "images.gz", data, compress=True)
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)


# --------------------------------------------------------------------------- finding and loading MNIST

LAYOUTS = [("mnist", True), (".", True), ("MNIST/raw", False), ("MNIST/raw", True)]


@pytest.mark.parametrize("layout, compress", LAYOUTS)
def test_load_mnist_layouts(tmp_path, layout, compress, no_download):
    folder = tmp_path if layout == "." else tmp_path / layout
    contents = write_small_mnist(folder, compress)
    assert sorted(find_mnist(tmp_path)) == sorted(MNIST_NAMES)
    images, labels = load_mnist(tmp_path, "test", download=False)
    assert images.shape == (20, 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    assert np.array_equal(images, read_idx(find_mnist(tmp_path)["t10k-images-idx3-ubyte"]))
    assert idx_bytes(labels) == contents["t10k-labels-idx1-ubyte"]


def test_load_mnist_count_mismatch(tmp_path):
    write_small_mnist(tmp_path / "mnist")
    write_file(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz", idx_bytes(np.zeros(7)), True)
    with pytest.raises(ValueError, match="20 images but .* 7 labels"):
        load_mnist(tmp_path, "test", download=False)


@pytest.mark.parametrize("damage, message", [  # issue 21: held, one line naming the file
    ("zero-byte labels", "t10k-labels-idx1-ubyte.gz: truncated IDX file: the file ends inside "
                         "the magic number"),
    ("images of 14 x 56", "t10k-images-idx3-ubyte.gz: MNIST images must be 28 x 28, found "
                          "(14, 56)"),
    ("a label 12", "t10k-labels-idx1-ubyte.gz: label 12 is not a digit 0-9")])
def test_a_damaged_mnist_file_is_named(tmp_path, damage, message):
    write_small_mnist(tmp_path / "mnist")
    folder = tmp_path / "mnist"
    if damage == "zero-byte labels":
        (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"")
    elif damage == "images of 14 x 56":
        write_file(folder / "t10k-images-idx3-ubyte.gz", idx_bytes(np.zeros((20, 14, 56))), True)
    else:
        write_file(folder / "t10k-labels-idx1-ubyte.gz", idx_bytes(np.full(20, 12)), True)
    with pytest.raises(ValueError) as raised:
        load_mnist(tmp_path, "test", download=False)
    assert str(raised.value) == f"{folder}/{message}"


def test_load_mnist_bad_split(tmp_path):
    with pytest.raises(ValueError, match="split"):
        load_mnist(tmp_path, "validation")


def test_missing_mnist_without_network(tmp_path, no_download):
    data_dir = tmp_path / "empty"
    data_dir.mkdir()
    with pytest.raises(FileNotFoundError) as error:
        load_mnist(data_dir, "train")
    message = str(error.value)
    for place in ("mnist/train-images-idx3-ubyte.gz", "MNIST/raw/train-labels-idx1-ubyte"):
        assert str(data_dir / place) in message
    for hint in ("--data-dir", "MINIGRAD_DATA", "MINIGRAD_MNIST_MIRROR", "no-such-mirror"):
        assert hint in message
    assert list(data_dir.iterdir()) == []


def test_missing_mnist_no_download_flag(tmp_path):
    with pytest.raises(FileNotFoundError, match="Looked in"):
        load_mnist(tmp_path, "test", download=False)


# --------------------------------------------------------------------------- download

@pytest.fixture
def synthetic_checksums(monkeypatch):
    """Make the small synthetic files count as genuine: patch the MD5 and size tables."""
    def accept(contents):
        for name, data in contents.items():
            monkeypatch.setitem(MNIST_MD5, name, hashlib.md5(data).hexdigest())
            monkeypatch.setitem(MNIST_SIZES, name, len(data))
    return accept


def test_download_from_file_mirror(tmp_path, monkeypatch, synthetic_checksums):
    mirror = tmp_path / "mirror"
    synthetic_checksums(write_small_mnist(mirror))
    monkeypatch.setenv("MINIGRAD_MNIST_MIRROR", mirror.as_uri())
    data_dir = tmp_path / "data"
    images, labels = load_mnist(data_dir, "test")
    assert images.shape == (20, 28, 28) and len(labels) == 20
    assert leftovers(data_dir) == ["mnist", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def test_download_real_files(tmp_path, real_data):
    paths = download_mnist(tmp_path, mirrors=[(real_data / "mnist").resolve().as_uri()])
    assert sorted(paths) == sorted(MNIST_NAMES)
    for name, path in paths.items():
        assert path == tmp_path / "mnist" / (name + ".gz")
        with gzip.open(path, "rb") as stream:
            assert hashlib.md5(stream.read()).hexdigest() == MNIST_MD5[name]
    assert len(leftovers(tmp_path)) == 5


def test_corrupt_download_rejected(tmp_path, real_data):
    name = "t10k-labels-idx1-ubyte"
    with gzip.open(real_data / "mnist" / (name + ".gz"), "rb") as stream:
        data = bytearray(stream.read())
    data[100] ^= 1  # one flipped bit in the payload
    mirror = tmp_path / "mirror"
    write_file(mirror / (name + ".gz"), bytes(data), compress=True)
    data_dir = tmp_path / "data"
    with pytest.raises(DownloadError, match="MD5"):
        download_mnist(data_dir, mirrors=[mirror.as_uri()], names=[name])
    assert leftovers(data_dir) == []


@pytest.mark.parametrize("payload", [b"not gzip at all", gzip.compress(b"x" * 20000)[:-30]])
def test_broken_download_rejected(tmp_path, payload):
    name = "t10k-labels-idx1-ubyte"
    write_file(tmp_path / "mirror" / (name + ".gz"), payload)
    data_dir = tmp_path / "data"
    with pytest.raises(DownloadError, match="gzip"):
        download_mnist(data_dir, mirrors=[(tmp_path / "mirror").as_uri()], names=[name])
    assert leftovers(data_dir) == []


def test_download_tries_next_mirror(tmp_path, synthetic_checksums):
    good = tmp_path / "good"
    synthetic_checksums(write_small_mnist(good))
    write_file(tmp_path / "bad" / "t10k-labels-idx1-ubyte.gz", b"garbage")
    mirrors = [(tmp_path / "missing").as_uri(), (tmp_path / "bad").as_uri(), str(good)]  # a path works too
    paths = download_mnist(tmp_path / "data", mirrors=mirrors, names=["t10k-labels-idx1-ubyte"])
    verify_mnist_file(paths["t10k-labels-idx1-ubyte"], "t10k-labels-idx1-ubyte")


def test_existing_good_file_not_overwritten(tmp_path, synthetic_checksums):
    name = "t10k-labels-idx1-ubyte"
    contents = write_small_mnist(tmp_path / "data" / "mnist")
    synthetic_checksums(contents)
    target = tmp_path / "data" / "mnist" / (name + ".gz")
    before = target.read_bytes()
    write_file(tmp_path / "bad" / (name + ".gz"), b"garbage")
    download_mnist(tmp_path / "data", mirrors=[(tmp_path / "bad").as_uri()], names=[name])
    assert target.read_bytes() == before


# --------------------------------------------------------------------------- real MNIST

@pytest.mark.parametrize("split, counts", [("train", TRAIN_COUNTS), ("test", TEST_COUNTS)])
def test_real_mnist(real_data, split, counts):
    images, labels = load_mnist(real_data, split, download=False)
    assert images.shape == (sum(counts), 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    assert np.bincount(labels, minlength=10).tolist() == counts
    assert labels[:10].tolist() == FIRST_TEN[split]


# --------------------------------------------------------------------------- tar safety

def evil_tar(path, kind):
    with tarfile.open(path, "w") as archive:
        add_bytes(archive, "mnist-varres/train/1/000000.png", png_bytes(np.zeros((32, 32), np.uint8)))
        if kind == "dotdot":
            add_bytes(archive, "mnist-varres/../../evil.png", b"x")
        elif kind == "absolute":
            add_bytes(archive, "/tmp/evil.png", b"x")
        else:
            member = tarfile.TarInfo("mnist-varres/train/2/link.png")
            member.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
            member.linkname = "/etc/passwd"
            archive.addfile(member)
    return path


@pytest.mark.parametrize("kind, reason", [("dotdot", "'..'"), ("absolute", "absolute"),
                                          ("symlink", "link"), ("hardlink", "link")])
def test_unsafe_tar_rejected(tmp_path, kind, reason):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    evil_tar(data_dir / "mnist-varres.tgz", kind)
    with pytest.raises(ValueError, match=reason):
        load_varres(data_dir, cache_dir=tmp_path / "cache")
    assert leftovers(data_dir) == ["mnist-varres.tgz"]
    assert not (tmp_path / "evil.png").exists()


def test_fifo_member_rejected(tmp_path):
    tar_path = tmp_path / "fifo.tar"
    with tarfile.open(tar_path, "w") as archive:
        member = tarfile.TarInfo("pipe")
        member.type = tarfile.FIFOTYPE
        archive.addfile(member)
    with pytest.raises(ValueError, match="not a regular file"):
        list(iter_tar_files(tar_path))


@pytest.mark.parametrize("damage", ["truncated", "not a tar", "empty"])
def test_damaged_archive(tmp_path, damage):
    """One line naming the archive (before: tarfile's list of the compressions it tried, a
    line each, for an empty file or one that is not a tar)."""
    noise = np.random.default_rng(0).integers(0, 256, (40, 32, 32), dtype=np.uint8)
    tar_path = write_varres_tar(tmp_path / "mnist-varres.tgz", {
        f"mnist-varres/train/1/{index:06d}.png": png_bytes(image) for index, image in enumerate(noise)})
    data = tar_path.read_bytes()
    tar_path.write_bytes({"truncated": data[: len(data) // 2], "not a tar": b"hello" * 100,
                          "empty": b""}[damage])
    with pytest.raises(ValueError, match="mnist-varres.tgz: damaged or not a tar") as raised:
        load_varres(tmp_path, cache_dir=tmp_path / "cache")
    assert "\n" not in str(raised.value)
    if damage == "empty":
        assert "empty file" in str(raised.value)


# --------------------------------------------------------------------------- mnist-varres (synthetic)

def check_small_varres(groups, arrays, split):
    """groups must hold exactly the split's arrays, grouped by shape, sorted by name."""
    names = sorted(name for name in arrays if f"/{split}/" in name)
    assert list(groups) == sorted({arrays[name].shape for name in names})
    for shape, (images, labels) in groups.items():
        members = [name for name in names if arrays[name].shape == shape]
        assert np.array_equal(images, np.stack([arrays[name] for name in members]))
        assert labels.tolist() == [int(name.split("/")[2]) for name in members]
        assert images.dtype == np.uint8 and labels.dtype == np.int64


@pytest.fixture
def small_varres(tmp_path):
    arrays = small_varres_files()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    write_varres_tar(data_dir / "mnist-varres.tgz", {name: png_bytes(a) for name, a in arrays.items()})
    return data_dir, arrays


def test_varres_from_archive_and_cache(small_varres, tmp_path, monkeypatch):
    data_dir, arrays = small_varres
    cache = tmp_path / "cache"
    check_small_varres(load_varres(data_dir, "train", cache_dir=cache), arrays, "train")
    assert len(list(cache.glob("*.npz"))) == 2  # both splits cached in one pass

    def no_decoding(*args):
        raise AssertionError("decoded again although the cache is fresh")
    monkeypatch.setattr(varres_module, "decode_varres", no_decoding)
    check_small_varres(load_varres(data_dir, "train", cache_dir=cache), arrays, "train")
    check_small_varres(load_varres(data_dir, "test", cache_dir=cache), arrays, "test")


def test_varres_cache_rebuilt_when_stale_or_corrupt(small_varres, tmp_path, monkeypatch):
    data_dir, arrays = small_varres
    cache = tmp_path / "cache"
    load_varres(data_dir, "train", cache_dir=cache)
    decodes = []
    original = varres_module.decode_varres
    monkeypatch.setattr(varres_module, "decode_varres", lambda *args: decodes.append(1) or original(*args))

    archive = data_dir / "mnist-varres.tgz"
    stat = archive.stat()
    os.utime(archive, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    check_small_varres(load_varres(data_dir, "train", cache_dir=cache), arrays, "train")
    assert len(decodes) == 1

    for cache_file in cache.glob("*train*.npz"):
        cache_file.write_bytes(cache_file.read_bytes()[:200])
    check_small_varres(load_varres(data_dir, "train", cache_dir=cache), arrays, "train")
    assert len(decodes) == 2
    assert not list(cache.glob(f"*{TEMP_MARK}*"))


def test_a_cache_file_with_labels_that_are_no_digits_is_decoded_again(small_varres, tmp_path):
    """Before: the run stopped with 'training data, (32, 32) images: labels must be integers
    0-9', naming neither the cache file nor a way out."""
    data_dir, arrays = small_varres
    cache = tmp_path / "cache"
    load_varres(data_dir, "train", cache_dir=cache)
    for cache_file in cache.glob("*train*.npz"):
        with np.load(cache_file) as archive:
            edited = dict(archive)
        edited["labels_0"] = edited["labels_0"] + 20
        np.savez_compressed(cache_file, **edited)
    check_small_varres(load_varres(data_dir, "train", cache_dir=cache), arrays, "train")


def test_a_cache_folder_inside_the_image_folder_is_refused(tmp_path):
    """Before: its cache files changed the folder's key, so every load decoded the PNGs
    again (twice per run) and warned about the cache files as stray files."""
    folder = write_varres_folder(tmp_path, {name: png_bytes(array) for name, array
                                            in small_varres_files().items()})
    with pytest.raises(ValueError, match=f"the cache folder {folder / 'cache'} .* lies inside "
                                         f"the image folder {folder}: .* never be used"):
        load_varres(tmp_path, "train", cache_dir=folder / "cache")
    assert not (folder / "cache").exists()


def test_varres_from_extracted_folder(small_varres, tmp_path):
    data_dir, arrays = small_varres
    folder_dir = tmp_path / "extracted"
    write_varres_folder(folder_dir, {name: png_bytes(a) for name, a in arrays.items()})
    groups = load_varres(folder_dir, "test", cache_dir=tmp_path / "cache")
    check_small_varres(groups, arrays, "test")


def test_varres_bad_png(tmp_path):
    write_varres_tar(tmp_path / "mnist-varres.tgz", {"mnist-varres/train/3/000000.png": b"\x89PNG broken"})
    with pytest.raises(ValueError, match="train/3/000000.png"):
        load_varres(tmp_path, cache_dir=tmp_path / "cache")


def test_varres_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="mnist-varres.tgz"):
        load_varres(tmp_path, cache_dir=tmp_path / "cache")


def test_resize_images():
    images = np.zeros((3, 64, 64), np.uint8)
    images[:, 16:48, 16:48] = 200
    resized = resize_images(images, 28)
    assert resized.shape == (3, 28, 28) and resized.dtype == np.uint8
    assert resized[:, 14, 14].tolist() == [200] * 3 and resized[:, 0, 0].tolist() == [0] * 3
    groups = {(32, 32): (np.zeros((2, 32, 32), np.uint8), np.array([1, 2])), (64, 64): (images, np.arange(3))}
    (shape, (all_images, all_labels)), = resize_groups(groups, 28).items()
    assert shape == (28, 28) and all_images.shape == (5, 28, 28) and all_labels.tolist() == [1, 2, 0, 1, 2]


# --------------------------------------------------------------------------- mnist-varres (real)

@pytest.mark.parametrize("split", ["train", "test"])
def test_real_varres(real_data, varres_cache, split):
    groups = load_varres(real_data, split, cache_dir=varres_cache)
    assert list(groups) == [(side, side) for side in (32, 48, 64)]
    assert {shape[0]: len(labels) for shape, (_, labels) in groups.items()} == VARRES_SIZES[split]
    counts = TRAIN_COUNTS if split == "train" else TEST_COUNTS
    assert np.bincount(labels_of(groups), minlength=10).tolist() == counts
    for shape, (images, labels) in groups.items():
        assert images.shape == (len(labels), *shape) and images.dtype == np.uint8


# --------------------------------------------------------------------------- splits

def grouped_ids(sizes):
    """Groups whose labels are unique ids 0..total-1, so every image can be traced."""
    groups, start = {}, 0
    for side, size in sizes.items():
        ids = np.arange(start, start + size)
        images = np.broadcast_to(ids[:, None, None].astype(np.uint8), (size, side, side))
        groups[(side, side)] = (images, ids)
        start += size
    return groups


def test_split_groups_disjoint_cover_seeded():
    groups = grouped_ids({32: 300, 48: 500, 64: 200})
    train, val = split_groups(groups, n_val=100, seed=1)
    train_ids, val_ids = labels_of(train), labels_of(val)
    assert len(val_ids) == 100 and not set(train_ids) & set(val_ids)
    assert np.array_equal(np.sort(np.concatenate([train_ids, val_ids])), np.arange(1000))
    assert {shape: len(labels) for shape, (_, labels) in val.items()}.keys() == groups.keys()
    assert np.array_equal(labels_of(split_groups(groups, n_val=100, seed=1)[1]), val_ids)
    for images, labels in train.values():
        assert np.array_equal(images[:, 0, 0], labels.astype(np.uint8))  # images follow labels


def test_limit_groups_covers_classes():
    labels = np.repeat(np.arange(10), 100)  # sorted by class, as files are
    groups = {(28, 28): (np.zeros((1000, 28, 28), np.uint8), labels)}
    limited = limit_groups(groups, 50, seed=0)
    assert len(labels_of(limited)) == 50 and set(labels_of(limited)) == set(range(10))
    assert limit_groups(groups, 5000) is groups


# --------------------------------------------------------------------------- batching

def epoch(groups, batch_size, seed=0, **options):
    return list(iterate_batches(groups, batch_size, rng=np.random.default_rng(seed), **options))


def test_batches_one_shape_each_image_once():
    groups = grouped_ids({32: 95, 48: 130, 64: 61})
    batches = epoch(groups, 16)
    for images, labels in batches:
        assert images.shape[1] in (32, 48, 64) and len(images) == len(labels) <= 16
        assert np.array_equal(images[:, 0, 0], labels.astype(np.uint8))
    ids = np.concatenate([labels for _, labels in batches])
    assert np.array_equal(np.sort(ids), np.arange(286))
    assert len(batches) == count_batches(groups, 16)


def test_batches_interleave_groups():
    groups = grouped_ids({32: 320, 48: 320, 64: 320})
    shapes = [images.shape[1] for images, _ in epoch(groups, 32)]
    switches = sum(first != second for first, second in zip(shapes, shapes[1:]))
    assert len(set(shapes[:6])) > 1
    assert switches >= 10  # random order: about 20 of 29 neighbours differ; grouped order: 2


def test_batches_many_tiny_groups():
    rng = np.random.default_rng(0)
    groups, start = {}, 0
    for side in range(10, 510):
        size = int(rng.integers(1, 3))
        images = np.zeros((size, side, side + 1), np.uint8)
        groups[(side, side + 1)] = (images, np.arange(start, start + size))
        start += size
    batches = epoch(groups, 8)
    assert np.array_equal(np.sort(np.concatenate([labels for _, labels in batches])), np.arange(start))
    assert len(batches) == count_batches(groups, 8) == 500


def test_batches_drop_last_and_order():
    groups = grouped_ids({32: 10, 48: 7})
    batches = epoch(groups, 4, drop_last=True)
    assert [len(labels) for _, labels in batches] == [4] * 3
    assert count_batches(groups, 4, drop_last=True) == 3
    in_order = list(iterate_batches(groups, 4, shuffle=False))
    assert np.array_equal(np.concatenate([labels for _, labels in in_order]), np.arange(17))
    seeded = [labels.tolist() for _, labels in epoch(groups, 4, seed=5)]
    assert seeded == [labels.tolist() for _, labels in epoch(groups, 4, seed=5)]
    with pytest.raises(ValueError, match="batch_size"):
        epoch(groups, 0)


@pytest.mark.parametrize("xp", [np, fake_cupy], ids=["numpy", "fake_cupy"])
def test_to_float(xp):
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    floats = to_float(images, xp, mean=0.5, std=0.25)
    assert floats.dtype == np.float32 and floats.shape == (1, 1, 2, 2)
    host = floats.get() if xp is fake_cupy else floats
    assert np.allclose(host.ravel(), [-2.0, 2.0, -1.2, -0.4], atol=1e-6)


# --------------------------------------------------------------------------- augmentation

def float_batch(count=6, side=28, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((count, 1, side, side)).astype(np.float32)


def test_augment_shape_dtype_and_randomness():
    x = float_batch()
    out = augment_batch(x, np.random.default_rng(0), np)
    assert out.shape == x.shape and out.dtype == np.float32 and out is not x
    assert np.array_equal(out, augment_batch(x, np.random.default_rng(0), np))
    assert not np.allclose(out, augment_batch(x, np.random.default_rng(1), np))
    assert np.array_equal(x, float_batch())  # input untouched


def test_augment_zero_strength_is_identity():
    x = float_batch(side=32)
    out = augment_batch(x, np.random.default_rng(0), np, max_rotation=0, max_translation=0,
                        scale=(1, 1), brightness=0, contrast=0)
    assert np.array_equal(out, x)


def test_augment_runs_on_device_module():
    """With the CuPy stand-in, any NumPy call on the batch would raise TypeError."""
    x = float_batch(count=3, side=48)
    device_out = augment_batch(fake_cupy.asarray(x), np.random.default_rng(2), fake_cupy)
    assert isinstance(device_out, fake_cupy.ndarray) and device_out.dtype == np.float32
    assert np.array_equal(device_out.get(), augment_batch(x, np.random.default_rng(2), np))


def test_affine_warp_shift_and_rotation():
    x = float_batch(count=1, side=9)
    zero, one = np.zeros(1), np.ones(1)
    shifted = affine_warp(x, np, zero, one, one, zero, fill=-7.0)
    assert np.array_equal(shifted[0, 0, :, 1:], x[0, 0, :, :-1]) and np.all(shifted[0, 0, :, 0] == -7)
    turned = affine_warp(x, np, np.array([np.pi / 2]), one, zero, zero)
    assert np.allclose(turned[0, 0], np.rot90(x[0, 0], k=-1), atol=1e-5)  # clockwise on screen


def test_augment_default_fill_is_background():
    x = np.full((2, 1, 16, 16), -0.4, np.float32)
    x[:, :, 6:10, 6:10] = 2.0
    out = augment_batch(x, np.random.default_rng(0), np, max_rotation=30, max_translation=0.1,
                        brightness=0, contrast=0)
    assert np.allclose(out[:, :, 0, :], -0.4) and np.allclose(out[:, :, :, 0], -0.4)


# ----- issue 21: the varres folder, read exactly ---------------------------------------------

def test_moving_a_png_to_another_class_folder_invalidates_the_cache(tmp_path):
    """A relabelling keeps every file's size and the newest mtime: the cache key must
    still change, so training never uses the old labels."""
    arrays = small_varres_files()
    data_dir = tmp_path / "data"
    folder = write_varres_folder(data_dir, {name: png_bytes(a) for name, a in arrays.items()})
    cache = tmp_path / "cache"
    before = labels_of(load_varres(data_dir, "train", cache_dir=cache))
    moved = folder / "train" / "1" / "000001.png"
    stat = moved.stat()
    (folder / "train" / "7").mkdir(exist_ok=True)
    target = folder / "train" / "7" / "000001.png"
    moved.rename(target)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = labels_of(load_varres(data_dir, "train", cache_dir=cache))
    assert sorted(after) != sorted(before)
    assert np.sum(after == 7) == np.sum(before == 7) + 1


def test_an_upper_case_png_is_read_and_other_files_are_named(tmp_path, capsys):
    arrays = small_varres_files()
    files = {name.replace("000001.png", "000001.PNG"): png_bytes(a) for name, a in arrays.items()}
    files["mnist-varres/train/3/notes.txt"] = b"not an image"
    data_dir = tmp_path / "data"
    write_varres_folder(data_dir, files)
    groups = load_varres(data_dir, "train", cache_dir=tmp_path / "cache")
    assert len(labels_of(groups)) == 12  # the .PNG one included
    assert "ignored 1 file(s) that are not train|test/<digit>/<name>.png images: " \
           "train/3/notes.txt" in capsys.readouterr().err


def test_both_an_archive_and_a_folder_says_which_is_read(small_varres, tmp_path, capsys):
    data_dir, arrays = small_varres
    write_varres_folder(data_dir, {name: png_bytes(a) for name, a in arrays.items()})
    load_varres(data_dir, "train", cache_dir=tmp_path / "cache")
    assert "mnist-varres/ exist; reading the archive" in capsys.readouterr().err
