"""Datasets for minigrad: MNIST (IDX) and mnist-varres (PNG), batching, augmentation.

Only numpy, the standard library and minigrad.fileio (the atomic writer) are
imported here; Pillow is imported when PNGs are decoded or images resized.
Nothing else from minigrad is used: functions that work on device arrays
take the array module `xp` as an argument.
"""

from .augment import affine_warp, augment_batch
from .batching import count_batches, iterate_batches, to_float
from .cache import default_cache_dir
from .download import DEFAULT_MIRRORS, ChecksumMismatchError, DownloadError, download_mnist, verify_mnist_file
from .idx import read_idx
from .mnist import find_mnist, load_mnist
from .paths import resolve_data_dir
from .resize import resize_groups, resize_images
from .splits import limit_groups, split_groups
from .varres import find_varres, load_varres

__all__ = [
    "DEFAULT_MIRRORS",
    "ChecksumMismatchError",
    "DownloadError",
    "affine_warp",
    "augment_batch",
    "count_batches",
    "default_cache_dir",
    "download_mnist",
    "find_mnist",
    "find_varres",
    "iterate_batches",
    "limit_groups",
    "load_mnist",
    "load_varres",
    "read_idx",
    "resize_groups",
    "resize_images",
    "resolve_data_dir",
    "split_groups",
    "to_float",
    "verify_mnist_file",
]
