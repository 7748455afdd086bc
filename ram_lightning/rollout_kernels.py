"""Hand-written kernels of the fused rollout (:mod:`ram_lightning.rollout`): ReLU's backward, and an LSTM step
forward (in place, into preallocated buffers) and backward.

Shapes: ``B`` episodes, ``H`` units of the core state; an LSTM's gates are ordered input, forget, cell, output as in
:class:`torch.nn.LSTMCell`.
"""

from __future__ import annotations

import torch
from torch import Tensor


def relu_backward(grad: Tensor, output: Tensor, out: Tensor | None = None) -> Tensor:
    """Gradient through ``output = relu(x)``: ``grad`` where ``output > 0``, else 0 (one kernel, as autograd's)."""
    if out is None:
        return torch.ops.aten.threshold_backward(grad, output, 0)
    return torch.ops.aten.threshold_backward.grad_input(grad, output, 0, grad_input=out)


def lstm_cell(gates: Tensor, cell_prev: Tensor | None, out_hidden: Tensor, out_cell: Tensor) -> None:
    """One LSTM update, from pre-activations ``gates`` ``(B, 4H)`` (activated in place) and ``c_{t-1}`` ``(B, H)``.

    ``c_t = f * c_{t-1} + i * g`` and ``h_t = o * tanh(c_t)`` are written to ``out_cell`` and ``out_hidden``;
    ``cell_prev`` ``None`` stands for a zero state.
    """
    size = out_cell.shape[-1]
    gates[:, : 2 * size].sigmoid_()  # input, forget
    gates[:, 2 * size : 3 * size].tanh_()  # cell candidate
    gates[:, 3 * size :].sigmoid_()  # output
    input_gate, forget_gate, candidate, output_gate = gates.chunk(4, dim=1)
    if cell_prev is None:
        torch.mul(input_gate, candidate, out=out_cell)
    else:
        torch.addcmul(forget_gate * cell_prev, input_gate, candidate, out=out_cell)
    torch.mul(output_gate, torch.tanh(out_cell), out=out_hidden)


def lstm_cell_backward(
    grad_hidden: Tensor,
    grad_cell: Tensor | None,
    gates: Tensor,
    cell_prev: Tensor | None,
    cell: Tensor,
    out: Tensor,
) -> Tensor:
    """Back-propagates one LSTM step.

    Args:
        grad_hidden: ``(B, H)`` gradient reaching ``h_t``.
        grad_cell: ``(B, H)`` gradient reaching ``c_t`` through ``c_{t+1}`` (``None`` at the last step).
        gates: ``(B, 4H)`` activated gates ``i, f, g, o`` of the step.
        cell_prev: ``(B, H)`` ``c_{t-1}`` (``None``: zero).
        cell: ``(B, H)`` ``c_t``.
        out: ``(B, 4H)`` receives the gradient of the gates' pre-activations.

    Returns:
        ``(B, H)`` gradient reaching ``c_{t-1}``.
    """
    input_gate, forget_gate, candidate, output_gate = gates.float().chunk(4, dim=1)
    grad_hidden = grad_hidden.float()
    tanh_cell = torch.tanh(cell)
    grad_c = grad_hidden * output_gate * (1.0 - tanh_cell * tanh_cell)  # (B, H)
    if grad_cell is not None:
        grad_c = grad_c + grad_cell
    grad_input, grad_forget, grad_candidate, grad_output = out.chunk(4, dim=1)
    torch.mul(grad_c * candidate, input_gate * (1.0 - input_gate), out=grad_input)
    if cell_prev is None:
        grad_forget.zero_()
    else:
        torch.mul(grad_c * cell_prev, forget_gate * (1.0 - forget_gate), out=grad_forget)
    torch.mul(grad_c * input_gate, 1.0 - candidate * candidate, out=grad_candidate)
    torch.mul(grad_hidden * tanh_cell, output_gate * (1.0 - output_gate), out=grad_output)
    return grad_c * forget_gate
