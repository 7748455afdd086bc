"""Samples per second of RAM training and evaluation, for each config.

    python benchmarks/throughput.py                                    # every experiment config in configs/
    python benchmarks/throughput.py --config configs/mnist.yaml --batch-size 256 --json throughput.json
    python benchmarks/throughput.py --only step --set model.train_samples=4 --set model.baseline=leave_one_out
    python benchmarks/throughput.py --set model.autocast=off --set model.fused_rollout=false   # the plain path

For each config, after a warm-up, the median over ``--repeats`` runs of:

- ``step``: the training step alone (sampled rollout, hybrid loss, backward, optimizer step) on one batch already
  in memory, through ``RAMSystem.training_loss`` and the config's optimizer; its runs alternate with the ``fit``
  epochs, so that ``fit / step`` compares runs made under the same load;
- ``data``: the training DataLoader alone, ``uint8`` canvases converted to float as ``on_after_batch_transfer``
  does (and copied to the device);
- ``fit``: ``Trainer.fit`` epochs of ``--fit-batches`` batches (``limit_train_batches``, no validation), with a
  TensorBoard logger in a temporary directory and the config's ``precision`` and ``log_every_n_steps``; without the
  config's callbacks, progress bar, model summary and checkpoints;
- ``eval``: the validation step (the config's evaluation mode: the policy mean, or ``model.eval_samples`` sampled
  rollouts; accuracy update, no gradient) on one batch in memory, in images/s.

Everything runs in this process, one measurement at a time: on a machine shared with other jobs the figures drop
(see the load average printed in the header), so compare ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import yaml
from pytorch_lightning.loggers import TensorBoardLogger
from torch import Tensor

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from ram_lightning.cli import create_cli  # noqa: E402
from ram_lightning.data import RAMDataModule  # noqa: E402
from ram_lightning.system import RAMSystem  # noqa: E402

MEASUREMENTS = ("step", "data", "fit", "eval")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", action="append", type=Path, help="config file (repeatable; default: configs/)")
    parser.add_argument("--batch-size", type=int, help="images per batch (default: the config's data.batch_size)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (the median is kept)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first (fit: epochs)")
    parser.add_argument("--steps", type=int, default=20, help="training or evaluation steps per timed run")
    parser.add_argument("--data-batches", type=int, default=20, help="batches per timed run of the data pipeline")
    parser.add_argument("--fit-batches", type=int, default=40, help="batches per fit epoch")
    parser.add_argument("--only", default=",".join(MEASUREMENTS), help="comma-separated subset of: step,data,fit,eval")
    parser.add_argument("--data-dir", help="data.data_dir (default: the config's)")
    parser.add_argument("--accelerator", default="cpu", choices=("cpu", "cuda"), help="device to measure on")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override, repeatable")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--quick", action="store_true", help="one short run of each (checks the script, not speed)")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup, args.steps, args.data_batches, args.fit_batches = 1, 1, 2, 2, 2
    unknown = set(args.only.split(",")) - set(MEASUREMENTS)
    if unknown:
        parser.error(f"--only: unknown measurement(s) {sorted(unknown)}; choose from {MEASUREMENTS}")
    return args


def experiment_configs(directory: Path) -> list[Path]:
    """The complete experiment configs of ``directory`` (those with ``model`` and ``data``; not overlays)."""
    configs = []
    for path in sorted(directory.glob("*.yaml")):
        content = yaml.safe_load(path.read_text()) or {}
        if isinstance(content, dict) and "model" in content and "data" in content:
            configs.append(path)
    return configs


def timed(run: Callable[[], None], samples: int, warmup: int, repeats: int, sync: Callable[[], None]) -> list[float]:
    """Samples per second of each of ``repeats`` calls of ``run`` (``samples`` each), after ``warmup`` calls."""
    for _ in range(warmup):
        run()
    sync()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        sync()
        rates.append(samples / (time.perf_counter() - start))
    return rates


class EpochTimer(pl.Callback):
    """Wall time of every training epoch (data loading, steps, logging: everything between its start and end).

    Args:
        between_epochs: called after each epoch is timed, e.g. to interleave another measurement with the epochs.
    """

    def __init__(self, between_epochs: Callable[[], None] | None = None) -> None:
        self.seconds: list[float] = []
        self.between_epochs = between_epochs
        self._start = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self.seconds.append(time.perf_counter() - self._start)
        if self.between_epochs is not None:
            self.between_epochs()


def measure_config(config: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement of ``args.only`` for one config: samples/s of each timed run.

    When both are asked for, the training-step runs alternate with the fit epochs (one after each), so that their
    ratio compares runs made under the same load.
    """
    cli_args = ["--config", str(config)]
    if args.batch_size:
        cli_args += ["--data.batch_size", str(args.batch_size)]
    if args.data_dir:
        cli_args += ["--data.data_dir", args.data_dir]
    for override in args.set:
        key, _, value = override.partition("=")
        cli_args += [f"--{key}", value]
    cli = create_cli(cli_args, run=False)
    system, data = cli.model, cli.datamodule
    device = torch.device(args.accelerator)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    batch = data.hparams.batch_size
    data.prepare_data()
    data.setup("fit")
    images, targets = data.on_after_batch_transfer(next(iter(data.train_dataloader())), 0)
    images, targets = images.to(device), targets.to(device)  # (B, C, H, W), (B,)
    indices = torch.arange(images.shape[0])  # (B,): seed the Monte-Carlo evaluation noise, as evaluation batches do
    system.to(device)
    wanted = args.only.split(",")
    samples = system.hparams.train_samples
    result: dict[str, Any] = {"config": str(config), "batch_size": batch, "train_samples": samples}

    if "eval" in wanted:
        system.eval()

        def eval_steps() -> None:
            with torch.no_grad():
                for _ in range(args.steps):
                    system.validation_step((images, targets, indices), 0)
            system.val_acc.reset()

        result["eval"] = timed(eval_steps, args.steps * batch, args.warmup, args.repeats, sync)
        system.train()

    if "data" in wanted:
        loader = data.train_dataloader()
        pin = bool(loader.pin_memory) and device.type == "cuda"

        def read_batches() -> None:
            iterator = iter(loader)
            for _ in range(args.data_batches):
                images, labels = next(iterator)
                data.on_after_batch_transfer((images.to(device, non_blocking=pin), labels.to(device)), 0)

        result["data"] = timed(read_batches, args.data_batches * batch, args.warmup, args.repeats, sync)

    train_steps = training_steps(system, images, targets, args.steps) if "step" in wanted else None
    step_rates: list[float] = []
    if "fit" in wanted:

        def step_between_epochs() -> None:
            step_rates.extend(timed(train_steps, args.steps * batch, 0, 1, sync))

        result["fit"] = measure_fit(cli, system, data, batch, args, step_between_epochs if train_steps else None)
        if train_steps is not None:
            result["step"] = step_rates[args.warmup :]
    elif train_steps is not None:
        result["step"] = timed(train_steps, args.steps * batch, args.warmup, args.repeats, sync)
    return result


