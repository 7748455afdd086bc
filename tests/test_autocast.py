"""bfloat16 autocast: what the setting turns on, and that it stays close to float32."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import TensorBoardLogger
from pytorch_lightning.plugins import MixedPrecision
from tiny_training import ToyData, tiny_system, tiny_trainer

from ram_lightning import precision as precision_policy
from ram_lightning.errors import ConfigError
from ram_lightning.losses import hybrid_loss
from ram_lightning.model import RAMOutput, RecurrentAttention
from ram_lightning.precision import bfloat16_autocast
from ram_lightning.system import RAMSystem

SMALL = {"glimpse_hidden": 32, "location_hidden": 32, "glimpse_size": 64, "hidden_size": 64}


@pytest.mark.parametrize(
    ("avx512_bf16", "amx", "native"), [(False, False, False), (True, False, True), (False, True, True)]
)
def test_setting(monkeypatch: pytest.MonkeyPatch, avx512_bf16: bool, amx: bool, native: bool):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert bfloat16_autocast("auto", cpu) == native, "auto: on exactly on CPUs with native bfloat16"
    assert not bfloat16_autocast("auto", cuda), "GPUs are left to the trainer's precision"
    assert bfloat16_autocast("bf16", cpu) and bfloat16_autocast("bf16", cuda)
    assert not bfloat16_autocast("off", cpu) and not bfloat16_autocast("off", cuda)
    with pytest.raises(ConfigError, match="model.autocast"):
        RAMSystem(autocast="fp8")


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="reads the CPU flags from Linux's /proc/cpuinfo")
def test_auto_follows_the_cpu_flags():
    flags = {flag for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")
             for flag in line.split(":", 1)[1].split()}  # fmt: skip
    assert bfloat16_autocast("auto", torch.device("cpu")) == bool(flags & {"avx512_bf16", "amx_bf16"})


def _gradients(fused: bool, autocast: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Final log-probabilities and gradients of a 1-glimpse model (no policy: locations cannot diverge)."""
    torch.manual_seed(0)
    model = RecurrentAttention(num_glimpses=1, fused_rollout=fused, **SMALL)
    generator = torch.Generator().manual_seed(1)
    images, targets = torch.rand(32, 1, 28, 28, generator=generator), torch.randint(0, 10, (32,), generator=generator)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        output = model(images)
    hybrid_loss(output, targets).total.backward()
    return output.log_probs[:, -1], {name: p.grad for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("fused", [True, False])
def test_bfloat16_stays_close_to_float32(fused: bool):
    reference, reference_grads = _gradients(fused=False, autocast=False)
    log_probs, grads = _gradients(fused=fused, autocast=True)
    assert log_probs.dtype == torch.float32, "the heads run in float32"
    float32, _ = _gradients(fused=fused, autocast=False)
    assert (log_probs - float32).abs().max() > 1e-4, "autocast changed nothing but float32 rounding"
    torch.testing.assert_close(log_probs, reference, atol=0.03, rtol=0.0)
    assert grads.keys() == reference_grads.keys()
    for name, grad in grads.items():
        reference_grad = reference_grads[name].flatten()
        if reference_grad.abs().max() == 0:  # e.g. the "where" weights, for the first glimpse at the centre (0, 0)
            assert grad.abs().max() == 0, name
            continue
        assert torch.nn.functional.cosine_similarity(grad.flatten(), reference_grad, dim=0) > 0.99, name


def _rollout(fused: bool, core_type: str, dtype: torch.dtype | None) -> tuple[RAMOutput, torch.Tensor]:
    """Output and gradient (all parameters, flat) of a 4-glimpse, 2-scale model under ``dtype`` autocast (``None``:
    float32)."""
    torch.manual_seed(0)
    model = RecurrentAttention(
        num_glimpses=4, patch_size=6, num_scales=2, core_type=core_type, fused_rollout=fused, **SMALL
    )
    with torch.no_grad():  # locations that do not hang on how the core state was rounded: the same in both rollouts
        model.policy.mean.weight.zero_()
    generator = torch.Generator().manual_seed(1)
    images, targets = torch.rand(32, 1, 28, 28, generator=generator), torch.randint(0, 10, (32,), generator=generator)
    torch.manual_seed(2)
    with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        output = model(images)
    hybrid_loss(output, targets, per_step_weight=0.5).total.backward()
    return output, torch.cat([parameter.grad.flatten() for parameter in model.parameters()])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bfloat16", "float16"])
@pytest.mark.parametrize("core_type", ["rnn", "lstm"])
def test_fused_rollout_is_as_accurate_as_plain_under_autocast(core_type: str, dtype: torch.dtype):
    """Several glimpses, as the shipped models were trained (the cluttered ones: fused, LSTM, bfloat16), and float16
    (16-mixed on a GPU) through the hand-written backward."""
    _, reference = _rollout(False, core_type, None)
    plain, plain_grad = _rollout(False, core_type, dtype)
    fused, fused_grad = _rollout(True, core_type, dtype)
    assert torch.equal(fused.locations, plain.locations)
    torch.testing.assert_close(fused.log_probs, plain.log_probs, atol=0.03, rtol=0.0)
    torch.testing.assert_close(fused.log_pi, plain.log_pi, atol=1e-5, rtol=0.0)
    # The gradient's error against float32, relative to its norm: autocast's own (plain, 1e-4 to 3e-3 here) and the
    # fused rollout's. A bug in the fused backward (e.g. 20% off in the recurrence) makes its error 2-25 times larger.
    plain_error = (plain_grad - reference).norm() / reference.norm()
    assert plain_error > 0, "autocast changed nothing"
    assert (fused_grad - reference).norm() / reference.norm() < 2 * plain_error
    assert (fused_grad - plain_grad).norm() / plain_grad.norm() < 2 * plain_error


def test_system_autocast_setting_reaches_the_model():
    images, targets = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    losses = {}
    for setting in ("off", "bf16"):
        torch.manual_seed(0)
        system = RAMSystem(num_glimpses=2, autocast=setting, **SMALL)
        torch.manual_seed(1)
        losses[setting] = system.training_loss(images, targets)[1].classification
    assert losses["off"] != losses["bf16"]
    torch.testing.assert_close(losses["bf16"], losses["off"], atol=0.05, rtol=0.0)


class AutocastProbe(pl.Callback):
    """Records the CPU autocast state (enabled, dtype) inside the model's forward during training."""

    def __init__(self) -> None:
        self.states: list[tuple[bool, torch.dtype]] = []

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        def record(module: torch.nn.Module, args: tuple) -> None:
            self.states.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))

        pl_module.model.register_forward_pre_hook(record)


