"""RecurrentAttention: the RAM model unrolled over a fixed number of glimpses."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor, nn

from ram_lightning.modules import (
    ActionNetwork,
    Activation,
    CoreNetwork,
    CoreType,
    GlimpseNetwork,
    LearnedBaseline,
    LeaveOneOutBaseline,
    LocationPolicy,
    RunningMeanBaseline,
)
from ram_lightning.noise import RolloutNoise, check_noise, uniform_locations
from ram_lightning.retina import Retina
from ram_lightning.rollout import RolloutSpec, fused_rollout, rollout_weights

InitLocation = Literal["random", "center"]
BaselineType = Literal["learned", "running_mean", "leave_one_out"]
BASELINES = ("learned", "running_mean", "leave_one_out")


class RAMOutput(NamedTuple):
    """What one rollout of ``T`` glimpses produces for a batch of ``B`` images and ``C`` classes.

    Attributes:
        log_probs: ``(B, T, C)`` class log-probabilities after each glimpse; the prediction is ``log_probs[:, -1]``.
        locations: ``(B, T, 2)`` where each glimpse was taken, ``(x, y)`` in ``[-1, 1]``.
        log_pi: ``(B, T)`` log-density of each location under the policy; ``0`` where the location was not
            chosen by the policy (the first glimpse, random glimpses).
        baselines: ``(B, T)`` baseline ``b_t`` for the decision of location ``t``, from the state before it.
    """

    log_probs: Tensor
    locations: Tensor
    log_pi: Tensor
    baselines: Tensor


class RecurrentAttention(nn.Module):
    """Recurrent Attention Model (Mnih, Heess, Graves & Kavukcuoglu, NIPS 2014).

    At step ``t`` the glimpse network reads the image at ``l_t``, the core updates ``h_{t+1}``, and the policy picks
    ``l_{t+1}`` from ``h_{t+1}``. After the last glimpse the action network classifies.

    Under ``torch.autocast`` the glimpse network and the core run in the lower precision; the policy (hence the
    locations), the action network and the baseline stay in full precision.

    Its arguments are the model's options, ``model.<name>`` in the configs (:class:`~ram_lightning.system.RAMSystem`
    passes them on):

    Args:
        num_classes: number of classes ``C`` (linked from the data).
        in_channels: image channels (linked from the data).
        num_glimpses: glimpses per image ``T``.
        patch_size: side of the finest retina patch.
        num_scales: retina patches per glimpse.
        scale_factor: width ratio of consecutive retina patches.
        glimpse_hidden: units of the glimpse network's "what" layer.
        location_hidden: units of the glimpse network's "where" layer.
        glimpse_size: units of the glimpse vector ``g``.
        hidden_size: units of the core state ``h``.
        core_type: ``"rnn"`` or ``"lstm"``.
        activation: ``"relu"`` or ``"tanh"`` (``rnn`` core).
        std: initial standard deviation of the location policy (in units of the half-width of the image).
        tanh_mean: squash the policy mean with ``tanh``.
        clamp_mean: clamp the policy mean to ``[-1, 1]`` instead (exclusive with ``tanh_mean``).
        detach_policy_input: the policy sees a detached core state ``h_t`` (REINFORCE trains only the policy);
            ``False`` lets REINFORCE train the core and the glimpse network too.
        init_location: first glimpse at the ``"center"``, or at a uniformly ``"random"`` location when sampling
            (deterministic evaluation then starts at the centre, so that it stays deterministic).
        baseline: ``"learned"`` (``b_t`` from ``h_t``), ``"running_mean"`` (moving average of the reward) or
            ``"leave_one_out"`` (the mean reward of the same image's other rollouts, computed by the loss; needs
            ``train_samples >= 2``).
        baseline_momentum: update weight of the ``running_mean`` baseline.
        fused_rollout: unroll the glimpses as one autograd node with a batched backward
            (:func:`~ram_lightning.rollout.fused_rollout`: same outputs and gradients, faster); ``False`` records
            every operation with autograd (the reference implementation).
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        num_glimpses: int = 6,
        patch_size: int = 8,
        num_scales: int = 1,
        scale_factor: float = 2.0,
        glimpse_hidden: int = 128,
        location_hidden: int = 128,
        glimpse_size: int = 256,
        hidden_size: int = 256,
        core_type: CoreType = "rnn",
        activation: Activation = "relu",
        std: float = 0.1,
        tanh_mean: bool = True,
        clamp_mean: bool = False,
        detach_policy_input: bool = True,
        init_location: InitLocation = "center",
        baseline: BaselineType = "learned",
        baseline_momentum: float = 0.05,
        fused_rollout: bool = True,
    ) -> None:
        super().__init__()
        sizes = {
            "num_glimpses": num_glimpses,
            "in_channels": in_channels,
            "glimpse_hidden": glimpse_hidden,
            "location_hidden": location_hidden,
            "glimpse_size": glimpse_size,
            "hidden_size": hidden_size,
        }
        for name, size in sizes.items():
            if size < 1:
                raise ValueError(f"{name} must be >= 1, got {size}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if init_location not in ("random", "center"):
            raise ValueError(f"init_location must be 'random' or 'center', got {init_location!r}")
        if baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}")
        self.num_glimpses = num_glimpses
        self.init_location = init_location
        self.detach_policy_input = detach_policy_input
        self.fused_rollout = fused_rollout
        # Set by the random-glimpse pretraining callback: glimpse at uniformly random locations.
        self.random_glimpses = False

        self.retina = Retina(patch_size, num_scales, scale_factor)
        self.glimpse = GlimpseNetwork(self.retina, in_channels, glimpse_hidden, location_hidden, glimpse_size)
        self.core = CoreNetwork(glimpse_size, hidden_size, core_type, activation)
        self.policy = LocationPolicy(hidden_size, std, tanh_mean, clamp_mean)
        self.action = ActionNetwork(hidden_size, num_classes)
        self.baseline: LearnedBaseline | RunningMeanBaseline | LeaveOneOutBaseline
        if baseline == "learned":
            self.baseline = LearnedBaseline(hidden_size)
        elif baseline == "running_mean":
            self.baseline = RunningMeanBaseline(baseline_momentum)
        else:
            self.baseline = LeaveOneOutBaseline()

    @classmethod
    def options(cls, given: Mapping[str, Any]) -> dict[str, Any]:
        """Every option of the model: the ``given`` ones, and the defaults of the others (``TypeError`` for a name
        that is not an option)."""
        bound = inspect.signature(cls).bind(**given)
        bound.apply_defaults()
        return dict(bound.arguments)

    def forward(
        self, images: Tensor, sample: bool = True, samples_per_image: int = 1, noise: RolloutNoise | None = None
    ) -> RAMOutput:
        """Unrolls ``T`` glimpses, ``M = samples_per_image`` times per image, as one batch of ``B * M`` episodes.

        Args:
            images: ``(B, C_in, H_img, W_img)`` images.
            sample: draw locations from the policy (training, Monte-Carlo evaluation); otherwise follow its mean.
            samples_per_image: rollouts ``M`` of each image; episode ``b * M + m`` is the ``m``-th of image ``b``.
                The images are indexed, not copied, by the fused rollout.
            noise: the randomness of the ``B * M`` episodes (see :meth:`draw_noise`); ``None`` draws it from the
                global random stream of the images' device.

        Returns:
            A :class:`RAMOutput` of ``(B * M, T, ...)`` tensors.
        """
        if samples_per_image < 1:
            raise ValueError(f"samples_per_image must be >= 1, got {samples_per_image}")
        episodes = images.shape[0] * samples_per_image
        image_index = None
        if samples_per_image > 1:
            image_index = torch.arange(images.shape[0], device=images.device).repeat_interleave(samples_per_image)
        if noise is None:
            noise = self.draw_noise(episodes, sample, images.device, images.dtype)
        else:
            check_noise(noise, self.num_glimpses, episodes, sample or self.random_glimpses)
        first_location, step_noise = noise
        if self.fused_rollout and not images.requires_grad:
            return self._forward_fused(images, image_index, first_location, step_noise, sample)
        episode_images = images if image_index is None else images[image_index]  # (B*M, C, H, W)
        return self._forward_plain(episode_images, first_location, step_noise, sample)

    def _forward_plain(self, images: Tensor, location: Tensor, noise: Tensor | None, sample: bool) -> RAMOutput:
        """The rollout step by step, every operation recorded by autograd (the reference for the fused one)."""
        batch = images.shape[0]
        state = self.core.initial_state(batch, images.device, images.dtype)
        zero_log_pi = images.new_zeros(batch)
        log_pi = zero_log_pi

        hiddens, locations, log_pis = [state.hidden], [], []
        for step in range(self.num_glimpses):
            locations.append(location)
            log_pis.append(log_pi)
            state = self.core(self.glimpse(images, location), state)
            hiddens.append(state.hidden)
            if step == self.num_glimpses - 1:
                break
            if self.random_glimpses:
                location, log_pi = noise[step], zero_log_pi
                continue
            policy_input = state.hidden.detach() if self.detach_policy_input else state.hidden
            with torch.autocast(images.device.type, enabled=False):
                step_noise = None if noise is None else noise[step]
                location, log_pi = self.policy(self._full_precision(policy_input), sample, step_noise)
        return self._output(torch.stack(hiddens[1:]), torch.stack(locations), torch.stack(log_pis))

    def _forward_fused(
        self,
        images: Tensor,
        image_index: Tensor | None,
        first_location: Tensor,
        noise: Tensor | None,
        sample: bool,
    ) -> RAMOutput:
        """The rollout as one autograd node; the policy's log-density is recomputed here, batched over time."""
        spec = RolloutSpec(
            self.retina,
            self.num_glimpses,
            self.core.core_type,
            self.core.activation,
            self.policy.tanh_mean,
            self.policy.clamp_mean,
            sample,
            self.random_glimpses,
        )
        weights = rollout_weights(self.glimpse, self.core, self.policy)
        rollout = fused_rollout(spec, weights, images, first_location, noise, self.policy.std, image_index)
        states = self._full_precision(rollout.states)  # (T, B, H): h_1 .. h_T
        log_pi = images.new_zeros(self.num_glimpses, first_location.shape[0])  # (T, B)
        if not self.random_glimpses and self.num_glimpses > 1:
            # The policy again, batched over time, for the log-density (and its gradient) of the same samples.
            policy_input = states[:-1].detach() if self.detach_policy_input else states[:-1]  # (T-1, B, H)
            with torch.autocast(images.device.type, enabled=False):
                _, step_log_pi = self.policy(policy_input, sample, noise)  # (T-1, B)
            log_pi = torch.cat([log_pi[:1], step_log_pi])
        return self._output(states, rollout.locations, log_pi)

    def _output(self, states: Tensor, locations: Tensor, log_pi: Tensor) -> RAMOutput:
        """The heads, in full precision even under autocast, and the batch-first output.

        Args:
            states: ``(T, B, H)`` core states ``h_1 .. h_T`` (``h_0`` is zero).
            locations: ``(T, B, 2)``.
            log_pi: ``(T, B)``.
        """
        with torch.autocast(states.device.type, enabled=False):
            states = self._full_precision(states)
            log_probs = self.action(states)  # (T, B, C): after each glimpse
            # b_t is decided from the state before location t: h_0 (zero) .. h_{T-1}.
            baselines = torch.cat([self.baseline(torch.zeros_like(states[:1])), self.baseline(states[:-1])])  # (T, B)
        return RAMOutput(
            log_probs=log_probs.transpose(0, 1),  # (B, T, C)
            locations=locations.transpose(0, 1),  # (B, T, 2)
            log_pi=log_pi.transpose(0, 1),  # (B, T)
            baselines=baselines.transpose(0, 1),  # (B, T)
        )

    def _full_precision(self, tensor: Tensor) -> Tensor:
        """``tensor`` in the parameters' dtype (a no-op unless autocast made it lower precision)."""
        return tensor.to(self.action.classifier.weight.dtype)

    def draw_noise(
        self,
        batch_size: int,
        sample: bool,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
        generator: torch.Generator | None = None,
    ) -> RolloutNoise:
        """All the randomness of a rollout of ``batch_size`` images, drawn up front so that every rollout
        implementation consumes it alike.

        Args:
            batch_size: ``B``.
            sample: the rollout samples from the policy (else follows its mean).
            device: where to draw (the global stream of that device); a ``generator`` draws on its own device.
            dtype: floating point type of the noise.
            generator: draw from this generator instead of the global random stream.
        """
        if generator is not None:
            device = generator.device
        draw = {"device": device, "dtype": dtype, "generator": generator}
        batch, steps = batch_size, self.num_glimpses
        if self.random_glimpses:
            locations = uniform_locations((steps, batch), **draw)
            return RolloutNoise(locations[0], locations[1:])
        if self.init_location == "center" or not sample:
            first = torch.zeros(batch, 2, device=device, dtype=dtype)
        else:
            first = uniform_locations((batch,), **draw)
        noise = torch.randn(steps - 1, batch, 2, **draw) if sample else None
        return RolloutNoise(first, noise)
