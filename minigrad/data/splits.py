"""Seeded train/validation splits and subsets, for flat or grouped data.

Grouped data is a dict (H, W) -> (images, labels), as load_varres returns.
Selections on it are drawn uniformly over ALL images, whatever their group,
so a subset keeps the groups' proportions on average and, even though files
are sorted by class, contains every class.
"""

import numpy as np

__all__ = ["limit_groups", "split_groups", "train_val_split"]


def train_val_split(n, n_val=10000, seed=0):
    """Split range(n) into (train_idx, val_idx), both sorted int64 arrays.

    The n_val validation indices are the first n_val of a permutation drawn
    with numpy.random.default_rng(seed).
    """
    _check_count(n_val, n, "n_val")
    permutation = np.random.default_rng(seed).permutation(n)
    return np.sort(permutation[n_val:]), np.sort(permutation[:n_val])


def split_groups(groups, n_val=10000, seed=0):
    """Split grouped data into (train_groups, val_groups).

    The n_val validation images are chosen uniformly at random across all
    images regardless of group. Empty groups are left out of the result;
    order within a group is kept.
    """
    total = _total(groups)
    _check_count(n_val, total, "n_val")
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


def _check_count(count, total, what):
    if not 0 <= count <= total:
        raise ValueError(f"{what} must be between 0 and {total} (the number of images), got {count}")


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
