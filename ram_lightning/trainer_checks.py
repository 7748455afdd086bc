"""Trainer settings that RAMSystem checks before it runs."""

from __future__ import annotations

from pytorch_lightning.strategies import DDPStrategy, Strategy

from ram_lightning.errors import ConfigError

# float32 weights; the matrix products in float32, or in bfloat16 / float16 under autocast.
SUPPORTED_PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")


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


def rollout_dtype(precision: str, model_bfloat16: bool) -> str:
    """The dtype of the rollout's matrix products under ``trainer.precision`` and the model's own bfloat16 setting."""
    if model_bfloat16:
        return "bfloat16"
    return {"bf16-mixed": "bfloat16", "16-mixed": "float16"}.get(precision, "float32")


def check_ddp_unused_parameters(strategy: Strategy, unused: list[str]) -> None:
    """Rejects DDP that does not look for unused parameters when ``unused`` (settings that leave parameters without a
    gradient, each named with them) is not empty: DDP would stop at the second step."""
    if not unused or not isinstance(strategy, DDPStrategy):
        return
    if getattr(strategy, "_ddp_kwargs", {}).get("find_unused_parameters", False):
        return
    raise ConfigError(
        f"{'; '.join(unused)}: parameters without a gradient stop plain DDP at its second step; "
        "set trainer.strategy: ddp_find_unused_parameters_true"
    )
