"""tr.testing.check_cell and torch_parity: a new cell's gradient checked four ways, and
against the same cell in PyTorch; both must be able to fail."""
import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.testing import GradientCheckError, check_cell, torch_parity


class MGU(tr.nn.Cell):
    """Minimal gated unit (Zhou et al. 2016): f = sigmoid(x Wf + h Uf + bf),
    n = tanh(x W + (f * h) U + b), h' = (1 - f) h + f n."""

    def __init__(self, input_size, hidden_size, seed=None, leak=False):
        super().__init__(input_size, hidden_size, seed=seed)
        I, H = input_size, hidden_size
        for name, shape in (("Wf", (I, H)), ("Uf", (H, H)), ("bf", (H,)),
                            ("W", (I, H)), ("U", (H, H)), ("b", (H,))):
            setattr(self, name, self._param(name, self._uniform(shape, 1 / np.sqrt(H))))
        self.leak = leak

    def step(self, x, state):
        (h,) = state
        f = tr.sigmoid(x @ self.Wf + h @ self.Uf + self.bf)
        gate = tr.stop_gradient(f) if self.leak else f  # leak: a gradient that is wrong
        n = tr.tanh(x @ self.W + (gate * h) @ self.U + self.b)
        h = (1 - f) * h + f * n
        return h, (h,)


def mgu_torch(x, state, p):
    import torch
    (h,) = state
    f = torch.sigmoid(x @ p["Wf"] + h @ p["Uf"] + p["bf"])
    n = torch.tanh(x @ p["W"] + (f * h) @ p["U"] + p["b"])
    h = (1 - f) * h + f * n
    return h, (h,)


@pytest.mark.parametrize("make", [
    lambda: MGU(3, 4, seed=0),
    lambda: tr.nn.LSTMCell(3, 4, peephole=True, seed=0),
    lambda: tr.nn.GRUCell(3, 4, seed=0),
    lambda: tr.nn.SCRNCell(3, 4, context_size=2, seed=0),
], ids=["mgu", "lstm_peephole", "gru", "scrn"])
def test_check_cell_passes_for_correct_cells(make):
    report = check_cell(make())
    assert report["bptt_vs_rtrl"] < 1e-12 and report["numba_vs_numpy"] < 1e-12
    assert report["bptt_vs_finite_differences"] < 1e-7


def test_check_cell_catches_a_gradient_that_disagrees_with_finite_differences():
    # stop_gradient makes BPTT and RTRL agree with each other and both wrong
    with pytest.raises(GradientCheckError, match="check_cell"):
        check_cell(MGU(3, 4, seed=0, leak=True))


def test_check_cell_refuses_float32():
    with pytest.raises(ValueError, match="float64"):
        check_cell(tr.nn.RNNCell(2, 3, dtype=np.float32))


def test_torch_parity_agrees_and_catches_a_different_cell():
    pytest.importorskip("torch")  # optional ("compare" extra)
    import torch

    report = torch_parity(MGU(3, 4, seed=1), mgu_torch)
    assert report["outputs"] < 1e-12 and report["gradients"] < 1e-12

    def wrong(x, state, p):  # relu instead of tanh
        (h,) = state
        f = torch.sigmoid(x @ p["Wf"] + h @ p["Uf"] + p["bf"])
        n = torch.relu(x @ p["W"] + (f * h) @ p["U"] + p["b"])
        h = (1 - f) * h + f * n
        return h, (h,)
    with pytest.raises(AssertionError, match="torch_parity: y_0"):
        torch_parity(MGU(3, 4, seed=1), wrong)