@pytest.mark.parametrize("setting", ["off", "auto"])
@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_the_model_setting_leaves_the_trainer_precision_alone(tmp_path, precision: str, setting: str):
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}[precision]
    if setting == "auto" and bfloat16_autocast("auto", torch.device("cpu")):
        dtype = torch.bfloat16  # "auto" asks for bfloat16 on this CPU: it wins over the trainer's dtype
    plugin = MixedPrecision(precision, "cpu", torch.amp.GradScaler("cpu") if precision == "16-mixed" else None)
    probe = AutocastProbe()
    trainer = tiny_trainer(tmp_path, [probe], 1, limit_val_batches=0, plugins=[plugin])
    trainer.fit(tiny_system(autocast=setting), ToyData())
    assert probe.states and set(probe.states) == {(True, dtype)}


def _fit_on_a_machine(tmp_path, monkeypatch, native_bfloat16: bool, epochs: int, ckpt_path=None) -> list[str]:
    """Fits a tiny ``autocast: auto`` system on a CPU with or without native bfloat16, resuming from ``ckpt_path``;
    returns the warnings' messages."""
    monkeypatch.setattr(precision_policy, "_native_cpu_bfloat16", lambda: native_bfloat16)
    checkpoint = ModelCheckpoint(dirpath=tmp_path, filename="last")
    logger = TensorBoardLogger(tmp_path, name="run")
    trainer = tiny_trainer(tmp_path, [checkpoint], epochs, logger, limit_val_batches=0, enable_checkpointing=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(tiny_system(autocast="auto"), ToyData(), ckpt_path=ckpt_path)
    return [str(warning.message) for warning in caught]


def test_a_resumed_run_says_when_its_precision_differs_from_the_checkpoint(tmp_path, monkeypatch):
    _fit_on_a_machine(tmp_path, monkeypatch, native_bfloat16=True, epochs=1)
    assert "rollout_dtype: bfloat16" in (tmp_path / "run" / "version_0" / "hparams.yaml").read_text()
    last = tmp_path / "last.ckpt"
    assert torch.load(last, weights_only=True)["rollout_dtype"] == "bfloat16"
    same = _fit_on_a_machine(tmp_path, monkeypatch, native_bfloat16=True, epochs=2, ckpt_path=last)
    assert not [message for message in same if "rollout" in message]
    other = _fit_on_a_machine(tmp_path, monkeypatch, native_bfloat16=False, epochs=3, ckpt_path=last)
    expected = "trained with the rollout's matrix products in bfloat16; this run computes them in float32"
    assert [message for message in other if expected in message]
