"""Base datasets: image folders, the MNIST family offline (Fashion-MNIST from Debian's package), clear data errors."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from PIL import Image
from pytorch_lightning.accelerators import CPUAccelerator, CUDAAccelerator

from ram_lightning.cli import create_cli
from ram_lightning.data import ImageFolderSource, MNISTFamily, RAMDataModule
from ram_lightning.errors import ConfigError, DataError
from ram_lightning.system import RAMSystem

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
COLOURS = {"blue": (0, 0, 255), "green": (0, 255, 0), "red": (255, 0, 0)}


def _write_folder(root: Path, per_class: int = 3, test_classes: tuple[str, ...] = ("blue", "red")) -> Path:
    """``root/train/<colour>/`` and ``root/test/<colour>/``: plain images of each colour, of various sizes and modes."""
    for split, classes in (("train", tuple(COLOURS)), ("test", test_classes)):
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(per_class):
                size = (40 + 10 * index, 30)  # (width, height): not square, not the target size
                image = Image.new("RGB", size, COLOURS[name])
                if index == 1:
                    image = image.convert("RGBA")  # another mode, converted on reading
                image.save(folder / f"{index}.png")
    return root


def test_image_folder_loads_resized_uint8_images_with_the_training_classes(tmp_path: Path) -> None:
    source = ImageFolderSource(_write_folder(tmp_path), channels=3, image_size=16)
    assert (source.num_classes, source.channels, source.image_size) == (3, 3, 16)
    assert source.classes == ["blue", "green", "red"]
    source.prepare()
    train = source.load(train=True)
    assert train.images.shape == (9, 3, 16, 16) and train.images.dtype == torch.uint8
    assert train.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    for image, label in zip(train.images, train.labels, strict=True):
        colour = torch.tensor(COLOURS[source.classes[label]], dtype=torch.uint8)
        assert torch.equal(image, colour[:, None, None].expand(3, 16, 16))
    test = source.load(train=False)  # test/ lacks "green": "red" keeps the index it has in train/
    assert test.labels.tolist() == [0, 0, 0, 2, 2, 2]


def test_image_folder_grayscale_and_aspect_preserving_crop(tmp_path: Path) -> None:
    for split in ("train", "test"):
        for name in ("a", "b"):
            (tmp_path / split / name).mkdir(parents=True)
            image = Image.new("RGB", (60, 20), (255, 255, 255))  # white, with black left and right thirds
            image.paste((0, 0, 0), (0, 0, 20, 20))
            image.paste((0, 0, 0), (40, 0, 60, 20))
            image.save(tmp_path / split / name / ("x.png" if name == "a" else "x.bmp"))
    images = ImageFolderSource(tmp_path, channels=1, image_size=10).load(train=True).images
    assert images.shape == (2, 1, 10, 10)
    # The centre crop of the 30x10 resized image is its white middle third: the black sides were cut away
    # (resampling may blend the outermost columns).
    assert (images[..., 1:-1] == 255).all() and images.float().mean() > 200


def test_data_module_takes_classes_channels_and_size_from_the_folder(tmp_path: Path) -> None:
    root = _write_folder(tmp_path)
    data = RAMDataModule(
        data_dir=str(root), dataset="image_folder", channels=3, resize=20, variant="cluttered", canvas_size=50,
        num_distractors=2, distractor_size=5, val_size=0.25, batch_size=4,
    )  # fmt: skip
    assert (data.num_classes, data.in_channels, data.image_size) == (3, 3, 50)
    data.prepare_data()
    data.setup("fit")
    assert (len(data.train_set), len(data.val_set)) == (7, 2)  # round(0.25 * 9) = 2 held out
    images, labels = data.on_after_batch_transfer(next(iter(data.train_dataloader())), 0)
    assert images.shape == (4, 3, 50, 50) and images.dtype == torch.float32 and 0 <= images.min() <= images.max() <= 1


@pytest.mark.parametrize(
    ("pin_memory", "accelerator", "pinned"),
    [(None, CUDAAccelerator(), True), (None, CPUAccelerator(), False), (False, CUDAAccelerator(), False)],
)
def test_batches_are_pinned_for_a_gpu_unless_set(tmp_path: Path, pin_memory, accelerator, pinned: bool) -> None:
    data = RAMDataModule(
        data_dir=str(_write_folder(tmp_path)), dataset="image_folder", resize=16, val_size=0.25, pin_memory=pin_memory
    )
    # A strategy that broadcasts, for the shuffling seed when no test before this one has set a global seed.
    strategy = SimpleNamespace(broadcast=lambda value, src: value)
    data.trainer = SimpleNamespace(
        accelerator=accelerator, strategy=strategy, world_size=1, global_rank=0, current_epoch=0
    )
    data.setup("fit")
    assert data.train_dataloader().pin_memory is pinned and data.val_dataloader().pin_memory is pinned


def test_cli_links_an_rgb_folder_to_the_model_and_trains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _write_folder(tmp_path / "images", per_class=4, test_classes=tuple(COLOURS))
    monkeypatch.chdir(tmp_path)
    args = [
        "--config", str(CONFIGS / "translated60.yaml"), "--data.dataset", "image_folder", "--data.data_dir", str(root),
        "--data.resize", "24", "--data.canvas_size", "40", "--data.val_size", "3", "--data.batch_size", "4",
        "--model.num_scales", "2", "--trainer.fast_dev_run", "true", "--trainer.default_root_dir", str(tmp_path),
        "--trainer.logger.init_args.save_dir", str(tmp_path / "logs"),
    ]  # fmt: skip
    cli = create_cli(args, run=False)
    model = cli.model
    assert (model.hparams.num_classes, model.hparams.in_channels, model.hparams.image_size) == (3, 3, 40)
    assert model.model.glimpse.what.in_features == 2 * 3 * 12 * 12  # scales * channels * patch**2
    cli.trainer.fit(model, datamodule=cli.datamodule)
    assert cli.trainer.state.finished and "val/acc" in cli.trainer.callback_metrics


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda root: shutil.rmtree(root), "does not exist"),
        (lambda root: shutil.rmtree(root / "train"), "no class folder"),
        (lambda root: shutil.rmtree(root / "test"), "missing folder"),
        (lambda root: [path.unlink() for path in (root / "train" / "green").iterdir()], "green"),
        (lambda root: [path.unlink() for path in (root / "test").glob("*/*")], "no image in"),
        (lambda root: (root / "test" / "purple").mkdir(), "purple"),
        (lambda root: (root / "train" / "red" / "1.png").write_bytes(b"not a png"), "unreadable image .*1.png"),
    ],
)
def test_image_folder_problems_are_clear_data_errors(tmp_path: Path, damage, message: str) -> None:
    root = _write_folder(tmp_path / "images")
    damage(root)
    with pytest.raises(DataError, match=message):
        source = ImageFolderSource(root, channels=3, image_size=8)
        source.prepare()
        source.load(train=True)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"dataset": "cifar"}, "data.dataset"),
        ({"dataset": "image_folder"}, "data.resize"),
        ({"dataset": "image_folder", "resize": 16, "channels": 2}, "data.channels"),
        ({"channels": 3}, "data.channels"),
        ({"resize": 32}, "data.resize"),
        ({"val_size": 0}, "data.val_size"),
        ({"val_size": 1.5}, "data.val_size"),
        ({"batch_size": 0}, "data.batch_size"),
        ({"variant": "translated", "canvas_size": 20}, "data.canvas_size"),
        ({"variant": "cluttered", "canvas_size": 60, "num_distractors": 0}, "data.num_distractors"),
        ({"variant": "cluttered", "canvas_size": 60, "distractor_size": 29}, "data.distractor_size"),
    ],
)
def test_bad_data_options_fail_at_construction_naming_the_key(tmp_path: Path, kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{key}\b"):
        RAMDataModule(data_dir=str(tmp_path), **kwargs)


def test_missing_mnist_family_files_are_listed_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        MNISTFamily("kmnist", tmp_path, download=False).prepare()
    message = str(error.value)
    assert str(tmp_path / "KMNIST" / "raw") in message and message.count("MISSING") == 4
    assert "data.download: true" in message


def _copy_mnist_archives(data_dir: Path, tmp_path: Path) -> Path:
    """Copies the four MNIST archives (not the extracted files) into ``tmp_path/MNIST/raw``; returns that folder."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for path in (data_dir / "MNIST" / "raw").glob("*-ubyte.gz"):
        shutil.copy(path, raw / path.name)
    return raw


