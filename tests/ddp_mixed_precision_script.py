"""Two CPU processes under plain DDP with what GPU runs use: 16-mixed with a GradScaler, fused Adam with gradient
clipping, the leave-one-out baseline (no parameters). Rank zero prints one JSON line with what each rank saw.

Run by tests/test_ddp_checks.py as ``python tests/ddp_mixed_precision_script.py LOG_DIR [nan]`` (Lightning starts
the second process by running this script again). With ``nan``, rank one's second batch is NaN (float32, no
GradScaler): every rank prints whether it stopped with the diverged error.
"""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

import torch  # noqa: E402
from pytorch_lightning.plugins import MixedPrecision  # noqa: E402
from tiny_training import ToyData, tiny_system, tiny_trainer  # noqa: E402

from ram_lightning.errors import TrainingDivergedError  # noqa: E402


class NaNOnRankOne(ToyData):
    """ToyData whose second training batch on rank one is NaN."""

    def on_after_batch_transfer(self, batch: tuple, dataloader_idx: int) -> tuple:
        images, labels = batch
        if self.trainer.global_rank == 1 and self.trainer.fit_loop.batch_idx == 1:
            images = torch.full_like(images, float("nan"))
        return images, labels


def diverge_on_one_rank(log_dir: str) -> None:
    trainer = tiny_trainer(log_dir, [], 1, strategy="ddp", devices=2, limit_val_batches=0, limit_train_batches=3)
    try:
        trainer.fit(tiny_system(), NaNOnRankOne())
        outcome = "finished"
    except TrainingDivergedError as error:
        outcome = f"diverged: {error}"
    # One file per process: two processes printing at once can interleave their lines.
    (Path(log_dir) / f"outcome_{trainer.global_rank}.txt").write_text(outcome)


def main(log_dir: str) -> None:
    system = tiny_system(
        baseline="leave_one_out",
        train_samples=2,
        gradient_clip_norm=0.5,
        optimizer=partial(torch.optim.Adam, lr=0.01, fused=True),
    )
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    plugin = MixedPrecision("16-mixed", "cpu", scaler)
    trainer = tiny_trainer(log_dir, [], 2, strategy="ddp", devices=2, limit_val_batches=0, plugins=[plugin])
    trainer.fit(system, ToyData())
    weights = torch.cat([parameter.detach().flatten() for parameter in system.parameters()])
    mine = torch.stack([weights.sum(), weights.abs().sum(), torch.tensor(float(torch.get_num_threads()))])
    every = [torch.zeros_like(mine) for _ in range(trainer.world_size)]
    torch.distributed.all_gather(every, mine)
    if trainer.is_global_zero:
        result = {"ranks": [value.tolist() for value in every], "steps": trainer.global_step}
        print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    if sys.argv[2:] == ["nan"]:
        diverge_on_one_rank(sys.argv[1])
    else:
        main(sys.argv[1])
