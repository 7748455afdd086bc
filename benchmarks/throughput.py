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
import warnings
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.measurements import MEASUREMENTS, measure_config  # noqa: E402


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
