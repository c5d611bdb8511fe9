"""skorch plumbing: batching without per-row Python, seeded splits, recorded terms."""

import torch

from skvae._fit.net import RandomRowSplit, RowBatches, RowDataset


def _rows(batches):
    return torch.cat([batch for batch, _ in batches])


def test_batches_cover_every_row_once_in_order_without_shuffle():
    X = torch.arange(10.0).reshape(10, 1)
    batches = RowBatches(RowDataset(X), 4, shuffle=False, generator=None, device="cpu")
    assert len(batches) == 3
    assert [len(b) for b, _ in batches] == [4, 4, 2]
    assert torch.equal(_rows(batches), X)


def test_shuffled_batches_are_a_seeded_permutation():
    X = torch.arange(50.0).reshape(50, 1)

    def epoch(seed):
        gen = torch.Generator().manual_seed(seed)
        return _rows(RowBatches(RowDataset(X), 8, shuffle=True, generator=gen, device="cpu"))

    first = epoch(0)
    assert torch.equal(first.sort(dim=0).values, X)
    assert torch.equal(first, epoch(0))
    assert not torch.equal(first, epoch(1))


def test_split_is_disjoint_seeded_and_batches_only_its_rows():
    X = torch.arange(20.0).reshape(20, 1)
    train, valid = RandomRowSplit(5, seed=3)(RowDataset(X))
    assert len(train) == 15 and len(valid) == 5
    train_rows = set(_rows(RowBatches(train, 4, True, torch.Generator(), "cpu")).ravel().tolist())
    valid_rows = set(_rows(RowBatches(valid, 4, False, None, "cpu")).ravel().tolist())
    assert train_rows.isdisjoint(valid_rows) and len(train_rows | valid_rows) == 20
    again = RandomRowSplit(5, seed=3)(RowDataset(X))[1]
    assert torch.equal(valid.indices, again.indices)
