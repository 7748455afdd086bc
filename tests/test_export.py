"""ram-export: the results folder records the validation error that chose the checkpoint and its float32 one."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from ram_lightning.cli import main as ram_main
from ram_lightning.export import _best_checkpoint
from ram_lightning.export import main as export_main

SMALL = ["--model.hidden_size=32", "--model.glimpse_size=32", "--model.glimpse_hidden=16", "--model.location_hidden=16"]


def test_export_records_the_logged_and_the_float32_validation_errors(data_dir: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ram_main(
        [
            "fit", f"--data.data_dir={data_dir}", "--data.download=false", "--data.val_size=300",
            "--data.batch_size=32", "--trainer.max_epochs=3", "--trainer.limit_train_batches=30",
            "--trainer.enable_progress_bar=false", f"--trainer.logger.init_args.save_dir={tmp_path / 'logs'}",
            "--checkpoint.save_top_k=-1", "--model.autocast=bf16", "--model.optimizer=torch.optim.Adam",
            "--model.optimizer.lr=0.01", *SMALL,
        ]
    )  # fmt: skip
    run = tmp_path / "logs" / "ram" / "version_0"
    # As if trained with DDP on two GPUs in mixed precision: the export still evaluates here, on one CPU, in float32.
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["trainer"].update(accelerator="gpu", devices=2, strategy="ddp", precision="bf16-mixed")
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    (first,) = (run / "checkpoints").glob("epoch=0-*.ckpt")  # not the best one: given with --ckpt
    out = tmp_path / "results"
    export_main(
        ["--run", str(run), "--ckpt", str(first), "--out", str(out), "--command", "ram fit"]
        + ["--data-dir", str(data_dir), "--slice", "100", "--hardware", "one test GPU"]
    )
    metrics = json.loads((out / "metrics.json").read_text())
    with (out / "curve.csv").open() as handle:
        logged = [float(row["val/err"]) for row in csv.DictReader(handle)]
    assert logged[0] != logged[-1], "the validation error moved, so the epochs can be told apart"
    # The logged (bfloat16) error is the one in the checkpoint's name, the one that chose it.
    assert metrics["checkpoint_epoch"] == 0
    assert metrics["val_err_logged"] == pytest.approx(float(first.stem.split("val_err=")[1]), abs=5e-5)
    assert metrics["val_err_logged"] == pytest.approx(logged[0])
    assert metrics["selected_by"].startswith("given with --ckpt: val_err_logged")
    assert "model.autocast: bf16" in metrics["selected_by"] and "float32" in metrics["selected_by"]
    for split in ("val_err", "test_err"):
        errors = metrics[split]
        assert set(errors) == {"one_rollout", "random_locations", "ensemble_10"}, split
        assert all(0.0 <= error <= 1.0 for error in errors.values()), split
    assert metrics["test_slice"]["first_images"] == 100
    assert metrics["hardware"] == "one test GPU" and "cores" in metrics["evaluated_on"]

    # Without --ckpt, the best checkpoint is the one ModelCheckpoint recorded, also once the run has moved.
    by_name = min((run / "checkpoints").glob("*val_err=*.ckpt"), key=lambda path: float(path.stem.split("=")[-1]))
    assert _best_checkpoint(run) == by_name
    moved = tmp_path / "moved"
    run.rename(moved)
    assert _best_checkpoint(moved) == moved / "checkpoints" / by_name.name
