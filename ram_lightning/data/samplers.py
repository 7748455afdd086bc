"""Samplers that make runs reproducible, resumable at epoch boundaries, and exact under DDP."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.utils.data import Dataset, DistributedSampler


class EpochSeededSampler(DistributedSampler):
    """Shuffles the training set from ``(seed, epoch)`` and starts each epoch's random stream from
    ``(seed, epoch, rank)``.

    When iteration of an epoch begins, the order of the epoch is a permutation drawn from ``seed + epoch``
    (the same on every process; each process takes every ``num_replicas``-th index, padded to equal length as
    :class:`DistributedSampler` does), and the global torch RNG is re-seeded from ``(seed, epoch, rank)``. The
    random draws of the epoch (training canvas placements, the policy's sampling noise) then:

    - differ between processes,
    - repeat exactly from run to run with the same seed,
    - repeat exactly when a run is resumed from a checkpoint written at the end of an epoch, because the epoch
      number is read from ``epoch_source`` (the trainer's restored epoch) at that moment.

    Args:
        dataset: the training set.
        seed: the run's seed.
        epoch_source: returns the current epoch; without one, the sampler counts its own iterations.
        num_replicas: number of processes.
        rank: this process's rank.
    """

    def __init__(
        self,
        dataset: Dataset,
        seed: int,
        epoch_source: Callable[[], int] | None = None,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=False)
        self.epoch_source = epoch_source
        self._iterations = 0

    def __iter__(self) -> Iterator[int]:
        epoch = self.epoch_source() if self.epoch_source is not None else self._iterations
        self._iterations += 1
        size = len(self.dataset)
        order = torch.randperm(size, generator=torch.Generator().manual_seed(self.seed + epoch)).tolist()
        order += order[: self.total_size - size]  # pad so every process gets num_samples indices
        torch.manual_seed(_mix(self.seed, epoch, self.rank))
        return iter(order[self.rank : self.total_size : self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples


class ShardedEvalSampler(DistributedSampler):
    """Splits an evaluation set between processes in order, each sample exactly once (no padding).

    Processes may get one sample more or less than each other; metrics synchronised over processes (torchmetrics)
    then count every sample exactly once.
    """

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)
        self.num_samples = len(range(rank, len(dataset), num_replicas))  # type: ignore[arg-type]
        self.total_size = len(dataset)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.total_size, self.num_replicas))

    def __len__(self) -> int:
        return self.num_samples


def _mix(seed: int, epoch: int, rank: int) -> int:
    """A 63-bit seed from ``(seed, epoch, rank)``, different for every combination in practice."""
    return (seed * 1_000_003 + epoch * 7_919 + rank * 104_729 + 1) % (2**63 - 1) or 1