def training_steps(system: RAMSystem, images: Tensor, targets: Tensor, steps: int) -> Callable[[], None]:
    """``steps`` training steps on one batch in memory, without Lightning: the system's loss, the config's
    optimizer (a fresh one) and gradient clipping, the baseline's update."""
    system.train()
    optimizer = system.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    clip = system.hparams.gradient_clip_norm

    def run() -> None:
        for _ in range(steps):
            _, terms = system.training_loss(images, targets)
            optimizer.zero_grad(set_to_none=True)
            terms.total.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(system.parameters(), clip)
            optimizer.step()
            system.model.baseline.update(terms.reward)

    return run


def measure_fit(
    cli: Any,
    system: RAMSystem,
    data: RAMDataModule,
    batch: int,
    args: argparse.Namespace,
    between_epochs: Callable[[], None] | None = None,
) -> list[float]:
    """Samples/s of each timed ``Trainer.fit`` epoch (the first ``args.warmup`` epochs are not kept)."""
    timer = EpochTimer(between_epochs)
    trainer_config = cli.config.get("trainer", {})
    with tempfile.TemporaryDirectory() as logs:
        trainer = pl.Trainer(
            accelerator=args.accelerator,
            devices=1,
            max_epochs=args.warmup + args.repeats,
            limit_train_batches=args.fit_batches,
            limit_val_batches=0,
            num_sanity_val_steps=0,
            precision=trainer_config.get("precision") or "32-true",
            log_every_n_steps=trainer_config.get("log_every_n_steps") or 50,
            logger=TensorBoardLogger(logs, name="throughput"),
            callbacks=[timer],
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        trainer.fit(system, datamodule=data)
    return [args.fit_batches * batch / seconds for seconds in timer.seconds[args.warmup :]]


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pytorch_lightning": pl.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "load_average_1min": load[0],
    }


def table(results: list[dict[str, Any]]) -> str:
    """Medians (and the range of the runs) as a Markdown table, in images/s; ``step episodes/s`` counts each of the
    ``M`` rollouts of an image (``model.train_samples``); ``fit/step`` is the share of the step's speed a fit epoch
    keeps."""
    lines = [
        "| config | batch | M | step images/s | step episodes/s | data | fit | fit / step | eval |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        medians = {key: statistics.median(result[key]) for key in MEASUREMENTS if key in result}
        samples = result["train_samples"]
        share = f"{medians['fit'] / medians['step']:.0%}" if "fit" in medians and "step" in medians else "-"
        cells = [_cell(result, "step"), _cell(result, "step", samples), _cell(result, "data"), _cell(result, "fit")]
        cells += [share, _cell(result, "eval")]
        lines.append(f"| {Path(result['config']).name} | {result['batch_size']} | {samples} | {' | '.join(cells)} |")
    return "\n".join(lines)


def _cell(result: dict[str, Any], key: str, factor: int = 1) -> str:
    """``"median (lowest-highest)"`` of the runs of one measurement, times ``factor``; ``"-"`` if not measured."""
    if key not in result:
        return "-"
    runs = [rate * factor for rate in result[key]]
    return f"{statistics.median(runs):,.0f} ({min(runs):,.0f}-{max(runs):,.0f})"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    configs = args.config or experiment_configs(REPO_ROOT / "configs")
    if not configs:
        raise SystemExit("no config to measure: pass --config or add configs/*.yaml")
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    info = machine()
    busy = info["load_average_1min"] > 0.5 * (info["cores"] or 1)
    print(
        f"torch {info['torch']}, {info['cores']} cores, {info['threads']} threads, "
        f"{info['cuda'] or args.accelerator}; load average {info['load_average_1min']:.2f}"
        + (" (busy: figures will be low)" if busy else ""),
        flush=True,
    )
    results = []
    for config in configs:
        results.append(measure_config(config, args))
        print(f"measured {config}", file=sys.stderr, flush=True)
    print(table(results))
    if args.json:
        medians = [{key: statistics.median(value) for key, value in r.items() if key in MEASUREMENTS} for r in results]
        report = {
            "machine": info,
            "settings": {key: str(value) for key, value in vars(args).items()},
            "results": [{**result, "median": median} for result, median in zip(results, medians, strict=True)],
        }
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
