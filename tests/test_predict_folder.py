"""Predicting on a folder of the user's own image files: conversion, resizing, the output rows, and bad inputs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from PIL import Image

from ram_lightning import RAMSystem
from ram_lightning.cli import main
from ram_lightning.data import load_mnist_family
from ram_lightning.data.image_files import ImageFileDataset
from ram_lightning.errors import DataError
from ram_lightning.plot import evaluation_rollout
from ram_lightning.plot import main as plot_main

REPO_ROOT = Path(__file__).resolve().parent.parent
NUM_DIGITS = 12


def _save(pixels: torch.Tensor, path: Path, mode: str = "L", size: int | None = None) -> None:
    """Saves a ``(28, 28)`` uint8 digit as grayscale or RGB, optionally enlarged to ``size x size``."""
    image = Image.fromarray(pixels.numpy(), mode="L")
    if size is not None:
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    image.convert(mode).save(path)


@pytest.fixture(scope="module")
def digits(data_dir, tmp_path_factory) -> tuple[Path, dict[str, int], torch.Tensor]:
    """A folder of MNIST test digits as PNG files: a third grayscale, a third RGB, a third enlarged to 56x56 or
    to 90x90 (RGB), plus a text file and a sub-folder that are not images.

    Returns:
        The folder, the label of each file, and the original digits ``(N, 28, 28)`` uint8.
    """
    folder = tmp_path_factory.mktemp("digits")
    test = load_mnist_family("mnist", data_dir, train=False, download=False)
    originals = test.images[:NUM_DIGITS, 0]  # (N, 28, 28)
    labels = {}
    for i in range(NUM_DIGITS):
        kind = ("gray", "rgb", "large")[i % 3]
        name = f"digit_{i:02d}_{kind}.png"
        if kind == "large":
            _save(originals[i], folder / name, mode="RGB" if i % 2 else "L", size=90 if i % 2 else 56)
        else:
            _save(originals[i], folder / name, mode="RGB" if kind == "rgb" else "L")
        labels[name] = int(test.labels[i])
    (folder / "notes.txt").write_text("not an image")
    (folder / "more").mkdir()
    _save(originals[0], folder / "more" / "ignored.png")
    return folder, labels, originals


def _predict(folder: Path, output: Path, *extra: str) -> None:
    main(
        [
            "predict",
            "--pretrained",
            "mnist",
            "--data.predict_dir",
            str(folder),
            "--prediction.output",
            str(output),
            "--trainer.enable_progress_bar",
            "false",
            "--trainer.enable_model_summary",
            "false",
            *extra,
        ]
    )


def test_images_are_converted_and_resized_to_the_model_input(digits):
    folder, labels, originals = digits
    dataset = ImageFileDataset(folder, channels=1, size=28)
    assert dataset.names == sorted(labels), "image files only, sorted, sub-folders not read"
    assert dataset.images.shape == (NUM_DIGITS, 1, 28, 28) and dataset.images.dtype == torch.uint8
    assert torch.equal(dataset.labels, torch.full((NUM_DIGITS,), -1))
    for i, name in enumerate(dataset.names):
        if "large" in name:  # resized back from 56 or 90 pixels: close to the digit, not equal
            difference = (dataset.images[i, 0].float() - originals[i].float()).abs().mean()
            assert difference < 12, f"{name}: mean difference {difference:.1f} of 255"
        else:  # grayscale as it is; RGB grey converts back to exactly the same pixels
            assert torch.equal(dataset.images[i, 0], originals[i]), name
    rgb = ImageFileDataset(folder, channels=3, size=40)
    assert rgb.images.shape == (NUM_DIGITS, 3, 40, 40)
    assert torch.equal(rgb.images[:, 0], rgb.images[:, 2]), "grey images become three equal channels"


@pytest.fixture(scope="module")
def folder_rows(digits, tmp_path_factory) -> list[dict[str, str]]:
    """The rows `ram predict` writes for the digits folder, run from an empty working directory."""
    work = tmp_path_factory.mktemp("work")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        _predict(digits[0], work / "out" / "digits.csv")
    assert sorted(path.name for path in work.iterdir()) == ["out"], "nothing written but the predictions"
    with (work / "out" / "digits.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_predict_on_a_folder_writes_a_row_per_file(digits, folder_rows):
    _, labels, _ = digits
    rows = folder_rows
    assert [row["file"] for row in rows] == sorted(labels)
    assert [int(row["index"]) for row in rows] == list(range(NUM_DIGITS))
    assert all(row["label"] == "" for row in rows), "the files have no labels"
    correct = sum(int(row["pred"]) == labels[row["file"]] for row in rows)
    assert correct >= NUM_DIGITS - 1, f"only {correct} of {NUM_DIGITS} digits recognised"
    for row in rows:
        assert 0.1 < float(row["prob"]) <= 1.0
        for t in range(1, 7):
            assert 0.0 <= float(row[f"x{t}_px"]) <= 28.0 and 0.0 <= float(row[f"y{t}_px"]) <= 28.0


def test_plot_draws_the_rollouts_that_predict_reports(digits, folder_rows, tmp_path):
    folder, _, _ = digits
    ckpt = REPO_ROOT / "results" / "mnist" / "model.ckpt"
    plot_main(
        ["--ckpt", str(ckpt), "--images", str(folder), "--evaluation", "--num-images", "4", "--out", str(tmp_path)],
    )
    assert len(list(tmp_path.glob("trajectory_*.png"))) == 4
    with Image.open(tmp_path / "trajectories.png") as grid:
        assert grid.width > 2 * 28

    images = ImageFileDataset(folder, channels=1, size=28).images.float() / 255.0  # the folder is predict's batch
    rollout = evaluation_rollout(RAMSystem.from_pretrained("mnist"), images)
    assert rollout.preds.tolist() == [int(row["pred"]) for row in folder_rows]
    reported = torch.tensor([[float(row[f"{axis}{t}"]) for t in range(1, 7) for axis in "xy"] for row in folder_rows])
    assert torch.allclose(rollout.locations.reshape(len(folder_rows), -1), reported, atol=1e-5)


def _error_line(capsys) -> str:
    """The one ``error:`` line printed by the command, after checking that no traceback was printed."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err[-2000:]
    return lines[0]


