"""``ram-export``: turns a finished run into a results folder.

    ram-export --run logs/mnist/version_0 --out results/mnist --command "ram fit --config configs/mnist.yaml"

writes ``model.ckpt`` (the best checkpoint by ``val/err``, without optimizer state), the run's ``config.yaml``,
the learning curve (``curve.csv``, ``curve.png``), and ``metrics.json``: the validation error logged during training
that chose the checkpoint (``val_err_logged``, in the training's precision), the validation and test errors of the
checkpoint re-evaluated in float32 (``val_err``, ``test_err``), the test error of the first ``--slice`` test images
(checked by the test suite), how the checkpoint was chosen, epochs, wall time, hardware, commit and command.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ram_lightning.checkpoint import load_checkpoint
from ram_lightning.viz import draw_error_curve

# Scalars written to the learning-curve CSV, one row per epoch.
CURVE_TAGS = ("train/loss", "train/acc", "train/reward", "val/acc", "val/err", "policy/std", "train/lr")
# Checkpoint entries needed to evaluate or fine-tune a model; optimizer states are dropped to keep it small.
KEPT_KEYS = (
    "epoch",
    "global_step",
    "pytorch-lightning_version",
    "state_dict",
    "hyper_parameters",
    "hparams_name",
    "datamodule_hyper_parameters",
    "datamodule_hparams_name",
)


def read_curve(run_dir: Path) -> list[dict[str, float]]:
    """Per-epoch scalars of a run's TensorBoard events: one dict per epoch with ``epoch``, ``wall_s`` and tags."""
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    available = events.Tags()["scalars"]
    if "val/acc" not in available or "epoch" not in available:
        raise SystemExit(f"error: no per-epoch validation scalars in {run_dir}; is it a finished run directory?")
    # Lightning logs the epoch number at each logged step: map steps to epochs.
    step_epoch = {event.step: int(event.value) for event in events.Scalars("epoch")}
    start = min(event.wall_time for event in events.Scalars("epoch"))
    rows: dict[int, dict[str, float]] = {}
    for tag in CURVE_TAGS:
        if tag not in available:
            continue
        for event in events.Scalars(tag):
            epoch = step_epoch.get(event.step)
            if epoch is None:
                continue
            row = rows.setdefault(epoch, {"epoch": epoch})
            row[tag] = event.value
            if tag == "val/acc":
                row["wall_s"] = round(event.wall_time - start, 1)
    return [rows[epoch] for epoch in sorted(rows)]


def write_curve_csv(rows: list[dict[str, float]], path: Path) -> None:
    """Writes the per-epoch rows as CSV."""
    columns = ["epoch", "wall_s", *CURVE_TAGS]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({column: row.get(column, "") for column in columns})


def plot_curve(rows: list[dict[str, float]], path: Path, title: str) -> None:
    """Draws the validation error (%) per epoch on a log scale, as a small PNG."""
    points = [(row["epoch"], 100.0 * row["val/err"]) for row in rows if "val/err" in row]
    draw_error_curve(points, f"{title}: validation error (%) per epoch, log scale").save(path)


def evaluation_metrics(
    config: Path,
    checkpoint: Path,
    data_dir: str,
    stage: str,
    num_images: int | None = None,
    eval_samples: int | None = None,
) -> dict[str, float]:
    """Every scalar an evaluation of ``checkpoint`` logs, in float32, through the CLI: the error (``val/err`` or
    ``test/err``, a fraction) and the diagnostics.

    Args:
        config: the run's config.
        checkpoint: the checkpoint to evaluate.
        data_dir: where the data lives.
        stage: ``"validate"`` (the validation split) or ``"test"``.
        num_images: evaluate only the first ``num_images`` images of the split (their canvases are fixed).
        eval_samples: evaluation protocol (``0``: one rollout along the policy mean; ``M``: the ``M``-rollout
            ensemble); ``None``: the checkpoint's own.
    """
    from ram_lightning.cli import create_cli  # the CLI imports the whole stack: only when evaluating

    batch = num_images or 1000
    args = [stage, "--config", str(config), "--data.data_dir", data_dir]
    args += ["--data.download", "false", "--data.eval_batch_size", str(batch), "--trainer.logger", "false"]
    args += ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
    args += ["--model.autocast", "off"]  # float32: the same predictions on every CPU and GPU
    # One device of whatever this machine has: a run trained on GPUs or with DDP is evaluated here too.
    args += ["--trainer.accelerator", "auto", "--trainer.devices", "1", "--trainer.num_nodes", "1"]
    args += ["--trainer.strategy", "auto", "--trainer.precision", "32-true"]
    if num_images is not None:
        args += [f"--trainer.limit_{_prefix(stage)}_batches", "1"]
    with tempfile.TemporaryDirectory() as scratch:
        if eval_samples is not None:
            # The protocol goes both on the command line and into a copy of the checkpoint's saved settings.
            args += ["--model.eval_samples", str(eval_samples)]
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
            state["hyper_parameters"]["eval_samples"] = eval_samples
            checkpoint = Path(scratch) / "evaluated.ckpt"
            torch.save(state, checkpoint)
        cli = create_cli([*args, "--ckpt_path", str(checkpoint), "--trainer.default_root_dir", scratch])
    return {key: float(value) for key, value in cli.trainer.callback_metrics.items()}


