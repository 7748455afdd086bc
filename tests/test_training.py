"""A short real training on real MNIST learns."""

from pathlib import Path

import pytest

from ram_lightning.cli import create_cli

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_short_mnist_training_reaches_90_percent_validation_accuracy(data_dir, tmp_path):
    args = ["fit", "--config", str(REPO_ROOT / "configs" / "mnist.yaml"), "--data.data_dir", str(data_dir)]
    args += ["--data.download", "false", "--data.eval_batch_size", "1000"]
    args += ["--trainer.logger.init_args.save_dir", str(tmp_path), "--trainer.enable_progress_bar", "false"]
    args += ["--trainer.limit_val_batches", "2", "--trainer.num_sanity_val_steps", "0"]  # 2,000 validation images
    # The paper's network with a second, 16x16 retina scale learns within two epochs.
    cli = create_cli([*args, "--trainer.max_epochs", "2", "--model.num_scales", "2"])
    metrics = cli.trainer.callback_metrics
    assert cli.trainer.current_epoch == 2
    assert metrics["val/acc"] >= 0.90, f"validation accuracy {float(metrics['val/acc']):.3f} after 2 epochs"
    assert metrics["val/err"] == pytest.approx(1 - metrics["val/acc"])
