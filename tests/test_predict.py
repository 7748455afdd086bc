"""`ram predict` with the shipped MNIST model on real test images: the file, its agreement with the recorded test
error, its locations, under DDP, and runs that write nothing but what they are asked for."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ram_lightning.cli import main

REPO_ROOT = Path(__file__).resolve().parent.parent
MNIST = REPO_ROOT / "results" / "mnist"
RECORDED = json.loads((MNIST / "metrics.json").read_text())["test_slice"]
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def _data(data_dir: Path) -> list[str]:
    return ["--data.data_dir", str(data_dir), "--data.download", "false"]


def _first_images(count: int) -> list[str]:
    """The first ``count`` test images, in one batch (as the recorded test-slice error was measured)."""
    return ["--data.eval_batch_size", str(count), "--trainer.limit_predict_batches", "1"]


@pytest.fixture(scope="module")
def slice_csv(data_dir, tmp_path_factory) -> Path:
    """Predictions of the shipped MNIST model on the recorded test slice, as CSV."""
    output = tmp_path_factory.mktemp("predict") / "slice.csv"
    args = ["predict", "--pretrained", "mnist", *_data(data_dir), *_first_images(RECORDED["first_images"])]
    main([*args, "--prediction.output", str(output), *QUIET])
    return output


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_predictions_agree_with_the_recorded_test_slice_error(slice_csv):
    rows = _read_csv(slice_csv)
    assert [int(row["index"]) for row in rows] == list(range(RECORDED["first_images"])), "one row per image, in order"
    assert all(row["file"] == "" for row in rows), "dataset images have no file name"
    wrong = sum(row["pred"] != row["label"] for row in rows)
    assert wrong / len(rows) == pytest.approx(RECORDED["one_rollout_err"], abs=2.5 / len(rows))
    probs = torch.tensor([float(row["prob"]) for row in rows])
    assert bool(((probs > 0.1) & (probs <= 1.0)).all()), "the predicted class is the most probable of 10"
    assert probs.median() > 0.99, "the model is confident on most digits"


def test_locations_lie_in_the_canvas_in_both_coordinate_systems(slice_csv):
    rows = _read_csv(slice_csv)
    size = 28
    for t in range(1, 7):
        xy = torch.tensor([[float(row[f"x{t}"]), float(row[f"y{t}"])] for row in rows])  # (N, 2)
        pixels = torch.tensor([[float(row[f"x{t}_px"]), float(row[f"y{t}_px"])] for row in rows])
        assert bool((xy.abs() <= 1.0).all())
        assert bool(((pixels >= 0.0) & (pixels <= size)).all())
        assert torch.allclose(pixels, (xy + 1.0) / 2.0 * size, atol=1e-4)
        if t == 1:  # the policy mean's first glimpse is at the centre
            assert bool((xy == 0.0).all()) and bool((pixels == size / 2).all())
        else:
            assert xy.std(dim=0).min() > 0.05, f"glimpse {t} goes to different places on different digits"


def test_json_lines_give_the_same_predictions_run_after_run(slice_csv, data_dir, tmp_path):
    output = tmp_path / "slice.jsonl"
    args = ["predict", "--pretrained", "mnist", *_data(data_dir), *_first_images(RECORDED["first_images"])]
    main([*args, "--prediction.output", str(output), *QUIET])
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    rows = _read_csv(slice_csv)
    assert len(lines) == len(rows)
    for line, row in zip(lines, rows, strict=True):
        assert line["file"] is None and line["label"] == int(row["label"])
        assert (line["index"], line["pred"], line["prob"]) == (int(row["index"]), int(row["pred"]), float(row["prob"]))
        assert len(line["locations"]) == len(line["locations_px"]) == 6
        assert line["locations"][5] == [float(row["x6"]), float(row["y6"])]
        assert line["locations_px"][0] == [float(row["x1_px"]), float(row["y1_px"])]


def test_test_and_predict_write_nothing_where_they_were_not_pointed(data_dir, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    config = ["--config", str(MNIST / "config.yaml"), "--ckpt_path", str(MNIST / "model.ckpt")]
    main(["test", *config, *_data(data_dir), *_first_images(50), "--trainer.logger", "false", *QUIET])
    main(["predict", *config, *_data(data_dir), *_first_images(50), "--prediction.output", "p.csv", *QUIET])
    assert sorted(path.name for path in work.iterdir()) == ["p.csv"]
    assert not (tmp_path / "logs").exists()


@pytest.mark.slow
def test_two_processes_write_one_file_in_dataset_order(data_dir, tmp_path):
    # Along the policy mean: Monte-Carlo noise is seeded by each process's batch index (other noise than one process).
    checkpoint = torch.load(MNIST / "model.ckpt", weights_only=True)
    checkpoint["hyper_parameters"]["eval_samples"] = 0
    torch.save(checkpoint, tmp_path / "mean_path.ckpt")
    common = ["--config", str(MNIST / "config.yaml"), "--ckpt_path", str(tmp_path / "mean_path.ckpt"), *QUIET]
    common += _data(data_dir)

    ddp = ["--config", str(REPO_ROOT / "configs" / "trainer" / "ddp.yaml"), "--trainer.accelerator", "cpu"]
    ddp += ["--trainer.devices", "2", "--data.eval_batch_size", "50", "--trainer.limit_predict_batches", "2"]
    run = subprocess.run(
        [sys.executable, "-m", "ram_lightning", "predict", *common, *ddp, "--prediction.output", "ddp.csv"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},  # this checkout's code, wherever the package is installed
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    main(["predict", *common, *_first_images(200), "--prediction.output", str(tmp_path / "single.csv")])

    ddp_rows, single_rows = _read_csv(tmp_path / "ddp.csv"), _read_csv(tmp_path / "single.csv")
    # Each process predicted 2 batches of 50 of its interleaved share: together the first 200 images.
    assert [int(row["index"]) for row in ddp_rows] == list(range(200))
    assert [row["pred"] for row in ddp_rows] == [row["pred"] for row in single_rows]
    assert [row["label"] for row in ddp_rows] == [row["label"] for row in single_rows]
    for ddp_row, single_row in zip(ddp_rows, single_rows, strict=True):
        assert float(ddp_row["prob"]) == pytest.approx(float(single_row["prob"]), abs=1e-4)
        assert float(ddp_row["x6_px"]) == pytest.approx(float(single_row["x6_px"]), abs=1e-3)
