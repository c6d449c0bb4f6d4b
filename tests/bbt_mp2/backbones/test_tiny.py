"""bbt_mp2.testing: the tiny tokenizer and tiny random backbones are offline, valid and deterministic."""

from __future__ import annotations

import pytest
import torch

from bbt_mp2.backbones import Backbone, BertBackbone
from bbt_mp2.errors import UnknownNameError
from bbt_mp2.testing import TINY_VOCAB_SIZE, build_tiny_backbone, build_tiny_tokenizer, tiny_vocab


def test_tiny_vocab_layout():
    vocab = tiny_vocab()
    assert len(vocab) == TINY_VOCAB_SIZE > 1050
    assert len(set(vocab)) == len(vocab)
    assert [vocab[i] for i in (0, 100, 101, 102, 103)] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert {"the", "movie", "good", "bad", "的", "好", "##s"} <= set(vocab)


def test_tiny_tokenizer_is_a_real_fast_wordpiece_tokenizer():
    tok = build_tiny_tokenizer()
    assert tok.is_fast and len(tok) == TINY_VOCAB_SIZE
    enc = tok("The movie was GOOD, 很好!", return_offsets_mapping=True)
    toks = tok.convert_ids_to_tokens(enc["input_ids"])
    assert toks[0] == "[CLS]" and toks[-1] == "[SEP]"
    assert "movie" in toks and "good" in toks and "很" in toks and "好" in toks
    assert tok.unk_token_id not in enc["input_ids"]
    assert (tok.pad_token_id, tok.mask_token_id) == (0, 103)


@pytest.mark.parametrize("kind", ["bert", "cpt"])
def test_tiny_backbone_contract(kind):
    bb = build_tiny_backbone(kind, n_layers=3, hidden=16, seed=1)
    assert isinstance(bb, Backbone) and isinstance(bb, BertBackbone)
    assert (bb.n_layers, bb.hidden, len(bb.layers)) == (3, 16, 3)
    assert bb.token_type_id == (1 if kind == "cpt" else 0)
    assert bb.placeholder_ids(50) == list(range(1000, 1050))
    assert not any(p.requires_grad for p in bb.parameters())
    enc = bb.tokenizer(["a good movie", "bad"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        out = bb(enc["input_ids"], enc["attention_mask"])
    assert out.shape == (2, enc["input_ids"].shape[1], 16) and torch.isfinite(out).all()


def test_tiny_bert_is_deterministic_per_seed_without_touching_global_rng():
    before = torch.get_rng_state()
    a, b, c = (build_tiny_backbone(seed=s) for s in (0, 0, 1))
    assert torch.equal(torch.get_rng_state(), before)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["model.embeddings.word_embeddings.weight"], sc["model.embeddings.word_embeddings.weight"])
    assert a.embedding_hash() == b.embedding_hash() != c.embedding_hash()


def test_unknown_tiny_kind():
    with pytest.raises(UnknownNameError, match="'bert' or 'cpt'"):
        build_tiny_backbone("t5")
