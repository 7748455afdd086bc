"""The fused rollout: RAM's T glimpses as one autograd node, with a hand-written backward that batches over time.

The plain rollout (``RecurrentAttention(fused_rollout=False)``) lets autograd record every small operation of every
glimpse, so its backward pass repeats ``T`` times a chain of small matrix products and elementwise kernels. Yet the
locations are actions, constants for the gradient: once the forward pass has chosen them, only the core's
recurrence ``h_{t-1} -> h_t`` is sequential. The backward here runs that recurrence step by step (one small matrix
product per step), then computes the gradients of every weight, and the back-propagation through the glimpse
network, as single matrix products over all ``T * B`` glimpses. The forward pass writes each step's activations
straight into preallocated ``(T, B, ...)`` buffers (no concatenation, no autograd bookkeeping) and folds the core's
two biases into one.

Only the core's states are differentiable outputs. The caller computes the policy's log-density, the action and the
baseline from them with ordinary autograd, batched over time, so REINFORCE's gradient reaches the policy (and, when
``detach_policy_input`` is off, the core) as in the plain rollout.

Under autocast (``torch.autocast`` with ``bfloat16`` or ``float16``) the matrix products run in that dtype, as
autocast would run them; locations, the policy mean and an LSTM's cell state stay in float32.

Shapes: ``T`` glimpses, ``B`` images, ``D`` retina values per glimpse, ``A``/``L`` units of the glimpse network's
what/where layers, ``G`` units of ``g``, ``H`` units of the core state, ``Z`` core pre-activations (``H``, or ``4H``
for an LSTM, gates ordered input, forget, cell, output as in :class:`torch.nn.LSTMCell`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from ram_lightning.modules import CoreNetwork, GlimpseNetwork, LocationPolicy
from ram_lightning.retina import Retina
from ram_lightning.rollout_kernels import lstm_cell, lstm_cell_backward, relu_backward


class RolloutSpec(NamedTuple):
    """The non-tensor settings of a rollout.

    Attributes:
        retina: the glimpse sensor.
        num_glimpses: ``T``.
        core_type: ``"rnn"`` or ``"lstm"``.
        activation: ``"relu"`` or ``"tanh"`` (``rnn`` core).
        tanh_mean: the policy mean is squashed with ``tanh``.
        clamp_mean: the policy mean is clamped to ``[-1, 1]``.
        sample: locations are drawn from the policy (else its mean is followed).
        random_glimpses: locations are the given uniform ones, not the policy's.
    """

    retina: Retina
    num_glimpses: int
    core_type: str
    activation: str
    tanh_mean: bool
    clamp_mean: bool
    sample: bool
    random_glimpses: bool


class RolloutWeights(NamedTuple):
    """The parameters the rollout reads, as ``(out, in)`` matrices and ``(out,)`` biases.

    ``core_bias`` is the sum of the core's two biases. The policy's weights only choose locations here (their
    gradient comes from the caller's batched recomputation of the policy), so they should be passed detached.
    """

    what_weight: Tensor  # (A, D)
    what_bias: Tensor  # (A,)
    where_weight: Tensor  # (L, 2)
    where_bias: Tensor  # (L,)
    fuse_weight: Tensor  # (G, A + L)
    fuse_bias: Tensor  # (G,)
    input_weight: Tensor  # (Z, G)
    hidden_weight: Tensor  # (Z, H)
    core_bias: Tensor  # (Z,)
    policy_weight: Tensor  # (2, H)
    policy_bias: Tensor  # (2,)


def rollout_weights(glimpse: GlimpseNetwork, core: CoreNetwork, policy: LocationPolicy) -> RolloutWeights:
    """The networks' parameters as the rollout reads them: the core's biases summed, the policy's detached."""
    cell = core.cell
    return RolloutWeights(
        glimpse.what.weight,
        glimpse.what.bias,
        glimpse.where.weight,
        glimpse.where.bias,
        glimpse.fuse.weight,
        glimpse.fuse.bias,
        cell.weight_ih,
        cell.weight_hh,
        cell.bias_ih + cell.bias_hh,
        policy.mean.weight.detach(),
        policy.mean.bias.detach(),
    )


class RolloutOutput(NamedTuple):
    """What :func:`fused_rollout` returns, time-major.

    Attributes:
        states: ``(T, B, H)`` core states ``h_1 .. h_T`` (differentiable; ``h_0`` is zero).
        locations: ``(T, B, 2)`` where each glimpse was taken.
    """

    states: Tensor
    locations: Tensor


def fused_rollout(
    spec: RolloutSpec,
    weights: RolloutWeights,
    images: Tensor,
    first_location: Tensor,
    noise: Tensor | None,
    std: Tensor,
    image_index: Tensor | None = None,
) -> RolloutOutput:
    """Unrolls RAM's ``T`` glimpses of ``B`` episodes as one autograd node.

    Args:
        spec: the rollout's settings.
        weights: the parameters (policy ones detached).
        images: ``(N, C, H_img, W_img)`` images; they receive no gradient.
        first_location: ``(B, 2)`` location of the first glimpse, in ``[-1, 1]``.
        noise: ``(T - 1, B, 2)``: standard normal noise of the policy's samples when ``spec.sample``, or the
            locations themselves (in ``[-1, 1]``) when ``spec.random_glimpses``; ``None`` when following the mean.
        std: ``()`` standard deviation of the policy.
        image_index: ``(B,)`` the image each episode looks at (several rollouts of one image read the same
            tensor, uncopied); ``None``: episode ``b`` looks at image ``b`` (``N = B``).

    Returns:
        A :class:`RolloutOutput`.
    """
    device_type = images.device.type
    compute_dtype = torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else images.dtype
    if noise is None:
        noise = images.new_zeros(spec.num_glimpses - 1, first_location.shape[0], 2)
    with torch.autocast(device_type, enabled=False):
        states, locations = _FusedRollout.apply(
            spec, compute_dtype, images, first_location, noise, std, image_index, *weights
        )
    return RolloutOutput(states, locations)


class _FusedRollout(torch.autograd.Function):
    """``forward`` runs the glimpses into preallocated buffers; ``backward`` batches all but the recurrence."""

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        spec: RolloutSpec,
        dtype: torch.dtype,
        images: Tensor,
        first_location: Tensor,
        noise: Tensor,
        std: Tensor,
        image_index: Tensor | None,
        *weight_list: Tensor,
    ) -> tuple[Tensor, Tensor]:
        steps, batch = spec.num_glimpses, first_location.shape[0]
        lstm = spec.core_type == "lstm"
        w = RolloutWeights(*(weight.to(dtype) for weight in weight_list[:9]), *weight_list[9:])
        what_size, fuse_size = w.what_weight.shape[0], w.fuse_weight.shape[0]
        new = images.new_empty
        glimpses = new(steps, batch, w.what_weight.shape[1], dtype=dtype)  # (T, B, D)
        locations = new(steps, batch, 2)  # (T, B, 2)
        what = new(steps, batch, what_size, dtype=dtype)  # (T, B, A)
        where = new(steps, batch, w.where_weight.shape[0], dtype=dtype)  # (T, B, L)
        g = new(steps, batch, fuse_size, dtype=dtype)  # (T, B, G)
        states = new(steps, batch, w.hidden_weight.shape[1], dtype=dtype)  # (T, B, H)
        gates = new(steps, batch, w.input_weight.shape[0], dtype=dtype) if lstm else None  # (T, B, 4H)
        cells = new(steps, batch, w.hidden_weight.shape[1]) if lstm else None  # (T, B, H), float32
        sampled = spec.sample and not spec.random_glimpses
        scaled_noise = noise * std.to(noise.dtype) if sampled else noise  # (T - 1, B, 2)
        raw = new(batch, 2)  # (B, 2): the policy's sample (or mean) before clamping
        fuse_what, fuse_where = w.fuse_weight[:, :what_size].t(), w.fuse_weight[:, what_size:].t()
        retina = spec.retina
        padded = retina.pad(images.to(dtype))  # (B, C, H_img + 2m, W_img + 2m)
        glimpse_shape = (batch, retina.num_scales, images.shape[1], retina.patch_size, retina.patch_size)
        # Per-step views, made once: indexing a Python list costs nothing, indexing a tensor is an operation.
        glimpse_t, location_t, what_t, where_t = (x.unbind(0) for x in (glimpses, locations, what, where))
        g_t, state_t, noise_t = g.unbind(0), states.unbind(0), scaled_noise.unbind(0)
        pre_t = gates.unbind(0) if lstm else state_t  # (B, Z) pre-activations, activated in place
        cell_t = cells.unbind(0) if lstm else None

        locations[0] = first_location
        for t in range(steps):
            retina.read(padded, location_t[t], out=glimpse_t[t].view(glimpse_shape), image_index=image_index)
            torch.addmm(w.what_bias, glimpse_t[t], w.what_weight.t(), out=what_t[t]).relu_()  # (B, A)
            location = location_t[t] if dtype == locations.dtype else location_t[t].to(dtype)
            torch.addmm(w.where_bias, location, w.where_weight.t(), out=where_t[t]).relu_()  # (B, L)
            torch.addmm(w.fuse_bias, what_t[t], fuse_what, out=g_t[t]).addmm_(where_t[t], fuse_where).relu_()
            z = torch.addmm(w.core_bias, g_t[t], w.input_weight.t(), out=pre_t[t])  # (B, Z)
            if t > 0:
                z.addmm_(state_t[t - 1], w.hidden_weight.t())
            if lstm:
                lstm_cell(z, cell_t[t - 1] if t > 0 else None, out_hidden=state_t[t], out_cell=cell_t[t])
            elif spec.activation == "relu":
                z.relu_()
            else:
                z.tanh_()
            if t == steps - 1:
                break
            if spec.random_glimpses:
                location_t[t + 1].copy_(noise_t[t])
                continue
            state = state_t[t] if dtype == w.policy_weight.dtype else state_t[t].to(w.policy_weight.dtype)
            mean = torch.addmm(w.policy_bias, state, w.policy_weight.t())  # (B, 2)
            if spec.tanh_mean:
                mean = mean.tanh_()
            elif spec.clamp_mean:
                mean = mean.clamp_(-1.0, 1.0)
            # As LocationPolicy.forward: the sample mean + std * noise, clamped.
            torch.clamp(torch.add(mean, noise_t[t], out=raw) if sampled else mean, -1.0, 1.0, out=location_t[t + 1])

        ctx.spec, ctx.param_dtype = spec, weight_list[0].dtype
        ctx.save_for_backward(glimpses, locations, what, where, g, states, gates, cells, *w[:9])
        ctx.mark_non_differentiable(locations)
        return states, locations

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_states: Tensor, grad_locations: Tensor) -> tuple[Tensor | None, ...]:
        with torch.autocast(grad_states.device.type, enabled=False):  # the saved dtypes decide, as in forward
            param_grads = _backward(ctx.spec, ctx.saved_tensors, grad_states)
        param_grads = tuple(grad.to(ctx.param_dtype) for grad in param_grads)
        return (None, None, None, None, None, None, None, *param_grads, None, None)


