"""The ``ram`` command: LightningCLI with the project's defaults (``ram fit|validate|test|predict --config ...``)."""

from __future__ import annotations

import sys
from typing import Any

from jsonargparse import Namespace, lazy_instance
from pytorch_lightning import LightningModule, Trainer
from pytorch_lightning.callbacks import ModelCheckpoint, RichModelSummary, RichProgressBar
from pytorch_lightning.cli import ArgsType, LightningArgumentParser, LightningCLI, SaveConfigCallback
from pytorch_lightning.loggers import TensorBoardLogger
from pytorch_lightning.utilities import rank_zero_warn

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
# Model options the data decides (linked, never parsed).
DATA_LINKED_OPTIONS = ("num_classes", "in_channels", "image_size")
# Model options that decide the shapes of the weights: with a checkpoint, its saved values always apply.
WEIGHT_SHAPE_OPTIONS = frozenset(
    {
        "patch_size",
        "num_scales",
        "glimpse_hidden",
        "location_hidden",
        "glimpse_size",
        "hidden_size",
        "core_type",
        "baseline",
    }
)


class RAMCLI(LightningCLI):
    """LightningCLI for RAM.

    Defaults: a TensorBoard logger under ``logs/``, a checkpoint of the best ``val/err`` (``checkpoint.*``
    options) plus ``last.ckpt`` written after every epoch (``checkpoint.save_last: false`` turns it off), the Rich
    progress bar and model summary (unless the trainer disables them), the config saved with the run, a fixed seed.
    The data decides the model's ``num_classes``, ``in_channels`` and ``image_size``.

    With ``--ckpt_path``, the model options given on the command line or in a config apply (evaluation mode,
    precision, std, loss weights...), except those that decide the weights' shapes; every other option takes the
    value saved in the checkpoint. A given value the checkpoint replaces is reported.

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
        for source in DATA_LINKED_OPTIONS:
            parser.link_arguments(f"data.{source}", f"model.{source}", apply_on="instantiate")

    def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
        """Parses the arguments (``--pretrained NAME`` first becomes the shipped model's config and checkpoint);
        with a ``ckpt_path``, checks that it is a readable checkpoint and fills the model options that the command
        line and the configs do not give with the checkpoint's saved values."""
        command_line = sys.argv[1:] if args is None else args
        if isinstance(command_line, list) and (expanded := expand_pretrained(command_line)) != command_line:
            args = expanded
            self.config = parser.parse_args(expanded)
        else:
            super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if ckpt_path and ckpt_path not in ("last", "best", "hpc", "registry"):
            checkpoint = load_checkpoint(ckpt_path, require_configs=False)
            # What the command line and the configs give, without the defaults.
            if isinstance(args, dict | Namespace):
                given = parser.parse_object(args, defaults=False)
            else:
                given = parser.parse_args(args, defaults=False)
            saved = checkpoint.get("hyper_parameters") or {}
            for message in merge_saved_options(self.config[subcommand].model, given[subcommand].get("model"), saved):
                rank_zero_warn(f"{ckpt_path}: {message}")

    def _parse_ckpt_path(self) -> None:
        """Nothing: :meth:`parse_arguments` merged the checkpoint's options (Lightning's own merge would let them
        replace the ones given on the command line and in configs)."""

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


def merge_saved_options(model: Namespace, given: Namespace | None, saved: dict[str, Any]) -> list[str]:
    """Fills the ``model`` config with a checkpoint's ``saved`` hyperparameters, in place.

    An option ``given`` on the command line or in a config keeps its value, unless it decides the shapes of the
    weights (:data:`WEIGHT_SHAPE_OPTIONS`): the checkpoint's value replaces it then, and a message says so. Every other
    option takes the saved value.

    Returns:
        One message per given value replaced, and per saved option this version does not know.
    """
    given = given or Namespace()
    messages = []
    for key, value in saved.items():
        if key.startswith("_") or key in DATA_LINKED_OPTIONS:  # Lightning's bookkeeping; the data decides
            continue
        if key not in model:
            messages.append(f"the checkpoint's model.{key}={value!r} is not an option of this version: ignored")
        elif key not in given:
            model[key] = value
        elif key in WEIGHT_SHAPE_OPTIONS and model[key] != value:
            messages.append(f"model.{key}={model[key]!r} replaced by the checkpoint's {value!r}, that its weights need")
            model[key] = value
    return messages


def checkpoint_callbacks(best: Namespace) -> list[ModelCheckpoint]:
    """The best checkpoint(s) by ``best.monitor``, and ``last.ckpt`` rewritten after every epoch unless
    ``best.save_last`` is false.

    Raises:
        ConfigError: ``save_last`` is ``"link"`` (``last.ckpt`` is always a full checkpoint, for resuming).
    """
    options = best.as_dict() if isinstance(best, Namespace) else dict(best)
    save_last = options.pop("save_last", None)
    if save_last not in (None, True, False):
        raise ConfigError(
            f"checkpoint.save_last must be true (the default: last.ckpt after every epoch) or false, got {save_last!r}"
        )
    if save_last is False:
        return [ModelCheckpoint(**options)]
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
