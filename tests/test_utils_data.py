"""minigrad.utils.data against torch.utils.data: the same batches in order, the same
collation (dtypes and shapes), drop_last, and seeded shuffling and splitting."""
import numpy as np
import pytest

import minigrad
from minigrad.utils import data

torch = pytest.importorskip("torch")


class Squares:
    """A map-style dataset of (array, int, float) samples, for both frameworks."""

    def __len__(self):
        return 10

    def __getitem__(self, i):
        return np.full((2, 3), i, np.float32), i, i * 0.5


@pytest.mark.parametrize("batch_size, drop_last", [(1, False), (3, False), (3, True), (10, True),
                                                   (4, False)])
def test_data_loader_batches_as_torch(batch_size, drop_last):
    ours = data.DataLoader(Squares(), batch_size=batch_size, drop_last=drop_last)
    theirs = torch.utils.data.DataLoader(Squares(), batch_size=batch_size, drop_last=drop_last)
    assert len(ours) == len(theirs)
    batches = list(ours)
    assert len(batches) == len(list(theirs))
    for mine, torchs in zip(batches, theirs):
        assert len(mine) == len(torchs) == 3
        for a, b in zip(mine, torchs):
            assert str(a.dtype) == str(b.dtype).replace("torch.", "")
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_tensor_dataset_and_shuffling_with_a_seeded_generator():
    x, y = minigrad.arange(20).view(10, 2), minigrad.arange(10)
    dataset = data.TensorDataset(x, y)
    assert len(dataset) == 10 and dataset[3][1].item() == 3

    def order(seed):
        loader = data.DataLoader(dataset, batch_size=4, shuffle=True,
                                 generator=minigrad.Generator().manual_seed(seed))
        return [int(label) for _, labels in loader for label in labels]
    assert order(0) == order(0) != list(range(10))
    assert sorted(order(1)) == list(range(10))
    with pytest.raises(ValueError, match="size mismatch"):
        data.TensorDataset(x, minigrad.arange(3))


@pytest.mark.parametrize("lengths, sizes", [([7, 3], [7, 3]), ([0.8, 0.2], [8, 2]),
                                            ([0.5, 0.3, 0.2], [5, 3, 2])])
def test_random_split_takes_counts_or_fractions_as_torch(lengths, sizes):
    parts = data.random_split(Squares(), lengths, generator=minigrad.Generator().manual_seed(0))
    theirs = torch.utils.data.random_split(Squares(), lengths)
    assert [len(p) for p in parts] == [len(p) for p in theirs] == sizes
    seen = sorted(int(part[i][1]) for part in parts for i in range(len(part)))
    assert seen == list(range(10))
    with pytest.raises(ValueError, match="does not equal the length"):
        data.random_split(Squares(), [5, 4])


def test_a_bad_batch_size_is_refused_as_torch():
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        data.DataLoader(Squares(), batch_size=0)