def test_mnist_archives_alone_are_checked_and_extracted(tmp_path: Path, data_dir: Path) -> None:
    raw = _copy_mnist_archives(data_dir, tmp_path)
    test = MNISTFamily("mnist", tmp_path, download=False).load(train=False)  # no download: the archives suffice
    assert test.images.shape == (10_000, 1, 28, 28) and test.labels.bincount().tolist()[:2] == [980, 1135]
    assert (raw / "train-images-idx3-ubyte").stat().st_size == 47_040_016
    (raw / "train-images-idx3-ubyte").unlink()
    (raw / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz\s+MISSING"):
        MNISTFamily("mnist", tmp_path, download=False).load(train=True)


def test_corrupt_or_truncated_mnist_files_are_clear_data_errors(tmp_path: Path, data_dir: Path) -> None:
    raw = _copy_mnist_archives(data_dir, tmp_path)
    with gzip.open(raw / "t10k-labels-idx1-ubyte.gz", "rb") as file:  # recompress: same content, other md5
        content = file.read()
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(content[:-100], mtime=0))
    with pytest.raises(DataError, match="corrupt .*t10k-labels-idx1-ubyte.gz"):
        MNISTFamily("mnist", tmp_path).prepare()
    shutil.copy(data_dir / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz", raw)
    MNISTFamily("mnist", tmp_path).prepare()
    (raw / "t10k-labels-idx1-ubyte").write_bytes(content[:-100])  # a truncated extracted file
    with pytest.raises(DataError, match="unreadable"):
        MNISTFamily("mnist", tmp_path).load(train=False)


def test_fashion_mnist_from_the_debian_package_loads(fashion_data_dir: Path) -> None:
    source = MNISTFamily("fashion_mnist", fashion_data_dir, download=False)
    train, test = source.load(train=True), source.load(train=False)
    assert train.images.shape == (60_000, 1, 28, 28) and test.images.shape == (10_000, 1, 28, 28)
    assert train.labels.bincount().tolist() == [6_000] * 10 and test.labels.bincount().tolist() == [1_000] * 10


def test_fashion_mnist_trains_above_chance(fashion_data_dir: Path, tmp_path: Path) -> None:
    pl.seed_everything(0)
    data = RAMDataModule(
        data_dir=str(fashion_data_dir), dataset="fashion_mnist", download=False, batch_size=64, eval_batch_size=250,
        val_size=500,
    )  # fmt: skip
    system = RAMSystem(
        num_classes=data.num_classes, in_channels=data.in_channels, image_size=data.image_size, num_glimpses=2,
        patch_size=8, num_scales=3, hidden_size=128, optimizer=lambda params: torch.optim.Adam(params, lr=3e-3),
    )  # fmt: skip
    trainer = pl.Trainer(
        max_epochs=1, limit_train_batches=60, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a small model: one thread is fastest, and immune to other processes on the cores
    try:
        trainer.fit(system, datamodule=data)
    finally:
        torch.set_num_threads(threads)
    # 10 balanced classes: chance is 0.1; 60 steps reach 0.55-0.65 (seeds 0-3).
    assert trainer.callback_metrics["val/acc"] > 0.4
