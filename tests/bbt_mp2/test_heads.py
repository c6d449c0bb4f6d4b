"""Heads: MRC span head shapes/masking, option scoring, best-span decoding, MLM verbalizer heads."""

from __future__ import annotations

import itertools

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, RobertaConfig, RobertaForMaskedLM

from bbt_mp2.backbones import load_backbone
from bbt_mp2.checkpoint import CheckpointConfig, MP2Checkpoint
from bbt_mp2.errors import ConfigError, ShapeError
from bbt_mp2.heads import MLMVerbalizerHead, MRCHead, best_spans, load_mlm_head, masked_fill_value, option_scores
from bbt_mp2.testing import build_tiny_backbone, build_tiny_tokenizer

NEG_INF = float("-inf")


def test_mrc_head_shapes_and_padding_mask():
    head = MRCHead(8, seed=0)
    g = torch.Generator().manual_seed(0)
    h = torch.randn(3, 5, 8, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 0, 0, 0]])
    start, end = head(h, mask)
    assert start.shape == end.shape == (3, 5)
    manual = h @ head.linear.weight.T + head.linear.bias
    keep = mask.bool()
    assert torch.allclose(start[keep], manual[..., 0][keep]) and torch.allclose(end[keep], manual[..., 1][keep])
    assert (start[~keep] == masked_fill_value(torch.float32)).all() and (end[~keep] == start[~keep]).all()
    assert torch.isfinite(start[~keep] + end[~keep]).all()
    pop_start, _ = head(h.expand(4, 3, 5, 8), mask)  # population P x B x T x h
    assert pop_start.shape == (4, 3, 5) and torch.equal(pop_start[2], start)
    with pytest.raises(ShapeError, match="hidden size 8"):
        head(torch.zeros(1, 2, 7))


def test_mrc_head_seeded_init_and_from_checkpoint():
    assert torch.equal(MRCHead(16, seed=3).linear.weight, MRCHead(16, seed=3).linear.weight)
    assert not torch.equal(MRCHead(16, seed=3).linear.weight, MRCHead(16, seed=4).linear.weight)
    assert (MRCHead(16).linear.bias == 0).all()
    cfg = CheckpointConfig(backbone="tiny", embedding_hash="x", n_tokens=2, n_modules=1, d=3, hidden=4,
                           layers=(0,), task_names=("t",))  # fmt: skip
    w, b = torch.arange(8.0).reshape(2, 4), torch.tensor([0.5, -0.5])
    ckpt = MP2Checkpoint(cfg, torch.zeros(1, 1, 1), torch.zeros(1, 1, 3), torch.zeros(1, 3, 8), w, b)
    head = MRCHead.from_checkpoint(ckpt)
    h = torch.ones(1, 2, 4)
    start, end = head(h)
    assert torch.allclose(start, torch.full((1, 2), 0 + 1 + 2 + 3 + 0.5))
    assert torch.allclose(end, torch.full((1, 2), 4 + 5 + 6 + 7 - 0.5))


def test_option_scores_hand_built():
    start = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]])
    end = torch.tensor([[0.0, 10.0, 20.0, 30.0, 40.0, 50.0]])
    spans = torch.tensor([[[1, 2], [3, 5], [4, 4], [-1, -1]]])
    scores = option_scores(start, end, spans)
    assert scores.tolist() == [[1 + 20, 3 + 50, 4 + 40, NEG_INF]]
    pop = option_scores(start.expand(3, 1, 6), end.expand(3, 1, 6), spans)  # spans B x C x 2 broadcast over P
    assert pop.shape == (3, 1, 4) and torch.equal(pop[1], scores)
    assert torch.equal(MRCHead(2).option_scores(start, end, spans), scores)
    assert torch.equal(option_scores(start, end, spans.numpy()), scores)  # EncodedDataset holds ndarrays
    with pytest.raises(ShapeError, match="first <= last"):
        option_scores(start, end, torch.tensor([[[2, 1]]]))
    with pytest.raises(ShapeError, match="T=6"):
        option_scores(start, end, torch.tensor([[[2, 6]]]))


def _brute_force(start, end, ctx, max_len, na=None):
    best, arg = NEG_INF, (-1, -1)
    if ctx[0] >= 0:
        for i, j in itertools.product(range(ctx[0], ctx[1] + 1), repeat=2):
            if i <= j < i + max_len and start[i] + end[j] > best:
                best, arg = start[i] + end[j], (i, j)
    if na is not None and na[0] >= 0 and start[na[0]] + end[na[1]] >= best:
        arg = tuple(na)
    return arg


