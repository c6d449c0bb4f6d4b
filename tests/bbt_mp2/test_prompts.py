"""Projections, hidden-state statistics, routing and the modular prompt."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bbt_mp2.backend import ProjectionSpec
from bbt_mp2.checkpoint import CheckpointConfig, MP2Checkpoint
from bbt_mp2.encoding import EncodedDataset
from bbt_mp2.errors import CheckpointError, ConfigError
from bbt_mp2.prompts import (
    ModularPrompt,
    build_projection,
    clipped_std,
    combined_z,
    embedding_std,
    hidden_state_std,
    layer_seed,
    routing_weights,
)
from bbt_mp2.testing import build_tiny_backbone


@pytest.fixture(autouse=True, scope="module")
def _one_thread():  # noqa: ANN202 - tiny ops on a shared 2-core machine are far faster on one thread
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)



def numpy_clipped_std(x: np.ndarray) -> float:
    """The BBTv2 recipe written out: 5 rounds of clipping to mean +- 3 std, population std."""
    x = x.astype(np.float64).ravel()
    for _ in range(5):
        mu, s = x.mean(), x.std()
        x = np.clip(x, mu - 3 * s, mu + 3 * s)
    return float(x.std())


def test_layer_seed_is_the_spawned_child() -> None:
    children = np.random.SeedSequence(7).spawn(4)
    for layer, child in enumerate(children):
        expected = int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
        assert layer_seed(7, layer) == expected
    assert layer_seed(7, 1) != layer_seed(8, 1)


@pytest.mark.parametrize("alpha,sigma,std", [(1.0, 1.0, 0.05), (0.2, 0.2, 0.3)])
def test_normal_projection_std_matches_formula(alpha: float, sigma: float, std: float) -> None:
    spec = ProjectionSpec(kind="normal", seed=3, alpha=alpha, sigma=sigma)
    a = build_projection(spec, d=100, n_tokens=10, hidden=64, layer=2, std=std)
    assert a.shape == (100, 640) and a.dtype == torch.float32
    expected = alpha * std / (math.sqrt(100) * sigma)
    assert abs(float(a.std()) / expected - 1) < 0.02
    assert abs(float(a.mean())) < 3 * expected / math.sqrt(a.numel()) * 3


def test_same_seed_same_matrix_other_seed_or_layer_differs() -> None:
    spec = ProjectionSpec(kind="normal", seed=11)
    a1 = build_projection(spec, d=20, n_tokens=4, hidden=8, layer=1, std=0.5).clone()
    build_projection(spec, d=20, n_tokens=4, hidden=8, layer=0, std=0.5)  # building others changes nothing
    a2 = build_projection(ProjectionSpec(kind="normal", seed=11), d=20, n_tokens=4, hidden=8, layer=1, std=0.5)
    assert torch.equal(a1, a2)
    assert not torch.equal(a1, build_projection(spec, d=20, n_tokens=4, hidden=8, layer=2, std=0.5))
    other = build_projection(ProjectionSpec(kind="normal", seed=12), d=20, n_tokens=4, hidden=8, layer=1, std=0.5)
    assert not torch.equal(a1, other)
    # the matrix is a pure function of (seed, layer): drawn from an independent generator, not the global RNG
    gen = torch.Generator().manual_seed(layer_seed(11, 1))
    want = torch.randn(20, 32, generator=gen) * (0.5 / math.sqrt(20))
    torch.testing.assert_close(a1, want)


def test_uniform_projection_bounds() -> None:
    a = build_projection(ProjectionSpec(kind="uniform", seed=0), d=50, n_tokens=5, hidden=40, layer=0)
    bound = 1 / math.sqrt(50)
    assert float(a.abs().max()) <= bound
    assert abs(float(a.std()) / (bound / math.sqrt(3)) - 1) < 0.03


def test_normal_projection_needs_std() -> None:
    with pytest.raises(ConfigError, match="needs a finite std > 0"):
        build_projection(ProjectionSpec(), d=5, n_tokens=2, hidden=4, layer=0, std=None)


def _checkpoint(d: int = 6, n: int = 2, h: int = 4, layers: tuple[int, ...] = (0, 1)) -> MP2Checkpoint:
    cfg = CheckpointConfig(backbone="x", embedding_hash="0" * 16, n_tokens=n, n_modules=3, d=d, hidden=h,
                           layers=layers, task_names=("a", "b"))
    g = torch.Generator().manual_seed(0)
    lp = len(layers)
    return MP2Checkpoint(cfg, torch.randn(2, lp, 3, generator=g), torch.randn(lp, 3, d, generator=g),
                         torch.randn(lp, d, n * h, generator=g), torch.randn(2, h, generator=g), torch.zeros(2))


def test_learned_projection_reads_the_checkpoint_row() -> None:
    ckpt = _checkpoint()
    spec = ProjectionSpec(kind="learned", checkpoint="unused")
    a = build_projection(spec, d=6, n_tokens=2, hidden=4, layer=1, checkpoint=ckpt)
    assert torch.equal(a, ckpt.A[1])
    with pytest.raises(CheckpointError, match="checkpoint has d=6"):
        build_projection(spec, d=7, n_tokens=2, hidden=4, layer=1, checkpoint=ckpt)
    with pytest.raises(CheckpointError, match="layer 3 is not prompted"):
        build_projection(spec, d=6, n_tokens=2, hidden=4, layer=3, checkpoint=ckpt)


def test_clipped_std_matches_numpy_recipe() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0.3, 1.0, 5000), rng.normal(0, 40, 30)])
    assert math.isclose(clipped_std(torch.from_numpy(x)), numpy_clipped_std(x), rel_tol=1e-9)
    assert clipped_std(torch.from_numpy(x)) < x.std()


def _toy_dataset(bb, n: int = 3) -> EncodedDataset:  # noqa: ANN001
    rng = np.random.default_rng(1)
    N, T = 5, 16
    lengths = np.array([16, 12, 9, 14, 10])
    ids = rng.integers(5, 90, (N, T))
    ids[:, 1 : 1 + n] = bb.placeholder_ids(n)
    mask = (np.arange(T)[None] < lengths[:, None]).astype(np.int64)
    z = np.zeros(N, dtype=np.int64)
    return EncodedDataset("toy", n, ids * mask, mask, np.zeros_like(ids), z, z, np.zeros((N, 0, 2), np.int64), z - 1,
                          np.zeros((N, 2), np.int64))


def test_hidden_state_std_uses_real_tokens_of_each_layer_input() -> None:
    bb = build_tiny_backbone(n_layers=3, hidden=32)
    ds = _toy_dataset(bb)
    got = hidden_state_std(bb, ds, batch_size=2)
    out = bb.model(input_ids=torch.as_tensor(ds.input_ids), attention_mask=torch.as_tensor(ds.attention_mask),
                   token_type_ids=torch.as_tensor(ds.token_type_ids), output_hidden_states=True)
    real = torch.as_tensor(ds.attention_mask).bool()
    want = [numpy_clipped_std(out.hidden_states[layer][real].detach().numpy()) for layer in range(3)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    w = bb.word_embeddings().detach().numpy()
    assert math.isclose(embedding_std(bb), float(w.astype(np.float64).std()), rel_tol=1e-9)


def test_routing_modes() -> None:
    logits = torch.tensor([[1.0, -2.0, 0.5], [-1.0, -0.2, -3.0]])
    sig = routing_weights(logits, "sigmoid")
    torch.testing.assert_close(sig, torch.sigmoid(logits) / (torch.sigmoid(logits).sum(-1, keepdim=True) + 1e-12))
    binary = routing_weights(logits, "binary")
    torch.testing.assert_close(binary, torch.tensor([[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]]))  # row 2: argmax fallback
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    rb1 = routing_weights(logits, "relaxed_bernoulli", generator=g1)
    rb2 = routing_weights(logits, "relaxed_bernoulli", generator=g2)
    assert torch.equal(rb1, rb2) and not torch.allclose(rb1, sig)
    torch.testing.assert_close(rb1.sum(-1), torch.ones(2))
    with pytest.raises(ConfigError, match="routing mode 'soft' is unknown"):
        routing_weights(logits, "soft")


def test_modular_prompt_layer_prompts_and_combined_z() -> None:
    mp = ModularPrompt(n_tasks=2, layers=(0, 2), n_modules=3, d=5, n_tokens=2, hidden=4, seed=0)
    assert {name for name, _ in mp.named_parameters()} == {"A", "z", "router"}
    with torch.no_grad():
        mp.router.normal_(generator=torch.Generator().manual_seed(1))
    prompts = mp.layer_prompts(1, "sigmoid")
    assert prompts.shape == (2, 2, 4)
    w = routing_weights(mp.router[1].detach(), "sigmoid")
    for j in range(2):  # sum_k w_k (z_k @ A_l), module by module
        want = sum(w[j, k] * (mp.z[j, k].detach() @ mp.A[j].detach()) for k in range(3))
        torch.testing.assert_close(prompts[j].detach().reshape(-1), want)
    zc = combined_z(mp.router[1].detach().numpy(), mp.z.detach().numpy())
    assert isinstance(zc, np.ndarray) and zc.shape == (2, 5)
    via_z = torch.stack([torch.as_tensor(zc[j], dtype=torch.float32) @ mp.A[j].detach() for j in range(2)])
    torch.testing.assert_close(via_z.reshape(2, 2, 4), prompts.detach(), rtol=1e-5, atol=1e-6)


def test_modular_prompt_trains_with_autograd() -> None:
    mp = ModularPrompt(n_tasks=1, layers=(0,), n_modules=2, d=3, n_tokens=2, hidden=4, seed=0)
    out = mp(0, "relaxed_bernoulli", generator=torch.Generator().manual_seed(0))
    out.square().sum().backward()
    assert all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in mp.parameters())


def test_modular_prompt_from_checkpoint() -> None:
    ckpt = _checkpoint()
    mp = ModularPrompt.from_checkpoint(ckpt)
    assert torch.equal(mp.A.detach(), ckpt.A) and torch.equal(mp.router.detach(), ckpt.router)
    torch.testing.assert_close(
        mp.layer_prompts(0, "binary").detach()[1].reshape(-1),
        routing_weights(ckpt.router[0, 1], "binary") @ ckpt.z[1] @ ckpt.A[1],
    )
