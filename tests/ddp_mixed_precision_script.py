"""Two CPU processes under plain DDP with what GPU runs use: 16-mixed with a GradScaler, fused Adam with gradient
clipping, the leave-one-out baseline (no parameters). Rank zero prints one JSON line with what each rank saw.

Run by tests/test_ddp_checks.py as ``python tests/ddp_mixed_precision_script.py LOG_DIR`` (Lightning starts the
second process by running this script again).
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
    main(sys.argv[1])
