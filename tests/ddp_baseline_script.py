"""Two CPU processes under DDP with a running-mean baseline and no seed; rank zero prints one JSON line.

Run by tests/test_ddp.py as ``python tests/ddp_baseline_script.py DATA_DIR LOG_DIR`` (Lightning starts the second
process by running this script again). Every reward of rank ``r`` is ``r``: rank zero's batches all score 0, rank
one's all 1, so the running mean shows whose rewards it counted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402
from torch import Tensor  # noqa: E402

from ram_lightning.data import RAMDataModule  # noqa: E402
from ram_lightning.losses import LossTerms  # noqa: E402
from ram_lightning.model import RAMOutput  # noqa: E402
from ram_lightning.system import RAMSystem  # noqa: E402

MOMENTUM = 0.5
SMALL = {"glimpse_hidden": 16, "location_hidden": 16, "glimpse_size": 32, "hidden_size": 32, "num_glimpses": 2}


class RankRewards(RAMSystem):
    """Replaces each batch's mean reward with the process's rank."""

    def training_loss(self, images: Tensor, targets: Tensor) -> tuple[RAMOutput, LossTerms]:
        output, terms = super().training_loss(images, targets)
        return output, terms._replace(reward=torch.full_like(terms.reward, float(self.global_rank)))


class Gather(pl.Callback):
    """At the end of training, gathers every rank's running mean reward and training shuffling seed."""

    def __init__(self) -> None:
        self.result: dict[str, list[float]] = {}

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        mine = torch.tensor([pl_module.model.baseline.mean_reward.item(), trainer.train_dataloader.sampler.seed])
        every = [torch.zeros_like(mine) for _ in range(trainer.world_size)]
        torch.distributed.all_gather(every, mine)
        self.result = {"mean_reward": [float(v[0]) for v in every], "seed": [int(v[1]) for v in every]}
        self.result["steps"] = trainer.global_step


def main(data_dir: str, log_dir: str) -> None:
    torch.set_num_threads(1)  # two processes on a 2-core machine
    data = RAMDataModule(data_dir=data_dir, download=False, batch_size=16, val_size=100)
    system = RankRewards(baseline="running_mean", baseline_momentum=MOMENTUM, **SMALL)
    gather = Gather()
    trainer = pl.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", max_epochs=1, limit_train_batches=3, limit_val_batches=0,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=log_dir, callbacks=[gather],
    )  # fmt: skip
    trainer.fit(system, datamodule=data)  # no seed_everything: the data module draws the shuffling seed
    if trainer.is_global_zero:
        print("RESULT " + json.dumps(gather.result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
