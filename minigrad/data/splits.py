"""Seeded train/validation splits and subsets of grouped data.

Grouped data is a dict (H, W) -> (images, labels), as load_varres returns.
Selections on it are drawn uniformly over ALL images, whatever their group,
so a subset keeps the groups' proportions on average and, even though files
are sorted by class, contains every class.
"""

import numpy as np

__all__ = ["limit_groups", "split_groups"]


def split_groups(groups, n_val=10000, seed=0, source="the data", option="n_val"):
    """Split grouped data into (train_groups, val_groups).

    The n_val validation images are chosen uniformly at random across all
    images regardless of group. Empty groups are left out of the result;
    order within a group is kept. source and option only name, in the error
    for an n_val larger than the data, what was split (e.g. "the MNIST
    training split in data/") and how the user sets n_val (e.g. "--val-size").
    """
    total = _total(groups)
    if not 0 <= n_val <= total:
        raise ValueError(f"{option} must be between 0 and {total:,}, the number of images in "
                         f"{source}; got {n_val:,}")
    in_val = np.zeros(total, dtype=bool)
    in_val[np.random.default_rng(seed).permutation(total)[:n_val]] = True
    return _select(groups, ~in_val), _select(groups, in_val)


def limit_groups(groups, n, seed=0):
    """Keep n images chosen uniformly at random across all groups (seeded).

    Returns the groups unchanged if they hold n images or fewer.
    """
    if n < 0:
        raise ValueError(f"limit must be >= 0, got {n}")
    if n >= _total(groups):
        return groups
    _, chosen = split_groups(groups, n_val=n, seed=seed)
    return chosen


def _total(groups):
    return sum(len(labels) for _, labels in groups.values())


def _select(groups, mask):
    """Split a global boolean mask (groups in dict order) back into groups."""
    selected, start = {}, 0
    for shape, (images, labels) in groups.items():
        if len(images) != len(labels):
            raise ValueError(f"group {shape}: {len(images)} images but {len(labels)} labels")
        local = mask[start:start + len(labels)]
        start += len(labels)
        if local.any():
            selected[shape] = (images[local], labels[local])
    return selected
