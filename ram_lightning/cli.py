"""The ``ram`` command: LightningCLI with the project's defaults (``ram fit|validate|test|predict --config ...``)."""

from __future__ import annotations

import sys
from typing import Any

from jsonargparse import Namespace, lazy_instance
from pytorch_lightning import LightningModule, Trainer
from pytorch_lightning.callbacks import ModelCheckpoint, RichModelSummary, RichProgressBar
from pytorch_lightning.cli import ArgsType, LightningArgumentParser, LightningCLI, SaveConfigCallback
from pytorch_lightning.loggers import TensorBoardLogger

from ram_lightning.checkpoint import load_checkpoint
from ram_lightning.data import RAMDataModule
from ram_lightning.errors import CheckpointError, ConfigError, DataError, TrainingDivergedError
from ram_lightning.predictions import PredictionWriter
from ram_lightning.pretrained import expand_pretrained
from ram_lightning.system import RAMSystem

PREDICT_DESCRIPTION = (
    "Runs a model on the test split, or on the image files of --data.predict_dir, and writes one row per image to "
    "--prediction.output (CSV, or JSON lines for a .jsonl file). --pretrained NAME (a folder of results/, e.g. "
    "mnist) stands for --config results/NAME/config.yaml --ckpt_path results/NAME/model.ckpt --trainer.logger false."
)
# Errors printed as one line (exit code 2) instead of a traceback.
REPORTED_ERRORS = (ConfigError, DataError, CheckpointError, TrainingDivergedError)


class RAMCLI(LightningCLI):
    """LightningCLI for RAM.

    Defaults: a TensorBoard logger under ``logs/``, a checkpoint of the best ``val/err`` (``checkpoint.*``
    options) plus ``last.ckpt`` written after every epoch, the Rich progress bar and model summary (unless the
    trainer disables them), the config saved with the run, a fixed seed. The data decides the model's
    ``num_classes``, ``in_channels`` and ``image_size``.

    ``predict`` writes its rows to ``--prediction.output`` (:class:`PredictionWriter`, ``prediction.*`` options)
    and nothing else: no logger. ``--pretrained NAME`` after ``predict``, ``test`` or ``validate`` runs a model
    shipped in ``results/`` (see :mod:`ram_lightning.pretrained`).
    """

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_class_arguments(ModelCheckpoint, "checkpoint", instantiate=False, fail_untyped=False)
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/err",
                "checkpoint.mode": "min",
                "checkpoint.filename": "epoch={epoch}-val_err={val/err:.4f}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )
        parser.add_class_arguments(PredictionWriter, "prediction", instantiate=False, fail_untyped=False)
        for source in ("num_classes", "in_channels", "image_size"):
            parser.link_arguments(f"data.{source}", f"model.{source}", apply_on="instantiate")

    def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
        """Parses the arguments (``--pretrained NAME`` first becomes the shipped model's config and checkpoint),
        then checks that a given ``ckpt_path`` is a readable checkpoint."""
        command_line = sys.argv[1:] if args is None else args
        if isinstance(command_line, list) and (expanded := expand_pretrained(command_line)) != command_line:
            self.config = parser.parse_args(expanded)
        else:
            super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if ckpt_path and ckpt_path not in ("last", "best", "hpc", "registry"):
            load_checkpoint(ckpt_path, require_configs=False)

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """Adds the Rich progress bar and model summary unless the trainer config disables them."""
        config = self.config_init[self.subcommand]["trainer"] if self.subcommand else self.config_init["trainer"]
        callbacks = config.get("callbacks") or []
        callbacks = list(callbacks) if isinstance(callbacks, list) else [callbacks]
        if config.get("enable_progress_bar") is not False:
            callbacks.append(RichProgressBar())
        if config.get("enable_model_summary") is not False:
            callbacks.append(RichModelSummary(max_depth=2))
        if self.subcommand in ("fit", None) and config.get("enable_checkpointing") is not False:
            callbacks.extend(
                checkpoint_callbacks(
                    self.config[self.subcommand]["checkpoint"] if self.subcommand else self.config["checkpoint"]
                )
            )
        if self.subcommand == "predict":
            callbacks.append(PredictionWriter(**self.config["predict"]["prediction"].as_dict()))
            kwargs["logger"] = False  # prediction logs nothing: it writes only its predictions file
        return super().instantiate_trainer(callbacks=callbacks, **kwargs)


class RunConfigSaver(SaveConfigCallback):
    """Saves the config with a run's output: always for ``fit`` (next to its logs, or to its checkpoints without a
    logger), for ``validate`` and ``test`` only next to their logs, never for ``predict`` (no logger: it writes only
    its predictions)."""

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == "fit" or trainer.logger is not None:
            super().setup(trainer, pl_module, stage)


def checkpoint_callbacks(best: Namespace) -> list[ModelCheckpoint]:
    """The best checkpoint(s) by ``best.monitor``, and ``last.ckpt`` rewritten after every epoch."""
    options = best.as_dict() if isinstance(best, Namespace) else dict(best)
    options["save_last"] = False
    latest = ModelCheckpoint(
        dirpath=options.get("dirpath"), filename="last", monitor=None, save_top_k=1, enable_version_counter=False
    )
    return [ModelCheckpoint(**options), latest]


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
        save_config_callback=RunConfigSaver,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"predict": {"description": PREDICT_DESCRIPTION}},
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


def _reported_error(error: BaseException) -> Exception | None:
    """The project error behind ``error``, if any (jsonargparse wraps errors raised by callbacks)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, REPORTED_ERRORS):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
