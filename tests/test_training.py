"""A short real training on real MNIST learns."""

from pathlib import Path

import pytest

from ram_lightning.cli import create_cli

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_short_mnist_training_reaches_90_percent_validation_accuracy(data_dir, tmp_path):
    cli = create_cli(
        [
            "fit",
            "--config",
            str(REPO_ROOT / "configs" / "mnist.yaml"),
            "--data.data_dir",
            str(data_dir),
            "--data.download",
            "false",
            "--data.eval_batch_size",
            "1000",
            "--trainer.logger.init_args.save_dir",
            str(tmp_path),
            "--trainer.enable_progress_bar",
            "false",
            "--trainer.max_epochs",
            "3",
            "--trainer.limit_val_batches",
            "2",  # 2,000 validation images
            "--trainer.num_sanity_val_steps",
            "0",
        ]
    )
    metrics = cli.trainer.callback_metrics
    assert cli.trainer.current_epoch == 3
    assert metrics["val/acc"] >= 0.90, f"validation accuracy {float(metrics['val/acc']):.3f} after 3 epochs"
    assert metrics["val/err"] == pytest.approx(1 - metrics["val/acc"])
