"""The models shipped in ``results/<name>/`` (``config.yaml`` and ``model.ckpt``), by name.

``RAMSystem.from_pretrained("mnist")`` loads one in Python; on the command line ``--pretrained NAME`` stands for
``--config results/NAME/config.yaml --ckpt_path results/NAME/model.ckpt --trainer.logger false`` (the shipped
configs' loggers point at the machine they were trained on).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ram_lightning.checkpoint import load_checkpoint
from ram_lightning.errors import ConfigError

if TYPE_CHECKING:
    from ram_lightning.system import RAMSystem

RESULTS_DIR = Path(__file__).resolve().parent.parent / "results"
# Subcommands that evaluate a given checkpoint (``fit`` would try to resume training from it).
EVALUATING_SUBCOMMANDS = ("predict", "test", "validate")
OPTION = "--pretrained"


class PretrainedFiles(NamedTuple):
    """The files of a shipped model: its run's ``config`` and its ``checkpoint`` (weights and saved configs)."""

    config: Path
    checkpoint: Path


def available_models() -> list[str]:
    """Names of the shipped models: the folders of ``results/`` holding ``config.yaml`` and ``model.ckpt``."""
    if not RESULTS_DIR.is_dir():
        return []
    return sorted(
        folder.name
        for folder in RESULTS_DIR.iterdir()
        if (folder / "config.yaml").is_file() and (folder / "model.ckpt").is_file()
    )


def pretrained_files(name: str) -> PretrainedFiles:
    """The config and checkpoint of the shipped model ``name``.

    Raises:
        ConfigError: there is no shipped model of that name; the message lists the available ones.
    """
    available = available_models()
    if name not in available:
        if not available:
            raise ConfigError(
                f"no shipped models in {RESULTS_DIR}: they come with the repository (install it from a clone, "
                "`pip install -e .`)"
            )
        raise ConfigError(f"unknown pretrained model {name!r}; available: {', '.join(available)}")
    folder = RESULTS_DIR / name
    return PretrainedFiles(folder / "config.yaml", folder / "model.ckpt")


def load_pretrained(name: str) -> RAMSystem:
    """The shipped model ``name`` with its weights and config, in evaluation mode (``RAMSystem.from_pretrained``)."""
    from ram_lightning.plot import build_system  # builds RAMSystem, whose module imports this one lazily

    files = pretrained_files(name)
    return build_system(load_checkpoint(files.checkpoint), files.checkpoint)


def expand_pretrained(args: list[str]) -> list[str]:
    """Command-line arguments with ``--pretrained NAME`` (or ``--pretrained=NAME``) replaced, in place, by the
    shipped model's ``--config`` and ``--ckpt_path`` and ``--trainer.logger false``, so that later options override
    them.

    Raises:
        ConfigError: the name is missing or unknown, or the option does not follow ``predict``, ``test`` or
            ``validate``.
    """
    subcommand = next((index for index, arg in enumerate(args) if not arg.startswith("-")), len(args))
    expanded: list[str] = []
    position = 0
    while position < len(args):
        arg = args[position]
        if arg != OPTION and not arg.startswith(f"{OPTION}="):
            expanded.append(arg)
            position += 1
            continue
        if position < subcommand or args[subcommand] not in EVALUATING_SUBCOMMANDS:
            raise ConfigError(
                f"{OPTION} loads a shipped model for {', '.join(EVALUATING_SUBCOMMANDS)}: put it after one of them "
                f"(e.g. `ram predict {OPTION} mnist ...`)"
            )
        if arg == OPTION:
            name = args[position + 1] if position + 1 < len(args) else ""
            position += 2
        else:
            name = arg.split("=", 1)[1]
            position += 1
        if not name or name.startswith("-"):
            raise ConfigError(f"{OPTION} needs a model name; available: {', '.join(available_models())}")
        files = pretrained_files(name)
        expanded += ["--config", str(files.config), "--ckpt_path", str(files.checkpoint), "--trainer.logger", "false"]
    return expanded
