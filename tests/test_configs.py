"""Every config in ``configs/`` parses, instantiates and trains a step; impossible geometry fails before training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from ram_lightning.cli import create_cli, main

CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"
CONFIGS = sorted(CONFIGS_DIR.glob("*.yaml"))
# The paper's experiments: canvas, glimpses, patch, scales, core (DESIGN.md, "Paper facts").
PAPER = {
    "mnist.yaml": (28, 6, 8, 1, "rnn"),
    "translated60.yaml": (60, 8, 12, 3, "rnn"),
    "cluttered60.yaml": (60, 8, 12, 3, "lstm"),
    "cluttered100.yaml": (100, 8, 12, 4, "lstm"),
}


def _data_dir(config: Path, request: pytest.FixtureRequest) -> Path:
    """The data directory the config's dataset needs, from the fixtures of ``conftest.py``."""
    dataset = yaml.safe_load(config.read_text())["data"].get("dataset", "mnist")
    return request.getfixturevalue({"mnist": "data_dir", "fashion_mnist": "fashion_data_dir"}[dataset])


def _run_args(config: Path, data_dir: Path, tmp_path: Path) -> list[str]:
    """Arguments that run ``config`` offline for one batch, writing only under ``tmp_path``."""
    return [
        "--config", str(config), "--data.data_dir", str(data_dir), "--data.download", "false",
        "--data.val_size", "256", "--trainer.fast_dev_run", "true", "--trainer.default_root_dir", str(tmp_path),
        "--trainer.logger.init_args.save_dir", str(tmp_path / "logs"),
    ]  # fmt: skip


def test_the_paper_experiments_and_fashion_mnist_have_a_config() -> None:
    assert {path.name for path in CONFIGS} >= {*PAPER, "fashion_mnist.yaml"}


@pytest.mark.parametrize("config", CONFIGS, ids=[path.stem for path in CONFIGS])
def test_config_parses_instantiates_and_runs_fast_dev_run(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.chdir(tmp_path)
    cli = create_cli(_run_args(config, _data_dir(config, request), tmp_path), run=False)
    model, data = cli.model, cli.datamodule
    # The data decided the model's input.
    assert (model.hparams.num_classes, model.hparams.in_channels) == (data.num_classes, data.in_channels)
    assert model.hparams.image_size == data.image_size == data.canvas.canvas_size
    if config.name in PAPER:
        canvas, glimpses, patch, scales, core = PAPER[config.name]
        retina = model.model.retina
        assert (data.image_size, model.model.num_glimpses, retina.patch_size, retina.num_scales) == (
            canvas,
            glimpses,
            patch,
            scales,
        )
        assert model.model.core.core_type == core
    classifier = model.model.action.classifier.weight
    before = classifier.detach().clone()
    cli.trainer.fit(model, datamodule=data)
    assert cli.trainer.state.finished
    assert cli.trainer.global_step == 1 and not torch.equal(classifier.detach(), before), "one optimizer step"
    metrics = cli.trainer.callback_metrics
    assert torch.isfinite(metrics["train/loss"])
    # One validation batch of the 256 held-out images: the accuracy counts whole images.
    images = min(data.hparams.eval_batch_size or data.hparams.batch_size, 256)
    correct = float(metrics["val/acc"]) * images
    assert abs(correct - round(correct)) < 1e-3
    (again,) = cli.trainer.validate(model, datamodule=data, verbose=False)
    assert again["val/acc"] == pytest.approx(float(metrics["val/acc"]), abs=1e-6), "evaluation is reproducible"


@pytest.mark.parametrize(
    ("config", "override", "key"),
    [
        ("mnist.yaml", ["--model.num_glimpses", "0"], "model.num_glimpses"),
        ("mnist.yaml", ["--model.num_scales", "4"], "model.num_scales"),  # 64px patch on a 28px image
        ("cluttered100.yaml", ["--model.num_scales", "6"], "model.num_scales"),  # 384px patch on a 100px canvas
        ("translated60.yaml", ["--model.patch_size", "64"], "model.patch_size"),
        ("translated60.yaml", ["--data.canvas_size", "20"], "data.canvas_size"),
        ("mnist.yaml", ["--data.canvas_size", "60"], "data.canvas_size"),  # centered keeps 28x28
        ("cluttered60.yaml", ["--data.distractor_size", "40"], "data.distractor_size"),
        ("cluttered60.yaml", ["--data.distractor_size", "0"], "data.distractor_size"),
        ("cluttered60.yaml", ["--data.num_distractors", "0"], "data.num_distractors"),
        ("cluttered60.yaml", ["--data.dataset", "cifar10"], "data.dataset"),
    ],
)
def test_impossible_configs_fail_before_training_naming_the_key(
    config: str,
    override: list[str],
    key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    missing_data = tmp_path / "no_data"  # training would stop on missing data; the config must fail first
    args = ["fit", *_run_args(CONFIGS_DIR / config, missing_data, tmp_path), *override]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: ") and key in error
    assert list(tmp_path.iterdir()) == []  # nothing was written: no logs, no checkpoints


# A GradScaler for float16 on CPU (Lightning turns 16-mixed on CPU into bf16-mixed, without one), as on a GPU.
FLOAT16_WITH_SCALER = (
    '{"class_path": "pytorch_lightning.plugins.MixedPrecision", "init_args": {"precision": "16-mixed", "device": "cpu",'
    ' "scaler": {"class_path": "torch.amp.GradScaler", "init_args": {"device": "cpu"}}}}'
)


@pytest.mark.parametrize(
    "precision",
    [["--trainer.precision", "bf16-mixed"], ["--trainer.plugins", FLOAT16_WITH_SCALER]],
    ids=["bf16-mixed", "16-mixed"],
)
@pytest.mark.parametrize("config", CONFIGS, ids=[path.stem for path in CONFIGS])
def test_config_trains_under_mixed_precision(
    config: Path, precision: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.chdir(tmp_path)
    args = [*_run_args(config, _data_dir(config, request), tmp_path), *precision, "--data.eval_batch_size", "32"]
    cli = create_cli([*args, "--trainer.enable_progress_bar", "false"], run=False)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert cli.trainer.state.finished
    assert torch.isfinite(cli.trainer.callback_metrics["train/loss"])


@pytest.mark.parametrize("precision", ["bf16-true", "16-true", "64-true"])
def test_precisions_without_float32_weights_are_refused_before_training(
    precision: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["fit", *_run_args(CONFIGS_DIR / "mnist.yaml", data_dir, tmp_path), "--trainer.precision", precision]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"error: trainer.precision={precision} ") and "bf16-mixed" in error
