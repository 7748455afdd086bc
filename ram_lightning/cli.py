"""The ``ram`` command: LightningCLI with the project's defaults (``ram fit|validate|test|predict --config ...``)."""

from __future__ import annotations

import sys

from jsonargparse import lazy_instance
from pytorch_lightning.callbacks import ModelCheckpoint, RichModelSummary, RichProgressBar
from pytorch_lightning.cli import ArgsType, LightningArgumentParser, LightningCLI
from pytorch_lightning.loggers import TensorBoardLogger

from ram_lightning.data import RAMDataModule
from ram_lightning.errors import ConfigError, DataError
from ram_lightning.system import RAMSystem


class RAMCLI(LightningCLI):
    """LightningCLI for RAM.

    Defaults: a TensorBoard logger under ``logs/``, a checkpoint of the best ``val/err`` plus ``last.ckpt``,
    the Rich progress bar and model summary, the config saved with the run, a fixed seed. The data decides the
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


def trainer_defaults() -> dict:
    """Trainer settings a user gets unless the config says otherwise."""
    return {
        "logger": lazy_instance(TensorBoardLogger, save_dir="logs", name="ram"),
        "callbacks": [RichProgressBar(), RichModelSummary(max_depth=2)],
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
    except Exception as error:
        reported = _reported_error(error)
        if reported is None:
            raise
        print(f"error: {reported}", file=sys.stderr)
        raise SystemExit(2) from None


def _reported_error(error: BaseException) -> ConfigError | DataError | None:
    """The ConfigError or DataError behind ``error``, if any (jsonargparse wraps errors raised by callbacks)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, (ConfigError, DataError)):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
