"""Datasets and batches, as ``torch.utils.data``: ``Dataset``, ``TensorDataset``,
``Subset``, ``random_split`` and ``DataLoader`` (batching, shuffling with a seeded
generator, collation into tensors). One process: ``num_workers`` is accepted and ignored.
"""
import math
import numbers

import numpy as np

from minigrad import backend
from minigrad.tensor import Tensor

__all__ = ["DataLoader", "Dataset", "Subset", "TensorDataset", "default_collate",
           "random_split"]


class Dataset:
    """Subclasses give ``__getitem__(i)`` (one sample) and ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError


class TensorDataset(Dataset):
    """Sample i is ``(t[i] for t in tensors)``; every tensor has the same first size."""

    def __init__(self, *tensors):
        if any(len(t) != len(tensors[0]) for t in tensors):
            raise ValueError("TensorDataset: size mismatch between tensors "
                             f"({[len(t) for t in tensors]})")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return len(self.tensors[0])


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, index):
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)


def _rng(generator):
    return backend.host_rng() if generator is None else generator.rng


def random_split(dataset, lengths, generator=None):
    """Subsets of ``lengths`` (counts, or fractions summing to 1) of a shuffled ``dataset``."""
    total = len(dataset)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1 and total != 1:
        counts = [int(math.floor(total * fraction)) for fraction in lengths]
        for i in range(total - sum(counts)):  # the remainder, one each, round robin
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != total:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    order = _rng(generator).permutation(total).tolist()
    subsets, start = [], 0
    for length in lengths:
        subsets.append(Subset(dataset, order[start:start + length]))
        start += length
    return subsets


def default_collate(samples):
    """A list of samples as one batch: tensors and arrays stacked along a new first dim,
    Python ints as int64, floats as float64 and bools as bool tensors (as PyTorch);
    tuples, lists and dicts collated field by field."""
    first = samples[0]
    if isinstance(first, Tensor):
        return Tensor(backend.get_array_module(first.data).stack([s.data for s in samples]))
    if isinstance(first, (np.ndarray, np.generic)):
        return Tensor(np.stack(samples))
    if isinstance(first, bool):
        return Tensor(np.array(samples, dtype=np.bool_))
    if isinstance(first, numbers.Integral):
        return Tensor(np.array(samples, dtype=np.int64))
    if isinstance(first, numbers.Real):
        return Tensor(np.array(samples, dtype=np.float64))
    if isinstance(first, dict):
        return {key: default_collate([s[key] for s in samples]) for key in first}
    if isinstance(first, (tuple, list)):
        return [default_collate(list(field)) for field in zip(*samples)]
    return samples  # strings and other objects: the list as it is


class DataLoader:
    """Batches of ``batch_size`` samples of ``dataset``, in order or shuffled each epoch;
    ``drop_last`` drops a short last batch; ``collate_fn`` makes a batch from a list."""

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, num_workers=0,
                 collate_fn=None, drop_last=False, generator=None, **ignored):
        if batch_size is not None and (isinstance(batch_size, bool) or
                                       not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")
        if shuffle and sampler is None and len(dataset) == 0:  # as torch's RandomSampler
            raise ValueError("num_samples should be a positive integer value, but got "
                             "num_samples=0")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.sampler, self.drop_last, self.generator = sampler, drop_last, generator
        self.collate_fn = collate_fn or default_collate

    def _order(self):
        if self.sampler is not None:
            return list(self.sampler)
        if self.shuffle:
            return _rng(self.generator).permutation(len(self.dataset)).tolist()
        return range(len(self.dataset))

    def __iter__(self):
        order = self._order()
        if self.batch_size is None:  # no batching: one sample at a time
            yield from (self.dataset[i] for i in order)
            return
        for start in range(0, len(order), self.batch_size):
            indices = order[start:start + self.batch_size]
            if len(indices) < self.batch_size and self.drop_last:
                return
            yield self.collate_fn([self.dataset[i] for i in indices])

    def __len__(self):
        count = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if self.batch_size is None:
            return count
        return count // self.batch_size if self.drop_last else math.ceil(count / self.batch_size)
