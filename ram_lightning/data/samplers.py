"""Samplers that make runs reproducible, resumable at epoch boundaries, and exact under DDP."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.utils.data import Dataset, DistributedSampler


class EpochSeededSampler(DistributedSampler):
    """Shuffles the training set from ``(seed, epoch)``; its epoch hook starts the epoch's random stream from
    ``(seed, epoch, rank)``.

    The order of an epoch is a permutation drawn from ``seed + epoch`` by a generator of its own (the same on every
    process; each process takes every ``num_replicas``-th index, padded to equal length as
    :class:`DistributedSampler` does). Iterating draws nothing from the process's random stream and changes nothing.

    :meth:`set_epoch`, which Lightning's fit loop calls at the start of every training epoch (as for any
    :class:`DistributedSampler`; with the restored epoch when a run resumes), seeds the global torch random stream
    (CPU and GPUs) from ``(seed, epoch, rank)``. The random draws of the epoch (training canvas placements, the
    policy's sampling noise) then:

    - differ between processes,
    - repeat exactly from run to run with the same seed,
    - repeat exactly when a run is resumed from a checkpoint written at the end of an epoch.

    For that, nothing may draw from the global stream between the hook and the first batch differently in a
    resumed run than in an uninterrupted one: the training DataLoader therefore draws its workers' base seed from
    its own generator (see :meth:`loader_generator`), not from the global stream.

    Args:
        dataset: the training set.
        seed: the run's seed.
        epoch_source: returns the current epoch, whose order iteration yields; without one, the sampler counts its
            own iterations.
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
        return iter(order[self.rank : self.total_size : self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Epoch hook: records ``epoch`` and seeds the global random stream from ``(seed, epoch, rank)``."""
        super().set_epoch(epoch)
        torch.manual_seed(_mix(self.seed, epoch, self.rank))

    def loader_generator(self) -> torch.Generator:
        """A generator for the DataLoader of this sampler, seeded from ``(seed, rank)``: the loader draws its
        workers' base seed from it when it creates an iterator, instead of from the global stream."""
        return torch.Generator().manual_seed(_mix(self.seed, -1, self.rank))


class ShardedEvalSampler(DistributedSampler):
    """Splits an evaluation set between processes in order, each sample exactly once (no padding).

    Processes may get one sample more or less than each other; metrics synchronised over processes (torchmetrics)
    then count every sample exactly once. A process may also get no sample at all (an evaluation set smaller than
    the number of processes).

    Lightning splits the same way in ``pytorch_lightning.overrides.distributed.UnrepeatedDistributedSampler`` (what
    it uses for prediction), but that module is outside Lightning's documented API (no deprecation promise; Fabric
    has no public equivalent), and it asserts that every process gets at least
    one sample, which fails with a bare ``AssertionError`` for an evaluation set smaller than the number of
    processes (e.g. ``ram predict`` on a folder of fewer images than devices). Its validation and test loaders'
    default, :class:`DistributedSampler`, pads with repeated samples, which would count them twice.
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