def test_best_spans_hand_built():
    start = torch.tensor([[9.0, 0.0, 5.0, 1.0, 0.0, 0.0]])
    end = torch.tensor([[9.0, 0.0, 0.0, 1.0, 4.0, 9.0]])
    ctx = torch.tensor([[2, 4]])
    assert best_spans(start, end, ctx).tolist() == [[2, 4]]  # position 0 and 5 lie outside the context
    assert best_spans(start, end, ctx, max_answer_tokens=2).tolist() == [[2, 3]]
    assert best_spans(start, end, ctx, no_answer_spans=torch.tensor([[0, 0]])).tolist() == [[0, 0]]
    assert best_spans(start, end, torch.tensor([[-1, -1]])).tolist() == [[-1, -1]]
    assert MRCHead(2).best_spans(start, end, ctx, 1).tolist() == [[2, 2]]


def test_best_spans_matches_brute_force_and_is_valid():
    g = torch.Generator().manual_seed(1)
    B, T = 40, 12
    start, end = torch.randn(B, T, generator=g), torch.randn(B, T, generator=g)
    first = torch.randint(0, T, (B,), generator=g)
    last = torch.minimum(first + torch.randint(0, T, (B,), generator=g), torch.tensor(T - 1))
    ctx = torch.stack([first, last], -1)
    na = torch.where(torch.arange(B)[:, None] % 3 == 0, torch.tensor([[0, 0]]), torch.tensor([[-1, -1]]))
    for max_len in (1, 3, 30):
        out = best_spans(start, end, ctx, max_len, no_answer_spans=na)
        for b in range(B):
            expected = _brute_force(start[b].tolist(), end[b].tolist(), ctx[b].tolist(), max_len, na[b].tolist())
            assert tuple(out[b].tolist()) == expected
        plain = best_spans(start, end, ctx, max_len)
        assert (plain[:, 0] <= plain[:, 1]).all() and (plain[:, 0] >= ctx[:, 0]).all()
        assert (plain[:, 1] <= ctx[:, 1]).all() and (plain[:, 1] - plain[:, 0] < max_len).all()
    pop = best_spans(start.expand(2, B, T), end.expand(2, B, T), ctx, 3)
    assert pop.shape == (2, B, 2) and torch.equal(pop[1], best_spans(start, end, ctx, 3))


@pytest.mark.parametrize("kind", ["bert", "roberta"])
def test_mlm_verbalizer_head_equals_transformers_masked_lm(tmp_path, kind):
    tok = build_tiny_tokenizer()
    common = dict(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=64)  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        if kind == "bert":
            mlm = BertForMaskedLM(BertConfig(**common, max_position_embeddings=64))
        else:
            mlm = RobertaForMaskedLM(RobertaConfig(**common, max_position_embeddings=66, pad_token_id=1))
        with torch.no_grad():  # a non-zero output bias, so that the bias path is exercised
            mlm.get_output_embeddings().bias.normal_()
    mlm.eval().save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    bb = load_backbone(str(tmp_path))
    ids = torch.tensor([[101, 300, 103, 400, 102], [101, 103, 500, 102, 102]])
    mask_pos, verbalizer = torch.tensor([2, 1]), [300, 400, 500]
    head = load_mlm_head(bb, verbalizer)
    with torch.inference_mode():
        scores = head(bb(ids, torch.ones_like(ids)), mask_pos)
        ref = mlm(input_ids=ids).logits[torch.arange(2), mask_pos][:, verbalizer]
    assert scores.shape == (2, 3)
    assert torch.allclose(scores, ref, atol=1e-5, rtol=0)


def test_cpt_mlm_head_is_the_tied_embedding():
    bb = build_tiny_backbone("cpt", n_layers=2)
    head = load_mlm_head(bb)
    h = torch.randn(2, 4, 32, generator=torch.Generator().manual_seed(0))
    scores = head(h, torch.tensor([1, 3]), [5, 7])
    emb = bb.word_embeddings()
    expected = torch.stack([h[0, 1] @ emb[[5, 7]].T, h[1, 3] @ emb[[5, 7]].T])
    assert torch.allclose(scores, expected, atol=1e-6)
    with pytest.raises(ConfigError, match="verbalizer_ids"):
        head(h, torch.tensor([1, 3]))
    assert isinstance(head, MLMVerbalizerHead)


@pytest.mark.slow
def test_minilm_has_no_mlm_head():
    with pytest.raises(ConfigError, match="ships no MLM head"):
        load_mlm_head(load_backbone("minilm"), [1000])
