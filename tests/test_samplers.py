"""Samplers: every evaluation sample exactly once across processes; seeded, per-rank training streams."""

import torch

from ram_lightning.data.samplers import EpochSeededSampler, ShardedEvalSampler


def test_eval_shards_cover_every_sample_exactly_once():
    dataset = list(range(10))
    shards = [list(ShardedEvalSampler(dataset, num_replicas=3, rank=rank)) for rank in range(3)]
    assert sorted(sum(shards, [])) == dataset
    assert [len(ShardedEvalSampler(dataset, 3, rank)) for rank in range(3)] == [4, 3, 3]


def test_training_order_is_a_shared_permutation_split_between_ranks():
    dataset = list(range(11))
    shards = [list(EpochSeededSampler(dataset, seed=5, num_replicas=2, rank=rank)) for rank in range(2)]
    assert len(shards[0]) == len(shards[1]) == 6
    assert set(shards[0]) | set(shards[1]) == set(dataset)


def test_order_depends_on_seed_and_epoch_only():
    dataset = list(range(50))
    epoch = {"value": 0}
    sampler = EpochSeededSampler(dataset, seed=3, epoch_source=lambda: epoch["value"])
    first = list(sampler)
    assert list(sampler) == first, "same epoch, same order"
    epoch["value"] = 1
    assert list(sampler) != first
    assert list(EpochSeededSampler(dataset, seed=3, epoch_source=lambda: 1)) == list(sampler)


def test_random_stream_is_reset_per_epoch_and_differs_between_ranks():
    dataset = list(range(8))

    def draws(rank: int) -> torch.Tensor:
        EpochSeededSampler(dataset, seed=7, num_replicas=2, rank=rank).set_epoch(4)  # the epoch hook seeds
        return torch.rand(5)

    torch.manual_seed(123)
    rank0 = draws(0)
    torch.manual_seed(456)  # whatever came before, the epoch's stream starts at the same point
    assert torch.equal(draws(0), rank0)
    assert not torch.equal(draws(1), rank0)


def test_iterating_leaves_the_random_stream_alone():
    sampler = EpochSeededSampler(list(range(8)), seed=7, num_replicas=2, rank=1)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    for _ in range(2):
        list(sampler)
    assert torch.equal(torch.rand(3), expected)
