"""RAMSystem: the LightningModule that trains RecurrentAttention with the hybrid loss (manual optimization)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from pytorch_lightning.trainer.states import TrainerFn
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torchmetrics.classification import MulticlassAccuracy

from ram_lightning.checkpoint import fit_to_model, load_init_weights
from ram_lightning.cpu_threads import share_cpu_cores
from ram_lightning.diagnostics import AttentionDiagnostics
from ram_lightning.divergence import FailedSteps, raise_if_diverged
from ram_lightning.errors import ConfigError
from ram_lightning.evaluation import EvalBatch, evaluate, require_indices, sample_ids, split_batch
from ram_lightning.losses import LossTerms, hybrid_loss
from ram_lightning.metric_logging import log_accuracy, log_loss_terms, logger_writes
from ram_lightning.model import RAMOutput, RecurrentAttention
from ram_lightning.modules import RunningMeanBaseline
from ram_lightning.precision import (
    Autocast,
    autocast_context,
    bfloat16_autocast,
    check_precision,
    clip_unscaled_gradients,
    grad_scaler,
    rollout_dtype,
    warn_dtype_changed,
)
from ram_lightning.system_options import check_system_options
from ram_lightning.trainer_checks import check_ddp_unused_parameters, settings_without_gradient


class RAMSystem(pl.LightningModule):
    """Trains :class:`RecurrentAttention` on ``(images (B, C, H, W), labels (B,))`` batches.

    One manual optimization step per batch on the hybrid loss: cross-entropy for the action, core and glimpse
    networks, REINFORCE with baseline for the location policy, squared error for the learned baseline.
    Evaluation follows the policy mean (``eval_samples: 0``) or averages the class probabilities of ``eval_samples``
    sampled rollouts, whose noise is seeded by each image's dataset index (evaluation batches carry the indices), so
    that an error depends neither on the evaluation batch size, nor on the number of processes, nor on the device.

    Args:
        image_size: side of the images the model sees (linked from the data); checks the glimpse geometry.
        reinforce_weight: weight of the REINFORCE term.
        baseline_weight: weight of the baseline regression term.
        per_step_weight: weight of the classification after the earlier glimpses (0: last glimpse only).
        train_samples: rollouts ``M`` of each training image per step, run as one batch of ``B * M`` episodes;
            the classification and REINFORCE terms average over all of them.
        eval_samples: ``0`` evaluates with the policy mean; ``M > 0`` averages the class probabilities of ``M``
            sampled rollouts.
        gradient_clip_norm: clip the gradient's global norm to this value (``None``: no clipping).
        init_weights: a checkpoint whose weights a new training starts from (fine-tuning, or continuing a finished
            run with a new schedule): the optimizer, schedule and epochs start afresh and ``std`` stays as
            configured. Ignored when a run is resumed with ``--ckpt_path``.
        autocast: run the glimpse and core networks' matrix products in bfloat16 (``torch.autocast``) for training
            and evaluation: ``"bf16"``, ``"off"``, or ``"auto"``: on CPUs with native bfloat16 arithmetic
            (AVX512-BF16 or AMX), off elsewhere. Locations, the policy and the heads stay in float32. ``"off"`` (and
            ``"auto"`` where it is off) adds no autocast of its own: the trainer's ``precision`` applies
            (see :mod:`ram_lightning.precision`).
        optimizer: optimizer factory, e.g. ``torch.optim.SGD`` with its arguments, from the config.
        lr_scheduler: optional scheduler factory, stepped once per epoch (``ReduceLROnPlateau``: after each
            validation, on its ``val/err``).
        **model_options: the options of :class:`RecurrentAttention` (``num_glimpses``, ``patch_size``, ``std``...),
            described there; they are flat ``model.<name>`` options in the configs and saved hyperparameters.
    """

    def __init__(
        self,
        image_size: int = 28,
        reinforce_weight: float = 1.0,
        baseline_weight: float = 1.0,
        per_step_weight: float = 0.0,
        train_samples: int = 1,
        eval_samples: int = 0,
        gradient_clip_norm: float | None = None,
        init_weights: str | None = None,
        autocast: Autocast = "auto",
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        **model_options: Any,
    ) -> None:
        super().__init__()
        # The command line finds the model's options in this call of RecurrentAttention(**model_options) (jsonargparse
        # reads this method's source): pass model_options, or one of its items, to no other call.
        try:
            self.model = RecurrentAttention(**model_options)
        except ValueError as error:  # the message starts with the option's name
            raise ConfigError(f"model.{error}") from error
        # Every model option, the defaults included, so that the saved hyperparameters are complete.
        model_options = RecurrentAttention.options(model_options)
        num_classes, num_glimpses = model_options["num_classes"], model_options["num_glimpses"]
        baseline = model_options["baseline"]
        check_system_options(locals(), baseline, self.model.retina)
        self.save_hyperparameters(ignore=["optimizer", "lr_scheduler"])
        self.automatic_optimization = False
        # Public switch for callbacks (random-glimpse pretraining): False leaves the baseline untouched, with no
        # loss term (so no gradient and no optimizer step) and no running-mean update.
        self.train_baseline = True
        self.failed_steps = FailedSteps()
        # The dtype of the rollout's matrix products, resolved from the settings and the machine by setup().
        self.rollout_dtype: str | None = None
        self.optimizer_factory = optimizer
        self.scheduler_factory = lr_scheduler
        self.train_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_diagnostics = AttentionDiagnostics(num_glimpses)
        self.test_diagnostics = AttentionDiagnostics(num_glimpses)

    @classmethod
    def from_pretrained(cls, name: str) -> RAMSystem:
        """A model shipped in ``results/<name>/`` (``"mnist"``, ``"translated60"``, ``"cluttered60"``,
        ``"cluttered100"``), with its weights and its config (``hparams``), in evaluation mode on the CPU.

        Raises:
            ConfigError: no shipped model has that name; the message lists those that exist.
        """
        from ram_lightning.pretrained import load_pretrained  # it builds this class: imported when called

        return load_pretrained(name)

    def forward(self, images: Tensor, indices: Tensor | None = None) -> Tensor:
        """``images`` ``(B, C, H, W)`` -> final class log-probabilities ``(B, num_classes)`` (evaluation mode).

        ``indices`` ``(B,)``: the images' dataset indices, which seed each image's Monte-Carlo noise; ``None`` draws
        it from the global random stream.
        """
        return self._predict(images, indices)[0]

    def training_loss(self, images: Tensor, targets: Tensor) -> tuple[RAMOutput, LossTerms]:
        """``train_samples`` sampled rollouts of each of ``images`` ``(B, C, H, W)``, and their hybrid loss against
        ``targets`` ``(B,)``. The output has ``B * M`` episodes, the ``M`` of each image contiguous."""
        samples = self.hparams.train_samples
        with self._autocast():
            output = self.model(images, sample=True, samples_per_image=samples)
        terms = hybrid_loss(
            output,
            targets.repeat_interleave(samples) if samples > 1 else targets,
            reinforce_weight=self.hparams.reinforce_weight,
            baseline_weight=self.hparams.baseline_weight if self.train_baseline else 0.0,
            per_step_weight=self.hparams.per_step_weight,
            leave_one_out_samples=samples if self.hparams.baseline == "leave_one_out" else None,
        )
        return output, terms

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        images, targets = batch
        step = self.global_step  # before the optimizer step moves it
        write_logs = logger_writes(self.trainer, batch_idx)
        output, terms = self.training_loss(images, targets)
        targets = targets.repeat_interleave(self.hparams.train_samples)  # (B * M,): one per episode
        # Checked on the host only when the logger writes (it reads the values then anyway), and before a checkpoint
        # is saved: a check at every step would make the host wait for the device at every step. Without a
        # GradScaler a step fails on a non-finite loss, caught before it reaches the weights; under one, when the
        # scaler skips it (a non-finite loss or gradients), which shows once the step has run.
        scaler = grad_scaler(self.trainer.precision_plugin)
        if scaler is None:
            self.failed_steps.update(~torch.isfinite(terms.total.detach()), step)
        if write_logs:
            raise_if_diverged(self.failed_steps, self.trainer, self.current_epoch, terms)
        optimizer = self.optimizers()
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(terms.total)
        scale = None if scaler is None else scaler._scale.clone()  # set by the backward's scaling (private API)
        optimizer.step()  # clips the gradients first: on_before_optimizer_step
        if scale is not None:
            self.failed_steps.update(scaler._scale < scale, step)  # a skipped step halves the scale
        if self.train_baseline:
            self.model.baseline.update(self._baseline_rewards(terms.reward))

        # Each self.log costs Lightning about as much as a tenth of this whole step: the step's terms are logged
        # only when the logger writes them, the epoch's accuracy once, at its end.
        self.train_acc.update(output.log_probs[:, -1].detach(), targets)
        if write_logs:
            log_loss_terms(self, terms)
        return terms.total.detach()

    def _baseline_rewards(self, reward: Tensor) -> Tensor:
        """The batch's mean ``reward`` ``()`` for the baseline's update; for a running-mean baseline under DDP, every
        process's ``(world_size,)``, so that all processes' rewards count (and every process keeps the same mean)."""
        if isinstance(self.model.baseline, RunningMeanBaseline) and self.trainer.world_size > 1:
            return self.all_gather(reward)
        return reward

    def setup(self, stage: str) -> None:
        """Checks the trainer's precision, and for training under DDP that every parameter gets a gradient (or that
        DDP looks for those that do not); resolves the dtype the rollout computes in (``model.autocast: auto``
        depends on the CPU); on CPU with several processes, gives each process its share of the cores (no
        oversubscription)."""
        precision = self.trainer.precision
        check_precision(precision)
        if stage == "fit":
            check_ddp_unused_parameters(self.trainer.strategy, settings_without_gradient(self.hparams))
        self.rollout_dtype = rollout_dtype(
            precision, bfloat16_autocast(self.hparams.autocast, self.trainer.strategy.root_device)
        )
        share_cpu_cores(self.trainer)

    def on_before_optimizer_step(self, optimizer: Optimizer) -> None:
        """Clips the gradient's global norm to ``gradient_clip_norm``, on unscaled gradients (also under a
        GradScaler and with fused optimizers: :func:`~ram_lightning.precision.clip_unscaled_gradients`)."""
        if self.hparams.gradient_clip_norm is not None:
            clip_unscaled_gradients(self.trainer.precision_plugin, optimizer, self.hparams.gradient_clip_norm)

    def on_fit_start(self) -> None:
        """Records the rollout's dtype with the run's hyperparameters; loads ``init_weights`` into a new training (not
        into a resumed one, whose checkpoint has its own)."""
        if self.logger is not None:
            self.logger.log_hyperparams({"rollout_dtype": self.rollout_dtype})
        path = self.hparams.init_weights
        if path is None or self.trainer.ckpt_path is not None:
            return
        load_init_weights(self, path)

    def on_train_epoch_start(self) -> None:
        # The same value on every process: sync_dist only tells Lightning so (no DDP warning), at one reduction.
        self.log("policy/std", self.model.policy.std, on_step=False, on_epoch=True, sync_dist=True)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=False, on_epoch=True, sync_dist=True)

    def on_train_epoch_end(self) -> None:
        self.log("train/acc", self.train_acc.compute(), sync_dist=True)  # compute() gathered all processes
        self.train_acc.reset()
        scheduler = self.lr_schedulers()
        if scheduler is not None and not isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step()

    def validation_step(self, batch: EvalBatch, batch_idx: int) -> None:
        self._evaluation_step(batch, batch_idx, self.val_acc, self.val_diagnostics)

    def on_validation_epoch_end(self) -> None:
        accuracy = log_accuracy(self, "val", self.val_acc)
        self.log_dict(self.val_diagnostics.compute("val"), sync_dist=True)
        scheduler = self.lr_schedulers()
        if isinstance(scheduler, ReduceLROnPlateau) and not self.trainer.sanity_checking:
            scheduler.step(1.0 - accuracy)  # on each fresh validation error, never a stale one

    def test_step(self, batch: EvalBatch, batch_idx: int) -> None:
        self._evaluation_step(batch, batch_idx, self.test_acc, self.test_diagnostics)

    def on_test_epoch_end(self) -> None:
        log_accuracy(self, "test", self.test_acc)
        self.log_dict(self.test_diagnostics.compute("test"), sync_dist=True)

    def predict_step(self, batch: EvalBatch, batch_idx: int) -> dict[str, Tensor]:
        """Returns ``preds`` ``(B,)``, their probabilities ``probs`` ``(B,)``, ``targets`` ``(B,)`` (``-1``: no label)
        and glimpse ``locations`` ``(B, T, 2)``, as evaluation computes them.

        With ``eval_samples: M > 0`` the class is the argmax of the mean of the ``M`` rollouts' class probabilities,
        ``probs`` that mean, and the locations are those of the first rollout.
        """
        images, targets, indices = split_batch(batch)
        log_probs, locations = self._predict(images, require_indices(indices, self.hparams.eval_samples))
        preds = log_probs.argmax(dim=-1)
        probs = log_probs.float().exp().gather(1, preds[:, None]).squeeze(1)
        return {"preds": preds, "probs": probs, "targets": targets, "locations": locations}

    def _evaluation_step(
        self, batch: EvalBatch, batch_idx: int, accuracy: MulticlassAccuracy, diagnostics: AttentionDiagnostics
    ) -> None:
        """Updates a stage's accuracy (the configured protocol) and its diagnostics. The policy-mean rollout the
        diagnostics run is also the one-rollout protocol's prediction: with ``eval_samples: 0`` it is made once."""
        images, targets, indices = split_batch(batch)
        with self._autocast():
            mean_log_probs = diagnostics.update(self.model, images, targets, sample_ids(indices, batch_idx, images))
        final = mean_log_probs[:, -1] if self.hparams.eval_samples == 0 else self._evaluate(images, indices)
        accuracy.update(final, targets)

    def _evaluate(self, images: Tensor, indices: Tensor | None) -> Tensor:
        """Final class log-probabilities ``(B, num_classes)`` of an evaluation batch, reproducibly."""
        return self(images, require_indices(indices, self.hparams.eval_samples))

    def _predict(self, images: Tensor, indices: Tensor | None) -> tuple[Tensor, Tensor]:
        """Final class log-probabilities ``(B, num_classes)`` and locations ``(B, T, 2)`` in evaluation mode (see
        :func:`~ram_lightning.evaluation.evaluate`)."""
        with self._autocast():
            return evaluate(self.model, images, indices, self.hparams.eval_samples)

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.scheduler_factory(optimizer)}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuses to save weights trained on failed steps (one device-to-host read); records the rollout's
        dtype (not among ``hyper_parameters``, which the CLI reads back as model arguments)."""
        raise_if_diverged(self.failed_steps, self.trainer, self.current_epoch, None)
        checkpoint["rollout_dtype"] = self.rollout_dtype

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Rejects a checkpoint whose tensors do not fit this model, naming the keys and shapes; a configured ``std``
        other than the checkpoint's replaces its policy std (see :func:`~ram_lightning.checkpoint.fit_to_model`);
        says so when a resumed training computes in another dtype than the checkpoint's."""
        fit_to_model(checkpoint, self.state_dict(), self.hparams.std)
        trained, now = checkpoint.get("rollout_dtype"), self.rollout_dtype  # now: None before setup (no trainer)
        if trained and now and trained != now and self.trainer.state.fn == TrainerFn.FITTING:
            warn_dtype_changed(trained, now, self.trainer.precision, self.hparams.autocast)

    def _autocast(self) -> AbstractContextManager:
        """The model's own bfloat16 autocast on this module's device, if ``autocast`` asks for it there."""
        return autocast_context(self.hparams.autocast, self.device)
