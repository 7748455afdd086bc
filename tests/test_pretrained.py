"""Shipped models by name: RAMSystem.from_pretrained and the command line's --pretrained."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from ram_lightning import RAMSystem
from ram_lightning.cli import main
from ram_lightning.data import load_mnist_family
from ram_lightning.errors import ConfigError
from ram_lightning.pretrained import available_models, expand_pretrained

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("cluttered100", "cluttered60", "mnist", "translated60")
# Model input of each shipped experiment: canvas side.
CANVAS = {"mnist": 28, "translated60": 60, "cluttered60": 60, "cluttered100": 100}


def test_every_shipped_experiment_is_available_by_name():
    assert tuple(available_models()) == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_from_pretrained_returns_the_shipped_model_with_its_config(name):
    system = RAMSystem.from_pretrained(name)
    folder = REPO_ROOT / "results" / name
    config = yaml.safe_load((folder / "config.yaml").read_text())["model"]
    assert isinstance(system, RAMSystem) and not system.training
    for key in ("num_glimpses", "patch_size", "num_scales", "core_type", "eval_samples", "init_location"):
        assert system.hparams[key] == config[key], key
    assert (system.hparams.image_size, system.hparams.in_channels, system.hparams.num_classes) == (CANVAS[name], 1, 10)
    weights = torch.load(folder / "model.ckpt", weights_only=True)["state_dict"]
    for key, value in system.state_dict().items():
        assert torch.equal(value, weights[key]), key
    images = torch.zeros(2, 1, CANVAS[name], CANVAS[name])
    assert system(images).shape == (2, 10)


def test_from_pretrained_model_recognises_test_digits(data_dir):
    system = RAMSystem.from_pretrained("mnist")
    test = load_mnist_family("mnist", data_dir, train=False, download=False)
    images, labels = test.images[:200].float() / 255.0, test.labels[:200]
    batch = (images, labels, torch.arange(200))  # the indices seed Monte-Carlo evaluation, if the model uses it
    prediction = system.predict_step(batch, 0)
    assert (prediction["preds"] == labels).float().mean() >= 0.97
    assert torch.equal(system.predict_step(batch, 0)["probs"], prediction["probs"]), "deterministic"


def test_an_unknown_name_lists_the_available_models():
    with pytest.raises(ConfigError, match="unknown pretrained model 'mnsit'; available: cluttered100, cluttered60"):
        RAMSystem.from_pretrained("mnsit")


def test_the_option_becomes_the_shipped_config_and_checkpoint_in_place():
    folder = REPO_ROOT / "results" / "translated60"
    shipped = ["--config", str(folder / "config.yaml"), "--ckpt_path", str(folder / "model.ckpt")]
    shipped += ["--trainer.logger", "false"]
    for option in (["--pretrained", "translated60"], ["--pretrained=translated60"]):
        args = ["predict", *option, "--data.eval_batch_size", "8"]
        assert expand_pretrained(args) == ["predict", *shipped, "--data.eval_batch_size", "8"]
    assert expand_pretrained(["test", "--config", "x.yaml"]) == ["test", "--config", "x.yaml"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fit", "--pretrained", "mnist"], "--pretrained loads a shipped model for predict, test, validate"),
        (["--pretrained", "mnist", "predict"], "put it after one of them"),
        (["predict", "--pretrained"], "--pretrained needs a model name; available: cluttered100"),
        (["predict", "--pretrained", "imagenet"], "unknown pretrained model 'imagenet'; available: cluttered100"),
    ],
)
def test_bad_uses_of_the_option_fail_with_one_line(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert message in err
