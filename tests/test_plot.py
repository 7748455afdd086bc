"""The ram-plot command: PNG files and a GIF from the checkpoint of a short `ram fit`, one-line errors otherwise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ram_lightning.cli import main as ram_main
from ram_lightning.plot import build_datamodule, load_images
from ram_lightning.plot import main as plot_main
from ram_lightning.viz import step_color

NUM_GLIMPSES = 3


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, data_dir):
    """``last.ckpt`` of a two-batch `ram fit` on real MNIST with a small model."""
    root = tmp_path_factory.mktemp("fit")
    ram_main(
        [
            "fit",
            f"--trainer.default_root_dir={root}",
            "--trainer.max_epochs=1",
            "--trainer.limit_train_batches=2",
            "--trainer.limit_val_batches=1",
            "--trainer.logger=false",
            f"--checkpoint.dirpath={root / 'ckpt'}",
            f"--data.data_dir={data_dir}",
            "--data.download=false",
            "--data.batch_size=16",
            f"--model.num_glimpses={NUM_GLIMPSES}",
            "--model.hidden_size=32",
            "--model.glimpse_size=32",
            "--model.glimpse_hidden=16",
            "--model.location_hidden=16",
        ]
    )
    return root / "ckpt" / "last.ckpt"


def test_plot_writes_pngs_and_a_gif(checkpoint, data_dir, tmp_path, capsys):
    out = tmp_path / "plots"
    plot_main(["--ckpt", str(checkpoint), "--num-images", "5", "--out", str(out), "--data-dir", str(data_dir)])
    singles = sorted(out.glob("trajectory_*.png"))
    assert [path.name for path in singles] == [f"trajectory_{i:03d}.png" for i in range(5)]
    datamodule = build_datamodule(torch.load(checkpoint, weights_only=True), checkpoint, str(data_dir))
    images, _ = load_images(datamodule, "test", 5)  # (5, 1, 28, 28) in [0, 1]
    for path, image in zip(singles, images, strict=True):
        with Image.open(path) as single:
            picture = torch.from_numpy(np.array(single.convert("RGB"))).permute(2, 0, 1)  # (3, H, W) uint8
        assert picture.shape[-1] == 28 * 6  # 28 px magnified 6 times, a caption band below
        # The test image itself, magnified, under the few pixels the glimpse boxes, path and numbers cover.
        expected = (image * 255).round().to(torch.uint8).repeat_interleave(6, -1).repeat_interleave(6, -2)
        assert (picture[:, : 28 * 6] == expected).all(dim=0).float().mean() > 0.8
        colours = {tuple(pixel) for pixel in picture.flatten(1).T.tolist()}
        assert all(step_color(t) in colours for t in range(NUM_GLIMPSES)), "each glimpse is drawn in its colour"
        assert step_color(NUM_GLIMPSES) not in colours, "and no other glimpse"
    with Image.open(out / "trajectories.png") as grid, Image.open(out / "trajectories.gif") as gif:
        assert gif.n_frames == NUM_GLIMPSES  # one more glimpse per frame
        assert gif.size == grid.size
        frames = []
        for index in range(gif.n_frames):
            gif.seek(index)
            frames.append(np.array(gif.convert("RGB")))
    assert not any(np.array_equal(a, b) for a, b in zip(frames[:-1], frames[1:], strict=True)), "each adds a glimpse"
    with Image.open(out / "glimpses.png") as strip:
        # One column per glimpse, one row per image: 8x8 patches magnified 5 times, 4 px gaps and a 16 px header.
        assert strip.size == (NUM_GLIMPSES * (40 + 4) + 4, 16 + 5 * (40 + 4) + 4)
    assert str(out / "trajectories.gif") in capsys.readouterr().out


def plot_error(capsys, ckpt, tmp_path):
    """Runs ram-plot expecting failure; returns the message it printed."""
    with pytest.raises(SystemExit) as exit_info:
        plot_main(["--ckpt", str(ckpt), "--out", str(tmp_path / "plots")])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1 and message.startswith("error: ")
    assert not (tmp_path / "plots").exists()
    return message


def test_missing_checkpoint(tmp_path, capsys):
    assert "checkpoint not found" in plot_error(capsys, tmp_path / "missing.ckpt", tmp_path)


def test_file_that_is_not_a_checkpoint(tmp_path, capsys):
    bogus = tmp_path / "config.yaml"
    bogus.write_text("model:\n  num_glimpses: 6\n")
    assert "is not a PyTorch checkpoint" in plot_error(capsys, bogus, tmp_path)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda ckpt: ckpt["hyper_parameters"].update(hidden_size=64), "weights do not fit"),
        (lambda ckpt: ckpt["hyper_parameters"].update(num_scales=9), "model config does not fit"),
        (lambda ckpt: ckpt["hyper_parameters"].update(glimpse_units=3), "model config does not fit"),
        (lambda ckpt: ckpt["datamodule_hyper_parameters"].update(canvas_size=60), "data config does not fit"),
        (
            lambda ckpt: ckpt["datamodule_hyper_parameters"].update(variant="translated", canvas_size=60),
            "expects 1x28px images but its data config gives 1x60px",
        ),
        (lambda ckpt: ckpt.pop("datamodule_hyper_parameters"), "no saved data config"),
        (lambda ckpt: ckpt.pop("state_dict"), "not a Lightning checkpoint"),
    ],
    ids=["shapes", "bad-value", "unknown-key", "bad-data", "other-image-size", "no-data-config", "no-weights"],
)
def test_incompatible_checkpoint(checkpoint, tmp_path, capsys, change, expected):
    content = torch.load(checkpoint, map_location="cpu", weights_only=True)
    change(content)
    edited = tmp_path / "edited.ckpt"
    torch.save(content, edited)
    assert expected in plot_error(capsys, edited, tmp_path)