def _backward(spec: RolloutSpec, saved: tuple[Tensor, ...], grad_states: Tensor) -> tuple[Tensor, ...]:
    """Gradients of the rollout's first nine weights (:class:`RolloutWeights` order) from ``grad_states`` (T, B, H)."""
    glimpses, locations, what, where, g, states, gates, cells, *weight_list = saved
    w = RolloutWeights(*weight_list, None, None)
    steps, batch = g.shape[:2]
    dtype = g.dtype
    grad_states = grad_states.to(dtype)

    # The recurrence, backwards: the gradient of each step's pre-activations, then of the previous state.
    grad_pre = g.new_empty(steps, batch, w.input_weight.shape[0])  # (T, B, Z)
    carry = carry_cell = None  # gradients reaching h_t and c_t from step t + 1
    for t in reversed(range(steps)):
        grad_h = grad_states[t] if carry is None else grad_states[t] + carry  # (B, H)
        if spec.core_type == "lstm":
            cell_prev = cells[t - 1] if t > 0 else None
            carry_cell = lstm_cell_backward(grad_h, carry_cell, gates[t], cell_prev, cells[t], out=grad_pre[t])
        elif spec.activation == "relu":
            relu_backward(grad_h, states[t], out=grad_pre[t])
        else:
            torch.mul(grad_h, 1 - states[t] * states[t], out=grad_pre[t])
        if t > 0:
            carry = grad_pre[t] @ w.hidden_weight  # (B, H)

    # Everything else, batched over the T * B glimpses.
    flat = steps * batch
    grad_pre_flat = grad_pre.view(flat, -1)  # (T*B, Z)
    grad_hidden_weight = (  # (Z, H); h_0 = 0 contributes nothing
        grad_pre[1:].flatten(0, 1).t() @ states[:-1].flatten(0, 1) if steps > 1 else torch.zeros_like(w.hidden_weight)
    )
    grad_input_weight = grad_pre_flat.t() @ g.view(flat, -1)  # (Z, G)
    grad_g = relu_backward(grad_pre_flat @ w.input_weight, g.view(flat, -1))  # (T*B, G)
    what_size = what.shape[-1]
    grad_fuse_weight = torch.cat([grad_g.t() @ what.view(flat, -1), grad_g.t() @ where.view(flat, -1)], dim=1)
    grad_what_where = grad_g @ w.fuse_weight  # (T*B, A + L)
    grad_what = relu_backward(grad_what_where[:, :what_size], what.view(flat, -1))  # (T*B, A)
    grad_where = relu_backward(grad_what_where[:, what_size:], where.view(flat, -1))  # (T*B, L)
    return (
        grad_what.t() @ glimpses.view(flat, -1),  # (A, D)
        grad_what.sum(0),
        grad_where.t() @ locations.view(flat, 2).to(dtype),  # (L, 2)
        grad_where.sum(0),
        grad_fuse_weight,  # (G, A + L)
        grad_g.sum(0),
        grad_input_weight,
        grad_hidden_weight,
        grad_pre_flat.sum(0),
    )