def _nothing(folder: Path) -> None:
    pass


def _text_only(folder: Path) -> None:
    (folder / "readme.md").write_text("hello")


def _broken(folder: Path) -> None:
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but not really")


def _transparent(folder: Path) -> None:
    Image.new("RGBA", (28, 28), (255, 255, 255, 0)).save(folder / "logo.png")


def _cmyk(folder: Path) -> None:
    Image.new("CMYK", (30, 30)).save(folder / "print.jpg")


@pytest.mark.parametrize(
    ("make", "messages"),
    [
        (_nothing, ["no image in"]),
        (_text_only, ["no image in", "(1 files of other types)"]),
        (_broken, ["unreadable image", "broken.png", "delete or replace it"]),
        (_transparent, ["logo.png has 4-channel RGBA pixels", "grayscale (1 channel)", "without transparency"]),
        (_cmyk, ["print.jpg has 4-channel CMYK pixels", "save it as 8-bit grayscale or RGB"]),
    ],
)
def test_bad_folders_fail_with_one_line(digits, tmp_path, capsys, make, messages):
    folder = tmp_path / "images"
    folder.mkdir()
    make(folder)
    if make not in (_nothing, _text_only):
        _save(digits[2][0], folder / "good.png")  # one good image beside the bad one
    output = tmp_path / "out.csv"
    with pytest.raises(SystemExit) as exit_info:
        _predict(folder, output)
    assert exit_info.value.code == 2
    line = _error_line(capsys)
    for message in messages:
        assert message in line
    assert not output.exists()


def test_a_missing_folder_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        _predict(tmp_path / "nowhere", tmp_path / "out.csv")
    assert f"{tmp_path / 'nowhere'} is not a folder" in _error_line(capsys)


def test_unreadable_file_error_names_the_file(tmp_path):
    _broken(tmp_path)
    with pytest.raises(DataError, match="broken.png"):
        ImageFileDataset(tmp_path, channels=3, size=16)
