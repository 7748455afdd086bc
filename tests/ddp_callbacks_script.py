"""Two CPU processes under DDP with the callbacks; rank zero prints one JSON line with what each rank saw.

Run by tests/test_callbacks_ddp.py as ``python tests/ddp_callbacks_script.py LOG_DIR`` (Lightning starts the second
process by running this script again). Rank zero's metric stalls while rank one's improves, so the std stays equal
on both only if rank zero's decision is shared.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402
from pytorch_lightning.loggers import TensorBoardLogger  # noqa: E402
from tiny_training import ToyData, tiny_system, tiny_trainer  # noqa: E402

from callbacks import AttentionTrajectoryLogger, RandomGlimpsePretraining, StdAnnealingOnPlateau  # noqa: E402


class RankMetric(pl.Callback):
    """``scripted/acc``: constant on rank zero, improving on rank one (deliberately not synchronised)."""

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            value = 0.5 if trainer.global_rank == 0 else 0.1 * trainer.current_epoch
            pl_module.log("scripted/acc", value)


class Gather(pl.Callback):
    """At each epoch start, gathers every rank's std and policy weights sum."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, list[float]]] = []

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        policy = pl_module.model.policy
        mine = torch.stack([policy.std.detach().float(), policy.mean.weight.detach().sum()])  # (2,)
        every = [torch.zeros_like(mine) for _ in range(trainer.world_size)]
        torch.distributed.all_gather(every, mine)
        self.epochs.append({"std": [float(v[0]) for v in every], "policy": [float(v[1]) for v in every]})


def main(log_dir: str) -> None:
    torch.set_num_threads(1)  # two processes on a 2-core machine
    gather = Gather()
    callbacks = [
        RankMetric(),
        StdAnnealingOnPlateau(monitor="scripted/acc", patience=2, verbose=False),
        RandomGlimpsePretraining(epochs=2),
        AttentionTrajectoryLogger(num_images=4),
        gather,
    ]
    logger = TensorBoardLogger(log_dir, name="ddp", version=0)
    trainer = tiny_trainer(
        log_dir, callbacks, 5, logger, strategy="ddp_find_unused_parameters_true", devices=2, limit_train_batches=1
    )
    trainer.fit(tiny_system(), ToyData())
    if trainer.is_global_zero:
        print("RESULT " + json.dumps(gather.epochs), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
