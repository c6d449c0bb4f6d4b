"""The population evaluator: exactness against hand-written loops, batching/caching invariance, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bbt_mp2.encoding import EncodedDataset
from bbt_mp2.errors import ConfigError, ShapeError
from bbt_mp2.evaluator import Evaluator, plan_chunks
from bbt_mp2.heads import MRCHead
from bbt_mp2.testing import build_tiny_backbone


@pytest.fixture(autouse=True, scope="module")
def _one_thread():  # noqa: ANN202 - tiny ops on a shared 2-core machine are far faster on one thread
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


N_TOK, HID, N_LAYERS = 3, 32, 4


@pytest.fixture(scope="module")
def backbone():  # noqa: ANN201
    return build_tiny_backbone(n_layers=N_LAYERS, hidden=HID, seed=0)


@pytest.fixture(scope="module")
def head() -> MRCHead:
    return MRCHead(HID, seed=1)


def option_dataset(bb, lengths=(20, 18, 15, 13, 12, 11), n_options: int = 3, seed: int = 0) -> EncodedDataset:  # noqa: ANN001
    """Random ids, [CLS] + placeholders, options of 1-2 tokens after the placeholders, right padding."""
    rng = np.random.default_rng(seed)
    n, t = len(lengths), max(lengths)
    mask = (np.arange(t)[None] < np.array(lengths)[:, None]).astype(np.int64)
    ids = rng.integers(5, 90, (n, t)) * mask
    ids[:, 0] = 2
    ids[:, 1 : 1 + N_TOK] = bb.placeholder_ids(N_TOK)
    first = 1 + N_TOK + 2 * np.arange(n_options)
    spans = np.tile(np.stack([first, first + 1], -1), (n, 1, 1))
    labels = rng.integers(0, n_options, n)
    return EncodedDataset(
        task="toy", n_tokens=N_TOK, input_ids=ids, attention_mask=mask, token_type_ids=np.zeros_like(ids),
        start_positions=spans[np.arange(n), labels, 0], end_positions=spans[np.arange(n), labels, 1],
        option_spans=spans, labels=labels, context_spans=np.tile([first[0], first[-1] + 1], (n, 1)),
    )


def span_dataset(bb) -> EncodedDataset:  # noqa: ANN001
    """Every token k of the text is word ``w<k>``; gold answers are two-word spans."""
    base = option_dataset(bb)
    n, t = base.input_ids.shape
    offsets, texts, answers = [], [], []
    for _ in range(n):
        words = [f"w{k}" for k in range(t)]
        texts.append(" ".join(words))
        starts = np.cumsum([0] + [len(w) + 1 for w in words[:-1]])
        offsets.append([(0, 0)] * (1 + N_TOK) + [(int(s), int(s) + len(w)) for s, w in zip(starts, words)][1 + N_TOK:])
    sp = np.array([6, 7, 8, 6, 7, 5])
    for i in range(n):
        answers.append([texts[i][offsets[i][sp[i]][0] : offsets[i][sp[i] + 1][1]]])
    lengths = base.attention_mask.sum(1)
    return EncodedDataset(
        task="toy_span", n_tokens=N_TOK, input_ids=base.input_ids, attention_mask=base.attention_mask,
        token_type_ids=base.token_type_ids, start_positions=sp, end_positions=sp + 1,
        option_spans=np.zeros((n, 0, 2), np.int64), labels=np.full(n, -1), context_spans=np.stack(
            [np.full(n, 1 + N_TOK), lengths - 2], -1), answers=answers, offsets=offsets, mrc_texts=texts,
    )


def reference_final_states(bb, ds: EncodedDataset, prompt: torch.Tensor, layers) -> torch.Tensor:  # noqa: ANN001
    """The reference semantics written out: add P_l at positions 1..n before stock layer l (one candidate)."""
    ids, mask = torch.as_tensor(ds.input_ids), torch.as_tensor(ds.attention_mask)
    h = bb.model.embeddings(input_ids=ids, token_type_ids=torch.as_tensor(ds.token_type_ids))
    ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    for layer in range(bb.n_layers):
        if layer in layers:
            h = h.clone()
            h[:, 1 : 1 + N_TOK] += prompt[list(layers).index(layer)]
        out = bb.layers[layer](h, attention_mask=ext)
        h = out[0] if isinstance(out, tuple) else out
    return h


def reference_option_loss(head: MRCHead, h: torch.Tensor, ds: EncodedDataset) -> tuple[float, float]:
    """CE over per-option scores (start of first token + end of last token) and accuracy, by hand."""
    logits = h @ head.linear.weight.T + head.linear.bias
    rows = []
    for i in range(len(ds)):
        rows.append(torch.stack([logits[i, a, 0] + logits[i, b, 1] for a, b in ds.option_spans[i]]))
    scores = torch.stack(rows)
    labels = torch.as_tensor(ds.labels)
    return float(F.cross_entropy(scores, labels)), float((scores.argmax(-1) == labels).float().mean())


def random_prompts(p: int, n_layers: int, seed: int = 0, scale: float = 0.5) -> torch.Tensor:
    return scale * torch.randn(p, n_layers, N_TOK, HID, generator=torch.Generator().manual_seed(seed))


@torch.inference_mode()
def test_zero_prompts_give_the_unprompted_forward_exactly(backbone, head) -> None:  # noqa: ANN001
    ds = option_dataset(backbone)
    ev = Evaluator(backbone, head, token_budget=10**6)
    layers = tuple(range(N_LAYERS))
    states = ev.hidden_states(ds, torch.zeros(N_LAYERS, N_TOK, HID), layers)
    plain = backbone(torch.as_tensor(ds.input_ids), torch.as_tensor(ds.attention_mask))
    assert torch.equal(states[-1], plain)
    res = ev.evaluate(ds, torch.zeros(2, N_LAYERS, N_TOK, HID), layers)
    want_loss, want_acc = reference_option_loss(head, plain, ds)
    np.testing.assert_allclose(res.loss, [want_loss] * 2, rtol=1e-6)
    np.testing.assert_allclose(res.metric, [want_acc] * 2)


@pytest.mark.parametrize("layer", [1, 2, 3])
def test_prompt_at_layer_l_leaves_lower_states_untouched(backbone, head, layer: int) -> None:  # noqa: ANN001
    ds = option_dataset(backbone)
    ev = Evaluator(backbone, head)
    plain = ev.hidden_states(ds)
    prompted = ev.hidden_states(ds, random_prompts(1, 1)[0], (layer,))
    real = torch.as_tensor(ds.attention_mask).bool()
    for entry in range(N_LAYERS + 1):
        same = torch.equal(plain[entry][real], prompted[entry][real])
        assert same == (entry <= layer), f"entry {entry} with a prompt before layer {layer}"


def test_injection_equals_the_reference_loop(backbone, head) -> None:  # noqa: ANN001
    ds = option_dataset(backbone)
    layers = (0, 2, 3)
    prompts = random_prompts(3, len(layers), seed=4)
    ev = Evaluator(backbone, head, token_budget=50)
    res = ev.evaluate(ds, prompts, layers)
    real = torch.as_tensor(ds.attention_mask).bool()
    with torch.inference_mode():
        for p in range(3):
            ref = reference_final_states(backbone, ds, prompts[p], layers)
            got = ev.hidden_states(ds, prompts[p], layers)[-1]
            torch.testing.assert_close(got[real], ref[real], rtol=1e-5, atol=1e-5)
            loss, acc = reference_option_loss(head, ref, ds)
            assert abs(res.loss[p] - loss) < 1e-5 and res.metric[p] == pytest.approx(acc)


def test_population_equals_one_at_a_time_and_budget_and_prefix_do_not_matter(backbone, head) -> None:  # noqa: ANN001
    ds = option_dataset(backbone)
    layers = (1, 3)
    prompts = random_prompts(5, 2, seed=2)
    prompts[:, 0] = prompts[0, 0]  # candidates share layer 1: shared prefix from layer 3
    big = Evaluator(backbone, head, token_budget=10**6)
    full = big.evaluate(ds, prompts, layers)
    serial = np.concatenate([big.evaluate(ds, prompts[p : p + 1], layers).loss for p in range(5)])
    np.testing.assert_allclose(full.loss, serial, rtol=1e-5, atol=1e-5)
    for kwargs in ({"token_budget": 25}, {"token_budget": 90}, {"shared_prefix": False, "cache_size": 0}):
        other = Evaluator(backbone, head, **kwargs).evaluate(ds, prompts, layers)
        np.testing.assert_allclose(other.loss, full.loss, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(other.metric, full.metric)


def test_cache_serves_divide_and_conquer_generations(backbone, head) -> None:  # noqa: ANN001
    ds = option_dataset(backbone)
    layers = (0, 1, 2, 3)
    gen1 = random_prompts(4, 4, seed=5)
    gen1[:, :2] = gen1[0, :2]  # layers 0 and 1 fixed: candidates differ from layer 2
    gen2 = gen1.clone()
    gen2[:, 2] = random_prompts(4, 1, seed=6)[:, 0]  # next generation at the same layer
    cached = Evaluator(backbone, head, token_budget=40)
    plain = Evaluator(backbone, head, token_budget=40, cache_size=0, shared_prefix=False)
    cached.evaluate(ds, gen1, layers)
    work_before = cached.work.tokens
    res = cached.evaluate(ds, gen2, layers)
    assert cached.cache.hits >= 1
    plain.evaluate(ds, gen2, layers)
    # the cached call ran only layers 2..3 for the population, nothing below
    assert cached.work.tokens - work_before < plain.work.tokens // 2 + 1
    np.testing.assert_allclose(res.loss, plain.evaluate(ds, gen2, layers).loss, rtol=1e-5, atol=1e-5)


def test_span_task_loss_metric_and_predict(backbone, head) -> None:  # noqa: ANN001
    ds = span_dataset(backbone)
    prompts = random_prompts(3, 1, seed=8)
    ev = Evaluator(backbone, head, token_budget=64)
    res = ev.evaluate(ds, prompts, (1,))
    assert res.loss.shape == (3,) and np.all(res.loss > 0)
    with torch.inference_mode():
        h = reference_final_states(backbone, ds, prompts[1], (1,))
        logits = h @ head.linear.weight.T + head.linear.bias
    vals = []
    for i, n in enumerate(ds.attention_mask.sum(1)):
        cs = F.cross_entropy(logits[i, :n, 0][None], torch.tensor([ds.start_positions[i]]))
        ce = F.cross_entropy(logits[i, :n, 1][None], torch.tensor([ds.end_positions[i]]))
        vals.append(float(cs + ce) / 2)
    assert abs(res.loss[1] - np.mean(vals)) < 1e-5
    pred = ev.predict(ds, prompts[1], (1,))
    assert len(pred.texts) == len(ds) and all(t.startswith("w") for t in pred.texts)
    assert pred.metric == pytest.approx(res.metric[1]) and pred.loss == pytest.approx(res.loss[1], rel=1e-6)
    assert pred.scores.shape == (len(ds), 0) and (pred.predicted == -1).all()


def test_predict_matches_evaluate_for_options(backbone, head) -> None:  # noqa: ANN001
    ds = option_dataset(backbone)
    prompts = random_prompts(2, 2, seed=9)
    ev = Evaluator(backbone, head)
    res = ev.evaluate(ds, prompts, (0, 2), loss="option_margin")
    pred = ev.predict(ds, prompts[1], (0, 2), loss="option_margin")
    assert pred.loss == pytest.approx(res.loss[1], rel=1e-6) and pred.metric == res.metric[1]
    assert pred.scores.shape == (len(ds), 3)
    np.testing.assert_array_equal(pred.predicted, pred.scores.argmax(1))
    np.testing.assert_array_equal(pred.labels, ds.labels)
    neg = ev.evaluate(ds, prompts, (0, 2), loss="neg_metric")
    np.testing.assert_allclose(neg.loss, -res.metric)


def test_bf16_runs_and_stays_close(backbone, head) -> None:  # noqa: ANN001
    ds = option_dataset(backbone)
    prompts = random_prompts(2, 1, seed=3)
    fp32 = Evaluator(backbone, head).evaluate(ds, prompts, (0,))
    bf16 = Evaluator(backbone, head, dtype="bf16").evaluate(ds, prompts, (0,))
    assert bf16.loss.dtype == np.float64
    np.testing.assert_allclose(bf16.loss, fp32.loss, atol=0.05)
    assert next(backbone.parameters()).dtype == torch.float32  # the caller's backbone is not converted


def test_plan_chunks_respects_the_budget() -> None:
    lengths = [30, 25, 20, 20, 10, 5]
    chunks = plan_chunks(lengths, 4, 200)
    assert chunks[0].start == 0 and chunks[-1].stop == 6
    assert all(a.stop == b.start for a, b in zip(chunks, chunks[1:]))
    for ch in chunks:
        assert ch.length == lengths[ch.start]
        assert ch.cands * (ch.stop - ch.start) * ch.length <= 200 or ch.stop - ch.start == 1


def test_bad_inputs_fail_before_any_forward(backbone, head) -> None:  # noqa: ANN001
    ds = option_dataset(backbone)
    ev = Evaluator(backbone, head)
    good = random_prompts(2, 2)
    cases = [
        (random_prompts(2, 2)[:, :, :2], (0, 1), ShapeError, r"expected \(P, L'=2, n_tokens=3, hidden=32\)"),
        (good, (0,), ShapeError, r"L'=1"),
        (good[:0], (0, 1), ShapeError, "population is empty"),
        (good[0], (0, 1), ShapeError, "expected 4-D"),
        (good.masked_fill(torch.arange(2)[:, None, None, None] == 1, float("nan")), (0, 1), ShapeError,
         r"NaN or inf \(candidates \[1\]\)"),
        (good, (0, 9), ConfigError, "layer index 9 is out of range"),
        (good, (2, 1), ConfigError, "strictly increasing"),
    ]
    for prompts, layers, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            ev.evaluate(ds, prompts, layers)
    assert ev.work.tokens == 0
    with pytest.raises(ConfigError, match="loss 'hinge' is unknown"):
        ev.evaluate(ds, good, (0, 1), loss="hinge")
    other = option_dataset(backbone)
    other.n_tokens = 2
    with pytest.raises(ShapeError, match="n_tokens=2"):
        ev.evaluate(other, good, (0, 1))
    unlabelled = option_dataset(backbone)
    unlabelled.labels = unlabelled.labels * 0 - 1
    with pytest.raises(ConfigError, match="evaluate needs labelled data"):
        ev.evaluate(unlabelled, good, (0, 1))
    assert np.isnan(ev.predict(unlabelled, good[0], (0, 1)).loss)


def test_metric_override_matches_task_metrics(backbone, head) -> None:  # noqa: ANN001
    from bbt_mp2.tasks.metrics import accuracy, binary_f1

    ds = option_dataset(backbone, n_options=2, seed=3)
    prompts = random_prompts(3, 1, seed=11, scale=2.0)
    ev = Evaluator(backbone, head)
    f1 = ev.evaluate(ds, prompts, (0,), metric="f1").metric
    acc = ev.evaluate(ds, prompts, (0,)).metric
    for p in range(3):
        pred = ev.predict(ds, prompts[p], (0,)).predicted
        assert f1[p] == pytest.approx(binary_f1(pred, ds.labels))
        assert acc[p] == pytest.approx(accuracy(pred, ds.labels))
    with pytest.raises(ConfigError, match="metric 'bleu' is unknown"):
        ev.evaluate(ds, prompts, (0,), metric="bleu")
