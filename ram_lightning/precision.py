"""Precision policy: which dtype the rollout's matrix products run in, from ``model.autocast`` and
``trainer.precision``.

Weights stay float32 always. The glimpse and core networks' matrix products run in bfloat16 under the model's own
autocast (``model.autocast``), otherwise in the dtype of the trainer's mixed precision, otherwise in float32.
"""

from __future__ import annotations

import contextlib
from typing import Literal, get_args

import torch
from pytorch_lightning.plugins import Precision
from pytorch_lightning.utilities import rank_zero_warn
from torch.optim import Optimizer

from ram_lightning.errors import ConfigError

Autocast = Literal["auto", "bf16", "off"]
AUTOCAST_SETTINGS = get_args(Autocast)
# float32 weights; the matrix products in float32, or in bfloat16 / float16 under autocast.
SUPPORTED_PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")


def check_autocast(setting: str) -> None:
    """Rejects a ``model.autocast`` that is not one of :data:`AUTOCAST_SETTINGS`."""
    if setting not in AUTOCAST_SETTINGS:
        raise ConfigError(f"model.autocast must be 'auto', 'bf16' or 'off', got {setting!r}")


def check_precision(precision: str) -> None:
    """Rejects a ``trainer.precision`` that does not keep float32 weights and float32 input images.

    In bfloat16 or float16 weights an optimizer step of about ``lr * gradient`` (1e-4 of a weight, or less) is
    rounded away, and the data and the locations are float32 tensors.
    """
    if precision not in SUPPORTED_PRECISIONS:
        raise ConfigError(
            f"trainer.precision={precision} is not supported: RAM trains float32 weights (small REINFORCE updates are "
            "lost in half-precision weights); use bf16-mixed or 16-mixed for lower-precision arithmetic, or 32-true"
        )


def bfloat16_autocast(setting: Autocast, device: torch.device) -> bool:
    """Whether ``autocast`` ``setting`` turns bfloat16 autocast on for ``device``.

    ``"auto"`` does on CPUs with native bfloat16 matrix arithmetic (AVX512-BF16 or AMX), where it is about twice
    as fast as float32; elsewhere bfloat16 is emulated (slower) on CPU, and GPUs are left to the trainer's
    ``precision`` setting.
    """
    if setting == "auto":
        return device.type == "cpu" and _native_cpu_bfloat16()
    return setting == "bf16"


def autocast_context(setting: Autocast, device: torch.device) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on ``device`` if ``setting`` turns it on there; otherwise nothing, so that the trainer's
    ``precision`` (``bf16-mixed``, ``16-mixed``) reaches the model."""
    if not bfloat16_autocast(setting, device):
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def rollout_dtype(precision: str, model_bfloat16: bool) -> str:
    """The dtype of the rollout's matrix products under ``trainer.precision`` and the model's own bfloat16 setting."""
    if model_bfloat16:
        return "bfloat16"
    return {"bf16-mixed": "bfloat16", "16-mixed": "float16"}.get(precision, "float32")


def warn_dtype_changed(trained: str, now: str, precision: str, setting: Autocast) -> None:
    """Says that a resumed training computes the rollout in another dtype (``now``) than its checkpoint
    (``trained``), under ``trainer.precision`` ``precision`` and ``model.autocast`` ``setting``, and how to fix it."""
    rank_zero_warn(
        f"the checkpoint was trained with the rollout's matrix products in {trained}; this run computes them "
        f"in {now} (trainer.precision={precision}, model.autocast={setting}). "
        "Set model.autocast: bf16 or off, or trainer.precision, to train as before"
    )


def grad_scaler(plugin: Precision) -> torch.amp.GradScaler | None:
    """The enabled GradScaler of Lightning's precision ``plugin`` (``16-mixed``), or ``None``."""
    scaler = getattr(plugin, "scaler", None)
    return scaler if scaler is not None and scaler.is_enabled() else None


def clip_unscaled_gradients(plugin: Precision, optimizer: Optimizer, max_norm: float) -> None:
    """Clips the gradient's global norm to ``max_norm``, on unscaled gradients.

    Meant for ``on_before_optimizer_step``: inside ``optimizer.step()``, after Lightning's mixed-precision
    ``plugin`` has unscaled a GradScaler's gradients (``16-mixed``) for ordinary optimizers. Fused ones unscale
    inside their own step, too late for clipping (the plugin refuses to clip them), so their gradients are unscaled
    here; the GradScaler then still skips a step whose gradients overflowed.
    """
    scaler = grad_scaler(plugin)
    if scaler is not None and getattr(optimizer, "_step_supports_amp_scaling", False):
        scaler.unscale_(optimizer)
    plugin.clip_grad_by_norm(optimizer, max_norm)


def _native_cpu_bfloat16() -> bool:
    """The CPU has bfloat16 dot-product instructions (AVX512-BF16) or matrix tiles (AMX)."""
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(cpu, name, lambda: False)() for name in checks)
