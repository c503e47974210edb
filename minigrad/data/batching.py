"""Mini-batches bucketed by image size, and conversion to normalised floats.

Data is a dict (H, W) -> (images, labels); a single-size dataset is passed
as {(28, 28): (images, labels)}. Every batch comes from ONE group, so it can
be stacked. With shuffling, each group is permuted, cut into batches, and
the batches of all groups are then put in one random order, so resolutions
are interleaved rather than visited one after another.
"""

import numpy as np

__all__ = ["count_batches", "iterate_batches", "to_float"]


def iterate_batches(groups, batch_size, rng=None, shuffle=True, drop_last=False):
    """Yield (images, labels) host numpy batches; each image once per epoch.

    rng: numpy Generator used for shuffling (default: a fresh unseeded one).
    shuffle=False: groups in dict order, images in stored order.
    drop_last: skip each group's final batch if it is shorter than batch_size.
    """
    _check_batch_size(batch_size)
    if shuffle and rng is None:
        rng = np.random.default_rng()
    plan = []
    for shape, (images, labels) in groups.items():
        _check_group(shape, images, labels)
        order = rng.permutation(len(labels)) if shuffle else np.arange(len(labels))
        for start in range(0, len(order), batch_size):
            indices = order[start:start + batch_size]
            if drop_last and len(indices) < batch_size:
                continue
            plan.append((shape, indices))
    if shuffle:
        plan = [plan[position] for position in rng.permutation(len(plan))]
    for shape, indices in plan:
        images, labels = groups[shape]
        yield images[indices], labels[indices]


def count_batches(groups, batch_size, drop_last=False):
    """Number of batches iterate_batches yields per epoch."""
    _check_batch_size(batch_size)
    total = 0
    for _, labels in groups.values():
        full, rest = divmod(len(labels), batch_size)
        total += full + (1 if rest and not drop_last else 0)
    return total


def to_float(images, xp, mean, std):
    """uint8 (n, H, W) -> xp float32 (n, 1, H, W), (images / 255 - mean) / std.

    xp is the array module (numpy or cupy); the uint8 array is moved first
    (four times less traffic than floats) and only Python floats take part
    in the arithmetic, so the result stays float32.
    """
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"to_float expects uint8 images (n, H, W), got {images.dtype} {images.shape}")
    count, height, width = images.shape
    floats = xp.asarray(images).astype(xp.float32).reshape(count, 1, height, width)
    floats *= float(1.0 / (255.0 * std))
    floats -= float(mean / std)
    return floats


def _check_batch_size(batch_size):
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")


def _check_group(shape, images, labels):
    if len(images) != len(labels):
        raise ValueError(f"group {shape}: {len(images)} images but {len(labels)} labels")
