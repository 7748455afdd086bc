"""Same seed, same results; an interrupted and resumed run ends where the uninterrupted one does."""

from pathlib import Path

import torch

from ram_lightning.cli import create_cli
from ram_lightning.data import RAMDataModule
from ram_lightning.data.dataset import CanvasDataset

REPO_ROOT = Path(__file__).resolve().parent.parent


def _fit(data_dir: Path, log_dir: Path, max_epochs: int, *extra: str):
    return create_cli(
        [
            "fit",
            "--config",
            str(REPO_ROOT / "configs" / "mnist.yaml"),
            "--data.data_dir",
            str(data_dir),
            "--data.download",
            "false",
            "--data.batch_size",
            "64",
            "--model.train_samples",  # Monte-Carlo training, with the config's leave-one-out baseline
            "4",
            "--trainer.logger.init_args.save_dir",
            str(log_dir),
            "--trainer.enable_progress_bar",
            "false",
            "--trainer.enable_model_summary",
            "false",
            "--trainer.limit_train_batches",
            "8",
            "--trainer.limit_val_batches",
            "2",
            "--trainer.max_epochs",
            str(max_epochs),
            *extra,
        ]
    )


def _weights(checkpoint_path: Path) -> dict[str, torch.Tensor]:
    return torch.load(checkpoint_path, weights_only=False)["state_dict"]


def test_two_runs_with_the_same_seed_are_equal(data_dir, tmp_path):
    first = _fit(data_dir, tmp_path / "a", 2)
    second = _fit(data_dir, tmp_path / "b", 2)
    assert first.trainer.callback_metrics["val/acc"] == second.trainer.callback_metrics["val/acc"]
    assert first.trainer.callback_metrics["train/loss"] == second.trainer.callback_metrics["train/loss"]
    a = _weights(tmp_path / "a" / "mnist" / "version_0" / "checkpoints" / "last.ckpt")
    b = _weights(tmp_path / "b" / "mnist" / "version_0" / "checkpoints" / "last.ckpt")
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_resumed_run_equals_uninterrupted_run(data_dir, tmp_path):
    uninterrupted = _fit(data_dir, tmp_path / "full", 3)
    _fit(data_dir, tmp_path / "part", 2)
    part_ckpt = tmp_path / "part" / "mnist" / "version_0" / "checkpoints" / "last.ckpt"
    resumed = _fit(data_dir, tmp_path / "part", 3, "--ckpt_path", str(part_ckpt))

    full_metrics, resumed_metrics = uninterrupted.trainer.callback_metrics, resumed.trainer.callback_metrics
    for key in ("val/acc", "train/loss", "train/reward"):
        assert torch.allclose(full_metrics[key], resumed_metrics[key], rtol=0, atol=1e-6), key
    full = _weights(tmp_path / "full" / "mnist" / "version_0" / "checkpoints" / "last.ckpt")
    after = _weights(tmp_path / "part" / "mnist" / "version_1" / "checkpoints" / "last.ckpt")
    for key in full:
        assert torch.allclose(full[key], after[key], rtol=0, atol=1e-6), key


def test_monte_carlo_evaluation_is_seeded_by_dataset_index_and_leaves_the_training_stream_alone():
    from ram_lightning.system import RAMSystem

    system = RAMSystem(eval_samples=4, std=0.3, init_location="random", autocast="off").eval()
    images, indices = torch.rand(16, 1, 28, 28), torch.arange(100, 116)
    torch.manual_seed(0)
    first = system(images, indices)
    after_first = torch.rand(1)
    torch.manual_seed(1)  # another global stream: the evaluation must not depend on it
    assert torch.equal(system(images, indices), first)
    # Other batches, in another order: each image keeps its noise.
    order = torch.randperm(16)
    split = torch.cat([system(images[order[:5]], indices[order[:5]]), system(images[order[5:]], indices[order[5:]])])
    torch.testing.assert_close(split, first[order], rtol=0, atol=1e-5)
    assert not torch.allclose(system(images, indices + 16), first, atol=1e-3), "each index draws its own noise"
    torch.manual_seed(0)
    assert torch.equal(torch.rand(1), after_first), "the global stream is where it was before the evaluation"


def test_without_a_seed_runs_shuffle_differently(monkeypatch):
    def epoch_order(data: RAMDataModule) -> list[int]:
        data.train_set = CanvasDataset(torch.zeros(100, 1, 28, 28, dtype=torch.uint8), torch.zeros(100), data.canvas)
        return list(data.train_dataloader().sampler)

    monkeypatch.delenv("PL_GLOBAL_SEED", raising=False)  # seed_everything: false
    run = RAMDataModule(download=False)
    assert epoch_order(run) == epoch_order(run), "a run keeps its seed"
    assert epoch_order(RAMDataModule(download=False)) != epoch_order(run), "another run shuffles otherwise"
    monkeypatch.setenv("PL_GLOBAL_SEED", "7")
    assert epoch_order(RAMDataModule(download=False)) == epoch_order(RAMDataModule(download=False))
