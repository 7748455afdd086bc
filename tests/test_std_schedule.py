"""StdSchedule: the std of each epoch follows the schedule, holds at the end, and continues after resume."""

from __future__ import annotations

import pytest
from tiny_training import MemoryLogger, ToyData, tiny_system, tiny_trainer

from callbacks import StdSchedule
from ram_lightning.errors import ConfigError


def run(tmp_path, max_epochs, schedule, ckpt_path=None):
    logger = MemoryLogger()
    system = tiny_system(std=0.2)
    trainer = tiny_trainer(tmp_path, [schedule], max_epochs, logger=logger, limit_train_batches=1)
    trainer.fit(system, ToyData(), ckpt_path=ckpt_path)
    return logger.series("policy/std"), trainer


def test_linear_decay_then_constant(tmp_path):
    stds, _ = run(tmp_path, 5, StdSchedule(start_std=0.2, end_std=0.05, epochs=3, decay="linear"))
    assert stds == pytest.approx([0.2, 0.15, 0.1, 0.05, 0.05])


def test_exponential_decay_starts_from_the_model_std(tmp_path):
    stds, _ = run(tmp_path, 4, StdSchedule(end_std=0.05, epochs=2, decay="exponential"))
    assert stds == pytest.approx([0.2, 0.1, 0.05, 0.05])


def test_resumed_run_continues_the_schedule(tmp_path):
    straight, _ = run(tmp_path / "straight", 5, StdSchedule(end_std=0.05, epochs=4))
    _, trainer = run(tmp_path / "first", 2, StdSchedule(end_std=0.05, epochs=4))
    ckpt = tmp_path / "epoch2.ckpt"
    trainer.save_checkpoint(ckpt)
    # A new callback without start_std would take the already decayed std as its start; the saved state prevents it.
    resumed, _ = run(tmp_path / "second", 5, StdSchedule(end_std=0.05, epochs=4), ckpt_path=ckpt)
    assert resumed == pytest.approx(straight[2:])


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"end_std": 0.0, "epochs": 3}, "end_std"),
        ({"end_std": 0.1, "epochs": 0}, "epochs"),
        ({"end_std": 0.1, "epochs": 3, "start_std": -1.0}, "start_std"),
        ({"end_std": 0.1, "epochs": 3, "decay": "cosine"}, "decay"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ConfigError, match=f"StdSchedule.{name}"):
        StdSchedule(**kwargs)
