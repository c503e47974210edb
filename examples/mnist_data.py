"""The data of train_mnist.py: splits, and batches ready for the device.

The 60,000 training images are split 50,000 / 10,000 (--val-size; the
validation images are drawn with SPLIT_SEED, the same for every run); the
test split is only for the final report. Data is kept
as groups {(H, W): (uint8 images, int64 labels)}, one group per resolution.
"""
import hashlib
from types import SimpleNamespace

import numpy as np

from minigrad import Tensor, backend, data, distributed

NUM_CLASSES = 10
SPLIT_SEED = 0         # the split is the same for every run, whatever --seed says
NORMALISATION = {      # (mean, std) of the training pixels / 255, from the data README
    "mnist": (0.1307, 0.3081),
    "varres": (0.0354, 0.1708),
}


def load(config):
    """Train / validation / test groups of --model's data, limited by --limit and
    --eval-limit. Test groups stay keyed by the original resolution, also when
    resized, so accuracy can be reported per resolution. Returns a
    SimpleNamespace(train, val, test, mean, std). Missing, unreadable or
    damaged files raise OSError or ValueError naming them."""
    source = "mnist" if config.model == "fixed" else "varres"
    train = load_split(source, config, "train")
    test = load_split(source, config, "test")
    mean, std = NORMALISATION[source]
    name = "MNIST" if source == "mnist" else "mnist-varres"
    where = f"the {name} training split in {data.resolve_data_dir(config.data_dir)}"
    train, val = data.split_groups(train, n_val=config.val_size, seed=SPLIT_SEED, source=where,
                                   option="--val-size")
    if not train:
        raise ValueError(f"--val-size {config.val_size:,} takes every image of {where} for "
                         "validation and leaves none to train on; choose a smaller --val-size")
    if config.limit:
        train = data.limit_groups(train, config.limit, seed=config.seed)
    if config.eval_limit:
        val = data.limit_groups(val, config.eval_limit, seed=SPLIT_SEED)
        test = data.limit_groups(test, config.eval_limit, seed=SPLIT_SEED)
    if config.model == "fixed-resized":
        train = data.resize_groups(train, 28)
        val = data.resize_groups(val, 28)
        test = {shape: data.resize_groups({shape: group}, 28)[(28, 28)]
                for shape, group in test.items()}
    for name, groups in (("training", train), ("validation", val), ("test", test)):
        check_labels(groups, name)
    return SimpleNamespace(train=train, val=val, test=test, mean=mean, std=std)


loaded = {}  # (source, folder, split) -> groups: several runs in one process load once


def load_split(source, config, split):
    """One split of MNIST ("mnist", downloaded if missing; --redownload) or
    mnist-varres ("varres", cached in --cache-dir) as groups."""
    key = (source, str(data.resolve_data_dir(config.data_dir).resolve()), split)
    if key not in loaded:
        if source == "mnist":
            images, labels = data.load_mnist(config.data_dir, split=split,
                                             redownload=config.redownload)
            loaded[key] = {images.shape[1:]: (images, labels)}
        else:
            loaded[key] = data.load_varres(config.data_dir, split=split,
                                           cache_dir=config.cache_dir)
    return loaded[key]


def check_labels(groups, name):
    """Labels must be integers 0-9: checked once on the host (a GPU would
    index out of range silently)."""
    for shape, (_, labels) in groups.items():
        if labels.dtype.kind not in "iu" or (labels.size and (labels.min() < 0
                                                              or labels.max() >= NUM_CLASSES)):
            raise ValueError(f"{name} data, {shape} images: labels must be integers 0-9, "
                             f"got {labels.dtype} from {labels.min()} to {labels.max()}")


def batches(groups, batch_size, dataset, device, shuffle_rng=None, augment_rng=None):
    """(x, labels) per batch: x a normalised float32 Tensor on ``device`` (the uint8
    images are moved, a quarter of the bytes, then converted there), labels on the
    host. Shuffled with ``shuffle_rng`` (else in order), augmented on the device
    with ``augment_rng`` (else not)."""
    xp = backend.module_for(device)
    for images, labels in data.iterate_batches(groups, batch_size, rng=shuffle_rng,
                                               shuffle=shuffle_rng is not None):
        x = data.to_float(images, xp, dataset.mean, dataset.std)
        if augment_rng is not None:
            x = data.augment_batch(x, augment_rng, xp)
        yield Tensor(x), labels


def training_batches(dataset, config, epoch):
    """The batches of training epoch ``epoch``: its shuffle and augmentation come
    from generators derived from (--seed, epoch) alone, so a resumed run repeats
    an uninterrupted one. Under --distributed, every process receives the same
    global batches of --batch-size images per process (the loop takes this
    process's part, distributed.my_batches), so N processes see the images of one process with N
    times the batch."""
    shuffle_rng = np.random.default_rng([config.seed, epoch, 0])
    augment_rng = np.random.default_rng([config.seed, epoch, 1]) if config.augment else None
    return batches(dataset.train, global_batch(config), dataset, config.device, shuffle_rng,
                   augment_rng)


def global_batch(config):
    """Images per training step: --batch-size on each process."""
    return config.batch_size * distributed.world_size()


def count_images(groups):
    return sum(len(labels) for _, labels in groups.values())


def resolution_key(shape):
    """'32' for 32x32 images, '32x48' otherwise."""
    height, width = shape
    return str(height) if height == width else f"{height}x{width}"


def fingerprint(dataset):
    """What a run trained on, to compare on --resume: the image counts of the three
    splits and a digest of the training images and labels, group by group."""
    digest = hashlib.sha256()
    for shape, (images, labels) in sorted(dataset.train.items()):
        digest.update(repr(shape).encode())
        digest.update(np.ascontiguousarray(images).tobytes())
        digest.update(np.ascontiguousarray(labels).tobytes())
    return {"train": count_images(dataset.train), "val": count_images(dataset.val),
            "test": count_images(dataset.test), "digest": digest.hexdigest()[:16]}


def describe(groups):
    """'10,000' or '10,000 (32: 3,269, 48: 3,381, 64: 3,350)'."""
    text = f"{count_images(groups):,}"
    if len(groups) > 1:
        text += " (" + ", ".join(f"{resolution_key(shape)}: {len(group[1]):,}"
                                 for shape, group in groups.items()) + ")"
    return text
