"""The callbacks are usable from YAML: the experiment configs instantiate them with their settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from callbacks import AttentionTrajectoryLogger, RandomGlimpsePretraining, StdAnnealingOnPlateau, StdSchedule
from ram_lightning.cli import create_cli, main

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def test_experiment_configs_instantiate_their_callbacks(tmp_path):
    root = f"--trainer.default_root_dir={tmp_path}"
    cli = create_cli(["--config", str(CONFIGS / "mnist.yaml"), root], run=False)
    by_type = {type(callback): callback for callback in cli.trainer.callbacks}
    assert by_type[AttentionTrajectoryLogger].every_n_epochs == 5
    cli = create_cli(["--config", str(CONFIGS / "translated60.yaml"), root], run=False)
    by_type = {type(callback): callback for callback in cli.trainer.callbacks}
    assert by_type[RandomGlimpsePretraining].epochs == 2


def test_every_callback_from_yaml_syntax(tmp_path):
    config = tmp_path / "callbacks.yaml"
    config.write_text(
        """
trainer:
  logger: false
  callbacks:
    - class_path: callbacks.StdAnnealingOnPlateau
      init_args: {monitor: val/acc, mode: max, patience: 10, factor: 0.5, min_std: 0.03}
    - class_path: callbacks.StdSchedule
      init_args: {end_std: 0.05, epochs: 20, decay: linear}
    - class_path: callbacks.RandomGlimpsePretraining
      init_args: {steps: 500, train_baseline: false}
    - class_path: callbacks.AttentionTrajectoryLogger
"""
    )
    cli = create_cli(["--config", str(config), f"--trainer.default_root_dir={tmp_path}"], run=False)
    by_type = {type(callback): callback for callback in cli.trainer.callbacks}
    anneal = by_type[StdAnnealingOnPlateau]
    assert (anneal.monitor, anneal.mode, anneal.patience, anneal.factor) == ("val/acc", "max", 10, 0.5)
    assert by_type[StdSchedule].decay == "linear" and by_type[StdSchedule].epochs == 20
    assert by_type[RandomGlimpsePretraining].steps == 500 and by_type[RandomGlimpsePretraining].epochs is None
    assert by_type[AttentionTrajectoryLogger].num_images == 16


def test_bad_callback_argument_is_one_line_from_the_cli(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text(
        """
trainer:
  logger: false
  callbacks:
    - class_path: callbacks.StdAnnealingOnPlateau
      init_args: {factor: 1.5}
"""
    )
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(config), f"--trainer.default_root_dir={tmp_path}"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: StdAnnealingOnPlateau.factor must be in (0, 1), got 1.5"
    )
