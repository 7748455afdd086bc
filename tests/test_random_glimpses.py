"""RandomGlimpsePretraining: random locations and a frozen policy during the phase, a learning policy after it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.cli import instantiate_class
from pytorch_lightning.strategies import DDPStrategy
from tiny_training import MemoryLogger, ToyData, tiny_system, tiny_trainer

from callbacks import RandomGlimpsePretraining
from ram_lightning.errors import ConfigError

OPTIMIZERS = {
    "adam": {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.01}},
    "sgd_momentum": {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}},
}


def optimizer_factory(name):
    return lambda params: instantiate_class(params, OPTIMIZERS[name])


class Probe(pl.Callback):
    """Records, for every training batch, whether the policy was consulted and the glimpse locations used;
    and copies of the policy and baseline parameters at the start and after every training epoch."""

    def __init__(self):
        self.policy_called: list[bool] = []  # one per training batch
        self.locations: list[torch.Tensor] = []  # (B, T, 2) per training batch
        self.policy: list[list[torch.Tensor]] = []  # parameters at fit start, then after each epoch
        self.baseline: list[list[torch.Tensor]] = []

    def on_fit_start(self, trainer, pl_module):
        model = pl_module.model
        model.policy.register_forward_hook(lambda *_: self._mark_called(model))
        model.register_forward_hook(lambda module, args, output: self._keep_locations(module, output))
        self._snapshot(pl_module)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.policy_called.append(False)

    def on_train_epoch_end(self, trainer, pl_module):
        self._snapshot(pl_module)

    def _mark_called(self, model):
        if model.training:
            self.policy_called[-1] = True

    def _keep_locations(self, model, output):
        if model.training:
            self.locations.append(output.locations.detach().clone())

    def _snapshot(self, pl_module):
        self.policy.append([p.detach().clone() for p in pl_module.model.policy.parameters()])
        self.baseline.append([b.detach().clone() for b in pl_module.model.baseline.state_dict().values()])


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_policy_frozen_and_locations_uniform_during_phase_then_policy_trains(tmp_path, optimizer):
    probe = Probe()
    logger = MemoryLogger()
    system = tiny_system(optimizer=optimizer_factory(optimizer))
    trainer = tiny_trainer(tmp_path, [RandomGlimpsePretraining(epochs=2), probe], 3, logger, limit_train_batches=3)
    trainer.fit(system, ToyData())

    # Phase (epochs 0-1): the policy is never consulted and its parameters do not move, while the rest learns.
    assert probe.policy_called == [False] * 6 + [True] * 3
    assert same(probe.policy[0], probe.policy[1]) and same(probe.policy[1], probe.policy[2])
    assert not torch.equal(system.model.glimpse.what.weight, tiny_system().model.glimpse.what.weight)
    # After it (epoch 2) the policy trains.
    assert not same(probe.policy[2], probe.policy[3])

    # Locations used in the phase, the first glimpse included, are spread uniformly over [-1, 1]^2.
    phase = torch.cat(probe.locations[:6]).reshape(-1, 2)  # (6 * B * T, 2)
    assert (torch.cat(probe.locations[:6])[:, 0] != 0).all()  # the policy would start at the centre
    for coordinate in phase.T:
        assert coordinate.min() < -0.9 and coordinate.max() > 0.9
        quarters = torch.histc(coordinate, bins=4, min=-1.0, max=1.0) / coordinate.numel()
        assert ((quarters > 0.15) & (quarters < 0.35)).all(), quarters
    # After the phase the policy's glimpses start at the centre again.
    assert (torch.cat(probe.locations[6:])[:, 0] == 0).all()
    assert logger.series("policy/random_glimpses") == [1.0, 1.0, 0.0]
    assert system.model.random_glimpses is False


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_momentum_of_earlier_steps_does_not_move_the_policy_once_glimpses_are_random(tmp_path, optimizer):
    """The policy's .grad stays None during random glimpses, so optimizers skip it despite their momentum.

    The switch happens inside an epoch: Lightning sets gradients to None before each validation, which would
    hide a zero (rather than None) gradient at an epoch boundary.
    """

    class RandomFromStepTwo(pl.Callback):
        def __init__(self):
            self.policy = []  # policy parameters after each training batch

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            pl_module.model.random_glimpses = trainer.global_step >= 2

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.policy.append([p.detach().clone() for p in pl_module.model.policy.parameters()])

    recorder = RandomFromStepTwo()
    system = tiny_system(optimizer=optimizer_factory(optimizer))
    trainer = tiny_trainer(tmp_path, [recorder], 1, limit_train_batches=4, limit_val_batches=0)
    trainer.fit(system, ToyData())

    state = trainer.optimizers[0].state[system.model.policy.mean.weight]
    momentum = state["momentum_buffer"] if "momentum_buffer" in state else state["exp_avg"]
    assert momentum.abs().sum() > 0  # steps 0 and 1 left momentum behind
    assert not same(recorder.policy[0], recorder.policy[1])  # the policy learned at step 1
    assert same(recorder.policy[1], recorder.policy[2]) and same(recorder.policy[2], recorder.policy[3])
    assert system.model.policy.mean.weight.grad is None


def test_phase_in_steps(tmp_path):
    probe = Probe()
    trainer = tiny_trainer(tmp_path, [RandomGlimpsePretraining(steps=3), probe], 3)
    trainer.fit(tiny_system(), ToyData())
    assert probe.policy_called == [False] * 3 + [True] * 3


def test_resume_in_the_middle_of_the_phase(tmp_path):
    first = tiny_trainer(tmp_path, [RandomGlimpsePretraining(epochs=2)], 1)
    first.fit(tiny_system(), ToyData())
    ckpt = tmp_path / "epoch1.ckpt"
    first.save_checkpoint(ckpt)

    probe, pretraining = Probe(), RandomGlimpsePretraining(epochs=2)
    system = tiny_system()
    tiny_trainer(tmp_path, [pretraining, probe], 3).fit(system, ToyData(), ckpt_path=ckpt)
    assert probe.policy_called == [False] * 2 + [True] * 2  # epoch 1 still random, epoch 2 the policy
    assert same(probe.policy[0], probe.policy[1]) and not same(probe.policy[1], probe.policy[2])
    assert pretraining.handed_over


@pytest.mark.parametrize("baseline", ["learned", "running_mean"])
@pytest.mark.parametrize("train_baseline", [True, False])
def test_baseline_trains_during_the_phase_only_if_asked(tmp_path, baseline, train_baseline):
    probe = Probe()
    system = tiny_system(baseline=baseline, optimizer=optimizer_factory("sgd_momentum"))
    callback = RandomGlimpsePretraining(epochs=1, train_baseline=train_baseline)
    tiny_trainer(tmp_path, [callback, probe], 1).fit(system, ToyData())
    assert same(probe.baseline[0], probe.baseline[1]) != train_baseline
    assert system.train_baseline is True  # switched back after training


def test_arguments_and_ddp_checks():
    with pytest.raises(ConfigError, match="either epochs or steps"):
        RandomGlimpsePretraining(epochs=1, steps=10)
    with pytest.raises(ConfigError, match="RandomGlimpsePretraining.epochs"):
        RandomGlimpsePretraining(epochs=-1)
    assert RandomGlimpsePretraining().epochs == 1
    callback = RandomGlimpsePretraining()
    fake_trainer = SimpleNamespace(strategy=DDPStrategy(find_unused_parameters=False))
    with pytest.raises(ConfigError, match="ddp_find_unused_parameters_true"):
        callback.setup(fake_trainer, tiny_system(), "fit")
    callback.setup(SimpleNamespace(strategy=DDPStrategy(find_unused_parameters=True)), tiny_system(), "fit")
