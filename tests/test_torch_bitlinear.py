"""The torch QAT BitLinear: straight-through gradients, bit-exact integers, golden agreement, export."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers.integrations.bitnet import AutoBitLinear

from model import quant
from model.bitlinear import bitlinear_from_quantized
from model.torch_bitlinear import (
    BitLinear,
    fake_quant_activations,
    fake_quant_weights,
    quantize_activations,
    quantize_weights,
)


@pytest.fixture
def layer():
    torch.manual_seed(0)
    return BitLinear(96, 40, bias=True)


def test_is_a_drop_in_linear(layer):
    assert isinstance(layer, torch.nn.Linear)
    model = torch.nn.Sequential(layer, torch.nn.ReLU(), BitLinear(40, 3))
    assert model(torch.randn(2, 5, 96)).shape == (2, 5, 3)


def test_gradients_are_straight_through(layer):
    x = torch.randn(4, 96, requires_grad=True)
    layer(x).square().sum().backward()
    # the same gradients as a float linear on the dequantized operands, with identity through the rounding
    x_dq = fake_quant_activations(x).detach().requires_grad_()
    w_dq = fake_quant_weights(layer.weight).detach().requires_grad_()
    F.linear(x_dq, w_dq, layer.bias.detach()).square().sum().backward()
    torch.testing.assert_close(layer.weight.grad, w_dq.grad, rtol=0, atol=0)
    torch.testing.assert_close(x.grad, x_dq.grad, rtol=0, atol=0)
    assert layer.weight.grad.abs().sum() > 0 and layer.bias.grad.abs().sum() > 0


def test_integers_are_bit_identical_to_the_golden_model():
    rng = np.random.default_rng(1)
    for shape in [(1, 1), (40, 96), (513, 257)]:
        w = (rng.standard_normal(shape) * rng.uniform(1e-3, 1)).astype(np.float32)
        w_q, s_w = quantize_weights(torch.from_numpy(w))
        golden_q, golden_s = quant.quantize_weights(w)
        assert np.array_equal(w_q.numpy(), golden_q) and np.float32(s_w.item()) == golden_s
        x_q, s_x = quantize_activations(torch.from_numpy(w))
        golden_xq, golden_sx = quant.quantize_activations(w)
        assert np.array_equal(x_q.numpy(), golden_xq) and np.array_equal(s_x.numpy(), golden_sx)


def test_outputs_agree_with_the_golden_model_to_float32_rounding(layer):
    x = torch.randn(3, 6, 96)
    with torch.no_grad():
        y = layer(x).numpy()
    w_q, s_w = layer.export()
    golden = bitlinear_from_quantized(x.numpy(), w_q, s_w, layer.bias.detach().numpy())
    np.testing.assert_allclose(y, golden, rtol=2e-6, atol=2e-6 * np.abs(golden).max())
    assert np.array_equal(layer.to_golden()(x.numpy()), golden)


def test_forward_matches_transformers_online_autobitlinear():
    torch.manual_seed(2)
    ours = BitLinear(64, 16, bias=False)
    reference = AutoBitLinear(64, 16, bias=False, online_quant=True)
    with torch.no_grad():
        reference.weight.copy_(ours.weight)
    x = torch.randn(5, 64)
    with torch.no_grad():
        expected, actual = reference(x), ours(x)
    # equal scales give equal fake-quantized operands, hence the same float linear
    if quantize_weights(ours.weight)[1].item() == (1.0 / ours.weight.abs().mean()).item():
        torch.testing.assert_close(actual, expected, rtol=0, atol=0)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_export_and_from_linear():
    linear = torch.nn.Linear(32, 8)
    layer = BitLinear.from_linear(linear)
    assert torch.equal(layer.weight, linear.weight) and torch.equal(layer.bias, linear.bias)
    w_q, s_w = layer.export()
    assert w_q.dtype == np.int8 and isinstance(s_w, np.float32)
    assert set(np.unique(w_q)) <= {-1, 0, 1}
    with pytest.raises(TypeError, match="linear must be a torch.nn.Linear"):
        BitLinear.from_linear(torch.nn.Conv1d(1, 1, 1))
    with pytest.raises(ValueError, match="x has 31 features"):
        layer(torch.randn(2, 31))


def test_quantization_aware_training_learns():
    torch.manual_seed(3)
    teacher = torch.randn(8, 32).sign() * 0.1
    student = BitLinear(32, 8, bias=False)
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-2)
    x = torch.randn(256, 32)
    target = x @ teacher.T
    losses = []
    for _ in range(200):
        optimizer.zero_grad()
        loss = F.mse_loss(student(x), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]
