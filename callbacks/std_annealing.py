"""StdAnnealingOnPlateau: shrink the location policy's standard deviation when learning gets stuck."""

from __future__ import annotations

import math
from typing import Any, Literal

import pytorch_lightning as pl
from pytorch_lightning.trainer.states import TrainerFn
from pytorch_lightning.utilities import rank_zero_info
from typing_extensions import override

from callbacks._policy import check_single_std_controller, policy_std, set_policy_std
from ram_lightning.errors import ConfigError

Mode = Literal["min", "max"]


class StdAnnealingOnPlateau(pl.Callback):
    """Multiplies the policy std by ``factor`` after ``patience`` checks without improvement of ``monitor``.

    Modelled on Lightning's ``EarlyStopping``: the metric is checked at the end of every training epoch (after its
    validation), or after every validation run when validation does not run exactly once per epoch. A check
    improves when the metric beats the best value so far by more than ``min_delta``; otherwise it counts as a wait.
    When ``patience`` waits have accumulated, ``model.policy.std`` becomes ``max(std * factor, min_std)``, the
    waits restart from zero and ``cooldown`` checks pass before waits count again. With ``patience: 3`` and a
    metric that stops improving after epoch ``e``, the std changes at the end of epoch ``e + 3`` and is used from
    epoch ``e + 4`` on. The std is logged as ``policy/std`` at every epoch start by ``RAMSystem``.

    The std is a buffer of the model, so checkpoints save it; this callback's counters are saved too
    (``state_dict``), so a resumed run continues the same count. Under DDP every process takes rank zero's
    decision (its counters are broadcast), so the std stays identical on all processes.

    Args:
        monitor: logged metric to watch, e.g. ``val/acc`` or ``val/err``.
        mode: ``"max"`` if a higher value is better, ``"min"`` if lower is better.
        factor: multiplier of the std at each reduction, in ``(0, 1)``.
        patience: checks without improvement before the std is reduced (at least 1).
        min_delta: smallest change of the metric that counts as an improvement (``>= 0``).
        min_std: the std is never reduced below this value (``> 0``).
        cooldown: checks after a reduction during which waits are not counted.
        verbose: print a line at each reduction.
    """

    controls_policy_std = True

    def __init__(
        self,
        monitor: str = "val/acc",
        mode: Mode = "max",
        factor: float = 0.5,
        patience: int = 5,
        min_delta: float = 0.0,
        min_std: float = 0.01,
        cooldown: int = 0,
        verbose: bool = True,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if mode not in ("min", "max"):
            raise ConfigError(f"{name}.mode must be 'min' or 'max', got {mode!r}")
        if not 0.0 < factor < 1.0:
            raise ConfigError(f"{name}.factor must be in (0, 1), got {factor}")
        if patience < 1:
            raise ConfigError(f"{name}.patience must be >= 1, got {patience}")
        if min_delta < 0:
            raise ConfigError(f"{name}.min_delta must be >= 0, got {min_delta}")
        if not min_std > 0:
            raise ConfigError(f"{name}.min_std must be > 0, got {min_std}")
        if cooldown < 0:
            raise ConfigError(f"{name}.cooldown must be >= 0, got {cooldown}")
        self.monitor = monitor
        self.mode = mode
        self.factor = factor
        self.patience = patience
        self.min_delta = min_delta
        self.min_std = min_std
        self.cooldown = cooldown
        self.verbose = verbose
        self.best_score = -math.inf if mode == "max" else math.inf
        self.wait_count = 0
        self.cooldown_counter = 0
        self.num_reductions = 0
        self._check_on_train_epoch_end: bool | None = None

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(monitor=self.monitor, mode=self.mode)

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        policy_std(pl_module, type(self).__name__)
        check_single_std_controller(trainer, self)
        # As EarlyStopping: check after validation unless it runs exactly once at the end of every epoch.
        self._check_on_train_epoch_end = trainer.val_check_interval == 1.0 and trainer.check_val_every_n_epoch == 1

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._check_on_train_epoch_end and not self._should_skip(trainer):
            self._check(trainer, pl_module)

    @override
    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._check_on_train_epoch_end and not self._should_skip(trainer):
            self._check(trainer, pl_module)

    @override
    def state_dict(self) -> dict[str, Any]:
        return {
            "best_score": self.best_score,
            "wait_count": self.wait_count,
            "cooldown_counter": self.cooldown_counter,
            "num_reductions": self.num_reductions,
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_score = float(state_dict["best_score"])
        self.wait_count = int(state_dict["wait_count"])
        self.cooldown_counter = int(state_dict["cooldown_counter"])
        self.num_reductions = int(state_dict["num_reductions"])

    def is_improvement(self, current: float) -> bool:
        """Whether ``current`` beats the best value by more than ``min_delta`` (``NaN`` never does)."""
        if math.isnan(current):
            return False
        if self.mode == "max":
            return current > self.best_score + self.min_delta
        return current < self.best_score - self.min_delta

    def step(self, current: float) -> bool:
        """Counts one check of the metric; returns whether the std must be reduced now."""
        if self.is_improvement(current):
            self.best_score = current
            self.wait_count = 0
        elif self.cooldown_counter > 0:
            self.wait_count = 0
        else:
            self.wait_count += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
        if self.wait_count < self.patience:
            return False
        self.wait_count = 0
        self.cooldown_counter = self.cooldown
        self.num_reductions += 1
        return True

    def _should_skip(self, trainer: pl.Trainer) -> bool:
        return trainer.state.fn != TrainerFn.FITTING or trainer.sanity_checking or bool(trainer.fast_dev_run)

    def _check(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = trainer.callback_metrics
        if self.monitor not in metrics:
            available = ", ".join(sorted(metrics)) or "none"
            raise ConfigError(
                f"{type(self).__name__}.monitor={self.monitor!r} was not logged (logged: {available}); "
                "set monitor to one of these"
            )
        current = float(metrics[self.monitor])
        old_std = float(policy_std(pl_module, type(self).__name__))
        reduce = self.step(current)
        new_std = max(old_std * self.factor, self.min_std) if reduce else old_std
        # Rank zero decides: every process takes its counters and std, so all of them stay identical.
        state, new_std = trainer.strategy.broadcast((self.state_dict(), new_std), src=0)
        self.load_state_dict(state)
        if not math.isclose(new_std, old_std, rel_tol=1e-6):  # the buffer is float32: min_std is not exact
            set_policy_std(pl_module, new_std, type(self).__name__)
            if self.verbose:
                rank_zero_info(
                    f"{type(self).__name__}: {self.monitor} has not improved for {self.patience} checks "
                    f"(best {self.best_score:.4f}); policy std {old_std:.4g} -> {new_std:.4g}"
                )
