"""StdAnnealingOnPlateau: when the std drops, how far, and that a resumed run continues the same count."""

from __future__ import annotations

import pytest
from tiny_training import MemoryLogger, ScriptedMetric, ToyData, tiny_system, tiny_trainer

from callbacks import StdAnnealingOnPlateau, StdSchedule
from ram_lightning.errors import ConfigError


def run(tmp_path, values, max_epochs, ckpt_path=None, **anneal_kwargs):
    """Fits the tiny system with a scripted metric; returns the std of every epoch (as logged), model, callback."""
    logger = MemoryLogger()
    anneal = StdAnnealingOnPlateau(monitor="scripted/acc", **anneal_kwargs)
    system = tiny_system(std=0.2)
    trainer = tiny_trainer(tmp_path, [ScriptedMetric(values), anneal], max_epochs, logger, limit_train_batches=1)
    trainer.fit(system, ToyData(), ckpt_path=ckpt_path)
    return logger.series("policy/std"), system, anneal, trainer


def test_std_drops_after_exactly_patience_stalled_epochs_and_never_below_min_std(tmp_path):
    stds, system, anneal, _ = run(tmp_path, [0.5] * 9, 9, patience=2, factor=0.5, min_std=0.04)
    # Epoch 0 sets the best value; epochs 1 and 2 stall -> reduced after epoch 2, used from epoch 3; and so on.
    assert stds == pytest.approx([0.2] * 3 + [0.1] * 2 + [0.05] * 2 + [0.04] * 2)
    assert float(system.model.policy.std) == pytest.approx(0.04)
    assert anneal.num_reductions == 4  # the third was clamped to min_std, the fourth could not go lower
    assert min(stds) >= 0.04 - 1e-6  # float32


def test_improving_metric_keeps_the_std(tmp_path):
    stds, system, _, _ = run(tmp_path, [0.1 * i for i in range(6)], 6, patience=1)
    assert stds == pytest.approx([0.2] * 6)
    assert float(system.model.policy.std) == pytest.approx(0.2)


def test_improvements_below_min_delta_count_as_stalls(tmp_path):
    values = [0.5 + 0.001 * i for i in range(5)]
    stds, _, _, _ = run(tmp_path, values, 5, patience=2, min_delta=0.01, factor=0.5)
    assert stds == pytest.approx([0.2, 0.2, 0.2, 0.1, 0.1])


def test_min_mode_and_cooldown(tmp_path):
    # An error that never goes down; after each reduction two checks are ignored.
    stds, _, _, _ = run(tmp_path, [0.3] * 7, 7, mode="min", patience=1, cooldown=2, factor=0.5)
    assert stds == pytest.approx([0.2, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05])


def test_resumed_run_continues_the_count_and_the_std(tmp_path):
    values = [0.5] * 8
    straight, _, _, _ = run(tmp_path / "straight", values, 8, patience=3)

    _, _, first, trainer = run(tmp_path / "first", values, 5, patience=3)
    assert first.wait_count == 1 and first.num_reductions == 1
    ckpt = tmp_path / "epoch5.ckpt"
    trainer.save_checkpoint(ckpt)
    resumed, system, second, _ = run(tmp_path / "second", values, 8, ckpt_path=ckpt, patience=3)

    assert resumed[0] == pytest.approx(0.1)  # the annealed std came back with the weights
    assert resumed == pytest.approx(straight[5:])  # and the next reduction comes at the same epoch
    assert float(system.model.policy.std) == pytest.approx(0.05)
    assert second.state_dict() == {"best_score": 0.5, "wait_count": 1, "cooldown_counter": 0, "num_reductions": 2}


def test_missing_metric_is_a_clear_error(tmp_path):
    anneal = StdAnnealingOnPlateau(monitor="val/nope")
    trainer = tiny_trainer(tmp_path, [anneal], 1)
    with pytest.raises(ConfigError, match="monitor='val/nope' was not logged.*val/acc"):
        trainer.fit(tiny_system(), ToyData())


def test_two_std_callbacks_are_refused(tmp_path):
    trainer = tiny_trainer(tmp_path, [StdAnnealingOnPlateau(), StdSchedule(end_std=0.05, epochs=3)], 1)
    with pytest.raises(ConfigError, match="both set the location policy's std"):
        trainer.fit(tiny_system(), ToyData())


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"factor": 1.5}, "factor"),
        ({"factor": 0.0}, "factor"),
        ({"patience": 0}, "patience"),
        ({"min_std": 0.0}, "min_std"),
        ({"min_delta": -0.1}, "min_delta"),
        ({"cooldown": -1}, "cooldown"),
        ({"mode": "up"}, "mode"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ConfigError, match=f"StdAnnealingOnPlateau.{name}"):
        StdAnnealingOnPlateau(**kwargs)
