"""Names, sizes and checksums of the four MNIST files."""

__all__ = ["SPLITS", "SPLIT_FILES", "MNIST_NAMES", "MNIST_MD5", "MNIST_SIZES", "MIRROR_ENV"]

SPLITS = ("train", "test")

# split -> (images file, labels file), without the .gz suffix
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

MNIST_NAMES = SPLIT_FILES["train"] + SPLIT_FILES["test"]

# MD5 of the DECOMPRESSED files, as published for the original distribution.
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}

# Size in bytes of each decompressed file: header + payload.
MNIST_SIZES = {
    "train-images-idx3-ubyte": 16 + 60000 * 28 * 28,
    "train-labels-idx1-ubyte": 8 + 60000,
    "t10k-images-idx3-ubyte": 16 + 10000 * 28 * 28,
    "t10k-labels-idx1-ubyte": 8 + 10000,
}

MIRROR_ENV = "MINIGRAD_MNIST_MIRROR"
