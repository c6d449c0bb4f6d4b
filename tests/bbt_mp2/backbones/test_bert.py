"""BertBackbone: parity with the stock transformers model, masks, placeholders, freezing, loading by name."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import BertConfig, BertModel, RobertaConfig, RobertaModel

from bbt_mp2.backbones import BertBackbone, additive_padding_mask, load_backbone
from bbt_mp2.errors import ConfigError, ShapeError, UnknownNameError
from bbt_mp2.testing import build_tiny_tokenizer


def test_minilm_forward_equals_stock_model_with_padding(minilm, minilm_stock, padded_batch):
    ids, mask = padded_batch
    with torch.inference_mode():
        ours = minilm(ids, mask)
        ref = minilm_stock(input_ids=ids, attention_mask=mask).last_hidden_state
    assert ours.shape == ref.shape == (*ids.shape, 384)
    assert torch.allclose(ours, ref, atol=1e-5, rtol=0)


def test_minilm_layer_by_layer_equals_stock_hidden_states(minilm, minilm_stock, padded_batch):
    ids, mask = padded_batch
    with torch.inference_mode():
        ref = minilm_stock(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        h = minilm.embed(ids)
        ext = minilm.extended_mask(mask, h.dtype)
        assert torch.allclose(h, ref[0], atol=1e-6, rtol=0)
        for i in range(minilm.n_layers):
            h = minilm.run_layer(i, h, ext)
            real = mask.bool()
            assert torch.allclose(h[real], ref[i + 1][real], atol=1e-5, rtol=0), f"layer {i}"
    assert minilm.n_layers == len(ref) - 1 == 6


def test_eager_attention_agrees_with_sdpa_mask(minilm, padded_batch):
    """The additive mask also serves the eager implementation (the other stock attention function)."""
    from bbt_mp2.backbones.registry import minilm_path

    eager = BertModel.from_pretrained(minilm_path(), local_files_only=True, attn_implementation="eager").eval()
    ids, mask = padded_batch
    with torch.inference_mode():
        ref = eager(input_ids=ids, attention_mask=mask).last_hidden_state
        h = eager.embeddings(input_ids=ids)
        ext = additive_padding_mask(mask, h.dtype)
        for layer in eager.encoder.layer:
            out = layer(h, attention_mask=ext)
            h = out[0] if isinstance(out, tuple) else out
    assert torch.allclose(h, ref, atol=1e-6, rtol=0)


def test_extended_mask_form():
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    for dtype in (torch.float32, torch.bfloat16):
        ext = additive_padding_mask(mask, dtype)
        assert ext.shape == (2, 1, 1, 3) and ext.dtype == dtype
        assert (ext[mask[:, None, None, :] == 1] == 0).all()
        assert (ext[mask[:, None, None, :] == 0] == torch.finfo(dtype).min).all()
    with pytest.raises(ShapeError, match="B x T"):
        additive_padding_mask(torch.ones(2, 1, 3), torch.float32)


def test_minilm_is_frozen_and_stays_in_eval(minilm):
    assert not any(p.requires_grad for p in minilm.parameters())
    minilm.train()
    assert not minilm.training and not minilm.model.training
    assert minilm.token_type_id == 0 and minilm.hidden == 384
    assert minilm.word_embeddings().shape == (30522, 384)
    assert len(minilm.embedding_hash()) == 16


def test_placeholder_ids(minilm):
    assert minilm.placeholder_ids(50) == list(range(1000, 1050))
    assert minilm.placeholder_ids(0) == []
    with pytest.raises(ConfigError, match="vocabulary entries"):
        minilm.placeholder_ids(40_000)


def test_load_backbone_bf16(padded_batch, minilm):
    bb = load_backbone("minilm", dtype=torch.bfloat16)
    assert bb.word_embeddings().dtype == torch.bfloat16 and bb.name == "minilm"
    assert bb.embedding_hash() == minilm.embedding_hash()  # checkpoints made in fp32 still match
    ids, mask = padded_batch
    with torch.inference_mode():
        low = bb(ids, mask).float()
        high = minilm(ids, mask)
    assert torch.allclose(low, high, atol=0.15)
    assert not torch.equal(low, high)


def _tiny_folder(tmp_path, kind: str):
    tok = build_tiny_tokenizer()
    if kind == "bert":
        cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=64, max_position_embeddings=64)  # fmt: skip
        model = BertModel(cfg)
    else:
        cfg = RobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=64, max_position_embeddings=66, pad_token_id=1)  # fmt: skip
        model = RobertaModel(cfg)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    return model.eval(), tok


@pytest.mark.parametrize("kind", ["bert", "roberta"])
def test_load_backbone_from_folder_equals_stock(tmp_path, kind):
    torch.manual_seed(0)
    stock, tok = _tiny_folder(tmp_path, kind)
    bb = load_backbone(str(tmp_path))
    assert isinstance(bb, BertBackbone) and bb.model_type == kind and bb.n_layers == 2
    pad = 1 if kind == "roberta" else 0
    ids = torch.tensor([[101, 400, 500, 600, 102], [101, 700, 102, pad, pad]])
    mask = (torch.arange(5)[None, :] < torch.tensor([[5], [3]])).long()
    with torch.inference_mode():
        ref = stock(input_ids=ids, attention_mask=mask).last_hidden_state
        ours = bb(ids, mask)
    assert torch.allclose(ours[mask.bool()], ref[mask.bool()], atol=1e-5, rtol=0)


def test_load_backbone_errors(tmp_path):
    with pytest.raises(UnknownNameError, match="unknown backbone kind"):
        load_backbone("minilm", kind="gpt")
    with pytest.raises(ConfigError, match="does not exist"):
        load_backbone(str(tmp_path / "nowhere"))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(UnknownNameError, match="'gpt2' is not a supported backbone"):
        load_backbone(str(tmp_path))


def test_run_layer_rejects_bad_index(minilm):
    with pytest.raises(ConfigError, match="out of range"):
        minilm.run_layer(6, torch.zeros(1, 3, 384), torch.zeros(1, 1, 1, 3))
