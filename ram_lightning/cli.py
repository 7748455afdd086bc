"""The ``ram`` command: LightningCLI with the project's defaults (``ram fit|validate|test|predict --config ...``)."""

from __future__ import annotations

import sys
from typing import Any

from jsonargparse import lazy_instance
from pytorch_lightning import Trainer
from pytorch_lightning.callbacks import ModelCheckpoint, RichModelSummary, RichProgressBar
from pytorch_lightning.cli import ArgsType, LightningArgumentParser, LightningCLI
from pytorch_lightning.loggers import TensorBoardLogger

from ram_lightning.data import RAMDataModule
from ram_lightning.errors import ConfigError, DataError
from ram_lightning.system import RAMSystem


class RAMCLI(LightningCLI):
    """LightningCLI for RAM.

    Defaults: a TensorBoard logger under ``logs/``, a checkpoint of the best ``val/err`` plus ``last.ckpt``
    (``checkpoint.*`` options), the Rich progress bar and model summary (unless the trainer disables them), the
    config saved with the run, a fixed seed. The data decides the
    model's ``num_classes``, ``in_channels`` and ``image_size``.
    """

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/err",
                "checkpoint.mode": "min",
                "checkpoint.save_last": True,
                "checkpoint.filename": "epoch={epoch}-val_err={val/err:.4f}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )
        for source in ("num_classes", "in_channels", "image_size"):
            parser.link_arguments(f"data.{source}", f"model.{source}", apply_on="instantiate")

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """Adds the Rich progress bar and model summary unless the trainer config disables them."""
        config = self.config_init[self.subcommand]["trainer"] if self.subcommand else self.config_init["trainer"]
        callbacks = config.get("callbacks") or []
        callbacks = list(callbacks) if isinstance(callbacks, list) else [callbacks]
        if config.get("enable_progress_bar") is not False:
            callbacks.append(RichProgressBar())
        if config.get("enable_model_summary") is not False:
            callbacks.append(RichModelSummary(max_depth=2))
        return super().instantiate_trainer(callbacks=callbacks, **kwargs)


def trainer_defaults() -> dict:
    """Trainer settings a user gets unless the config says otherwise."""
    return {
        "logger": lazy_instance(TensorBoardLogger, save_dir="logs", name="ram"),
    }


def create_cli(args: ArgsType = None, run: bool = True) -> RAMCLI:
    """Parses ``args`` (``sys.argv`` if ``None``), builds the model, data and trainer, and runs the subcommand."""
    return RAMCLI(
        RAMSystem,
        RAMDataModule,
        seed_everything_default=1234,
        save_config_kwargs={"overwrite": True},
        trainer_defaults=trainer_defaults(),
        args=args,
        run=run,
    )


def main(args: ArgsType = None) -> None:
    """Entry point of ``ram`` and ``python -m ram_lightning``; config and data errors exit with a message."""
    try:
        create_cli(args)
    except (ConfigError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
