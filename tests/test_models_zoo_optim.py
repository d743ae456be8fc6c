"""The zoo's Muon: orthogonalised updates, torch's step rule in fp32, and the split into parameter groups."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from audistill.models.zoo.optim import Muon, build_optimizers, orthogonalise


def test_orthogonalise_flattens_the_spectrum_and_keeps_the_singular_vectors() -> None:
    torch.manual_seed(0)
    u, _ = torch.linalg.qr(torch.randn(48, 16))
    v, _ = torch.linalg.qr(torch.randn(16, 16))
    spread = torch.logspace(-1, 1, 16)  # singular values over two decades
    for matrix in (u @ torch.diag(spread) @ v.T, (u @ torch.diag(spread) @ v.T).T):  # tall and wide
        result = orthogonalise(matrix)
        singular = torch.linalg.svdvals(result)
        assert singular.min() > 0.6 and singular.max() < 1.25  # the quintic's band around 1
        polar = u @ v.T if matrix.shape[0] == 48 else v @ u.T
        cosine = (result * polar).sum() / (result.norm() * polar.norm())
        assert cosine > 0.95  # close to U V^T: the direction is the polar factor's


def test_muon_step_is_nesterov_momentum_orthogonalised_and_rms_matched() -> None:
    torch.manual_seed(1)
    weight = torch.nn.Parameter(torch.randn(8, 32))
    start = weight.detach().clone()
    optimizer = Muon([weight], lr=0.01, weight_decay=0.1, momentum=0.9)
    grads = [torch.randn(8, 32), torch.randn(8, 32)]
    expected, buffer = start.clone(), torch.zeros(8, 32)
    for grad in grads:
        weight.grad = grad.clone()
        optimizer.step()
        buffer = 0.9 * buffer + 0.1 * grad
        nesterov = 0.1 * grad + 0.9 * buffer
        expected = expected * (1 - 0.01 * 0.1) - 0.01 * 0.2 * 32**0.5 * orthogonalise(nesterov)
    torch.testing.assert_close(weight.detach(), expected, rtol=1e-5, atol=1e-6)


def test_muon_refuses_vectors() -> None:
    with pytest.raises(ValueError, match="matrices only"):
        Muon([torch.nn.Parameter(torch.zeros(4))], lr=0.1)


def test_build_optimizers_puts_block_matrices_on_muon_and_the_rest_on_adamw() -> None:
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=8)
    model = Qwen3ForCausalLM(config)
    named = list(model.named_parameters())
    muon, adamw = build_optimizers(named, "muon", lr=1e-3, weight_decay=0.01)
    on_muon = {id(p) for g in muon.param_groups for p in g["params"]}
    on_adamw = {id(p) for g in adamw.param_groups for p in g["params"]}
    assert isinstance(muon, Muon) and isinstance(adamw, torch.optim.AdamW)
    assert on_muon.isdisjoint(on_adamw) and on_muon | on_adamw == {id(p) for _, p in named}
    names = {id(p): n for n, p in named}
    assert {names[i].split(".")[-2] for i in on_muon} == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                          "up_proj", "down_proj"}
    assert {"model.embed_tokens.weight", "lm_head.weight"} <= {names[i] for i in on_adamw}
    (only,) = build_optimizers(named, "adamw", lr=1e-3, weight_decay=0.01)
    assert isinstance(only, torch.optim.AdamW)
    with pytest.raises(ValueError, match="choose one of adamw, muon"):
        build_optimizers(named, "sgd", lr=1e-3, weight_decay=0.01)


def test_a_muon_phase_trains_and_an_unknown_optimizer_is_named() -> None:
    from audistill.models.zoo.config import Phase
    from audistill.models.zoo.loop import train_phase

    torch.manual_seed(2)
    model = torch.nn.Sequential()
    block = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    model.add_module("layers", block)
    inputs = torch.randn(64, 8)
    targets = inputs[:, :1] * 2 - inputs[:, 1:2]

    def step(batch: None) -> dict[str, torch.Tensor]:
        return {"loss": torch.nn.functional.mse_loss(model(inputs), targets)}

    def batches() -> Iterator[None]:
        while True:
            yield None

    named = [(f"net.{n}", p) for n, p in model.named_parameters()]  # "net.layers.0.weight": Muon
    phase = Phase(steps=60, batch_size=64, lr=0.1, warmup_steps=5, optimizer="muon")
    stats = train_phase("toy", phase, named, batches(), step, window=5)
    assert stats.final["loss"] < 0.2 * stats.first["loss"]
    with pytest.raises(ValueError, match="choose one of adamw, muon"):
        Phase(steps=1, batch_size=1, lr=1.0, optimizer="sgd")