def protocol_errors(config: Path, checkpoint: Path, data_dir: str, stage: str, ensemble: int = 10) -> dict[str, float]:
    """Errors of one evaluation split under each protocol: ``one_rollout`` along the policy mean (the paper's),
    ``random_locations`` (the same model glimpsing at uniformly random places), and ``ensemble_<M>`` (the mean
    class probabilities of ``M`` sampled rollouts)."""
    prefix = _prefix(stage)
    mean = evaluation_metrics(config, checkpoint, data_dir, stage, eval_samples=0)
    ensembled = evaluation_metrics(config, checkpoint, data_dir, stage, eval_samples=ensemble)
    return {
        "one_rollout": mean[f"{prefix}/err"],
        "random_locations": 1.0 - mean[f"{prefix}/acc_random_locations"],
        f"ensemble_{ensemble}": ensembled[f"{prefix}/err"],
    }


def _prefix(stage: str) -> str:
    """The prefix of the metrics an evaluation ``stage`` logs: ``val`` for ``"validate"``, else ``test``."""
    return "val" if stage == "validate" else "test"


def export(
    run_dir: Path,
    checkpoint: Path,
    out_dir: Path,
    data_dir: str,
    slice_size: int,
    facts: dict,
    chosen_by: str = "the lowest val/err logged during training",
) -> dict:
    """Writes the results folder (see the module docstring); returns the metrics written to ``metrics.json``.

    ``chosen_by`` says how ``checkpoint`` was chosen; it is recorded in ``selected_by``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    state = load_checkpoint(checkpoint, require_configs=False)
    trained_autocast = state.get("hyper_parameters", {}).get("autocast", "off")
    trained_dtype = {"off": "float32", "bf16": "bfloat16"}.get(trained_autocast, "bfloat16 where that turned it on")
    if "autocast" in state.get("hyper_parameters", {}):
        state["hyper_parameters"]["autocast"] = "off"  # evaluated in float32, reproducible on any machine
    torch.save({key: state[key] for key in KEPT_KEYS if key in state}, out_dir / "model.ckpt")
    shutil.copy(run_dir / "config.yaml", out_dir / "config.yaml")
    rows = read_curve(run_dir)
    write_curve_csv(rows, out_dir / "curve.csv")
    plot_curve(rows, out_dir / "curve.png", out_dir.name)
    model, config = out_dir / "model.ckpt", out_dir / "config.yaml"
    logged = {row["epoch"]: row.get("val/err") for row in rows}
    val_err = protocol_errors(config, model, data_dir, "validate")
    test_err = protocol_errors(config, model, data_dir, "test")
    test_slice = evaluation_metrics(config, model, data_dir, "test", slice_size, eval_samples=0)
    metrics = {
        **{key: value for key, value in facts.items() if key != "hardware"},
        "checkpoint_epoch": int(state["epoch"]),
        "epochs_trained": len(rows),
        "wall_time_s": max((row["wall_s"] for row in rows if "wall_s" in row), default=None),
        "hardware": facts.get("hardware", _hardware()),
        "evaluated_on": _hardware(),
        "selected_by": (
            f"{chosen_by}: val_err_logged, measured with model.autocast: {trained_autocast} ({trained_dtype}) and the "
            "config's evaluation protocol; val_err and test_err re-evaluate the checkpoint in "
            "float32 under each protocol"
        ),
        "val_err_logged": logged.get(int(state["epoch"])),
        "val_err": val_err,
        "test_err": test_err,
        "test_slice": {"first_images": slice_size, "one_rollout_err": test_slice["test/err"]},
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def _hardware() -> str:
    """CPU model and core count, and the GPU if one was used."""
    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").is_file():
        names = [
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{cpu}, {cores} cores{gpu}"


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="ram-export", description=__doc__)
    parser.add_argument("--run", type=Path, required=True, help="run directory, e.g. logs/mnist/version_0")
    parser.add_argument("--ckpt", type=Path, help="checkpoint to ship (default: the run's best by val/err)")
    parser.add_argument("--out", type=Path, required=True, help="results folder, e.g. results/mnist")
    parser.add_argument("--command", required=True, help="the command that trained the run")
    parser.add_argument("--commit", default=None, help="commit the run was trained at (default: HEAD)")
    parser.add_argument("--data-dir", default="data", help="where the data lives (default: data)")
    parser.add_argument("--slice", type=int, default=1000, help="test images in the recorded slice (default 1000)")
    parser.add_argument("--note", default="", help="anything else worth recording (e.g. the machine was shared)")
    parser.add_argument("--hardware", help="what the run trained on (default: this machine)")
    args = parser.parse_args(argv)
    checkpoint = args.ckpt or _best_checkpoint(args.run)
    for path in (checkpoint, args.run / "config.yaml"):
        if not path.is_file():
            print(f"error: no {path.name} at {path}", file=sys.stderr)
            raise SystemExit(2)
    facts = {"command": args.command, "commit": args.commit or _git_commit(), "note": args.note}
    if args.hardware:
        facts["hardware"] = args.hardware
    chosen_by = "given with --ckpt" if args.ckpt else "the lowest val/err logged during training"
    metrics = export(args.run, checkpoint, args.out, args.data_dir, args.slice, facts, chosen_by)
    print(json.dumps(metrics, indent=2))


def _best_checkpoint(run_dir: Path) -> Path:
    """The checkpoint the run's ``ModelCheckpoint`` on ``val/err`` recorded as its best (in ``last.ckpt``), looked
    up by its file name in the run's ``checkpoints/`` folder when the run has moved since; else ``last.ckpt``."""
    last = run_dir / "checkpoints" / "last.ckpt"
    if not last.is_file():
        return last
    for key, value in load_checkpoint(last, require_configs=False).get("callbacks", {}).items():
        if key.startswith("ModelCheckpoint") and value.get("monitor") == "val/err" and value.get("best_model_path"):
            best = Path(value["best_model_path"])
            return best if best.is_file() else run_dir / "checkpoints" / best.name
    return last


if __name__ == "__main__":
    main()
