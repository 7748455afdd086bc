"""The checks of RAMSystem's own options: its training and evaluation settings, beside the model's."""

from __future__ import annotations

from typing import Any

from ram_lightning.errors import ConfigError
from ram_lightning.precision import check_autocast
from ram_lightning.retina import Retina


def check_system_options(options: dict[str, Any], baseline: str, retina: Retina) -> None:
    """Rejects training and evaluation settings that cannot train, and an ``image_size`` the glimpses do not fit,
    naming the key (``model.<key>``); the model's own options are checked by the networks that use them."""
    for key in ("reinforce_weight", "baseline_weight", "per_step_weight"):
        if options[key] < 0:
            raise ConfigError(f"model.{key} must be >= 0, got {options[key]}")
    check_autocast(options["autocast"])
    if options["train_samples"] < 1:
        raise ConfigError(f"model.train_samples must be >= 1, got {options['train_samples']}")
    if baseline == "leave_one_out" and options["train_samples"] < 2:
        raise ConfigError(
            "model.baseline=leave_one_out averages the rewards of an image's other rollouts, so it needs "
            f"model.train_samples >= 2, got {options['train_samples']}"
        )
    if options["eval_samples"] < 0:
        raise ConfigError(f"model.eval_samples must be >= 0, got {options['eval_samples']}")
    if options["gradient_clip_norm"] is not None and not options["gradient_clip_norm"] > 0:
        raise ConfigError(f"model.gradient_clip_norm must be > 0 or null, got {options['gradient_clip_norm']}")
    for key in ("optimizer", "lr_scheduler"):
        factory = options[key]
        if factory is not None and not callable(factory):
            raise ConfigError(
                f"model.{key} must be a callable that builds it from the parameters (optimizer) or the optimizer "
                f"(scheduler), e.g. functools.partial(torch.optim.Adam, lr=1e-3); got the {type(factory).__name__} "
                f"{factory!r}. A {{class_path, init_args}} mapping works in a YAML config or on the command line."
            )
    image = options["image_size"]
    if image < 1:
        raise ConfigError(f"model.image_size must be >= 1, got {image}")
    if retina.patch_size > image:
        raise ConfigError(
            f"model.patch_size={retina.patch_size} is larger than the {image}x{image} image; use a smaller patch_size"
        )
    if retina.largest_size > 2 * image:
        raise ConfigError(
            f"the largest glimpse patch is {retina.largest_size}px "
            "(model.patch_size * model.scale_factor ** (model.num_scales - 1)), "
            f"more than twice the {image}px image: lower model.num_scales, model.patch_size or model.scale_factor"
        )
