"""CPT: random checkpoints in the published fnlp/cpt-* key layout load into a BertModel that matches transformers."""

from __future__ import annotations

import logging

import pytest
import torch
from transformers import BertConfig, BertModel

from bbt_mp2.backbones import CPTBackbone, cpt_bert_config, load_backbone, load_cpt_state_dict
from bbt_mp2.errors import ConfigError
from bbt_mp2.testing import tiny_cpt_state_dict, write_tiny_cpt_checkpoint

N_SHARED, N_UDEC, HIDDEN = 3, 2, 32


def _oracle(state: dict, positions: int) -> BertModel:
    """transformers' BertModel filled from the raw CPT tensors by a mapping written here, independently."""
    key = "encoder.embeddings.word_embeddings.weight"
    word = state.get("model." + key, state.get(key))
    cfg = BertConfig(vocab_size=word.shape[0], hidden_size=HIDDEN, num_hidden_layers=N_SHARED + N_UDEC,
                     num_attention_heads=4, intermediate_size=2 * HIDDEN, max_position_embeddings=positions,
                     type_vocab_size=2, attn_implementation="eager")  # fmt: skip
    model = BertModel(cfg, add_pooling_layer=False).eval()
    sd = {}
    for k, v in state.items():
        k = k[len("model."):] if k.startswith("model.") else k
        if k.startswith("encoder.") and not k.endswith("position_ids"):
            sd[k[len("encoder."):]] = v
    model.load_state_dict(sd, strict=True)
    return model


def _batch():
    ids = torch.tensor([[101, 1000, 1001, 300, 301, 302, 102], [101, 1000, 1001, 400, 102, 0, 0]])
    mask = (ids != 0).long()
    return ids, mask


@pytest.mark.parametrize(
    ("fmt", "prefix", "positions"),
    [("safetensors", "model.", 512), ("safetensors", "", 1024), ("bin", "model.", 1024), ("bin", "", 512)],
)
def test_cpt_checkpoint_equals_transformers_bert_with_token_type_one(tmp_path, fmt, prefix, positions):
    folder, state = write_tiny_cpt_checkpoint(
        tmp_path / "cpt", fmt=fmt, prefix=prefix, positions=positions, n_shared=N_SHARED, n_udec=N_UDEC,
        hidden=HIDDEN, config_positions=1024, seed=3,
    )  # fmt: skip
    bb = load_backbone(str(folder))
    assert isinstance(bb, CPTBackbone)
    assert bb.n_layers == N_SHARED + N_UDEC and bb.n_udec_layers == N_UDEC and bb.n_shared_layers == N_SHARED
    assert bb.token_type_id == 1 and bb.load_report.positions == positions and bb.max_positions == positions
    assert bb.load_report.prefix_stripped == (prefix == "model.")
    ignored = set(bb.load_report.ignored)
    assert f"decoder.layers.{N_UDEC - 1}.encoder_attn.q_proj.weight" in ignored
    assert {"encoder.embeddings.position_ids", "shared.weight", "decoder.embed_tokens.weight", "lm_head.weight",
            "final_logits_bias"} <= ignored  # fmt: skip
    assert bb.load_report.unexpected == []
    assert len(bb.tokenizer) == state["final_logits_bias"].shape[1]  # BertTokenizer on the folder's vocab.txt
    ids, mask = _batch()
    oracle = _oracle(state, positions)
    with torch.inference_mode():
        ref = oracle(input_ids=ids, attention_mask=mask, token_type_ids=torch.ones_like(ids)).last_hidden_state
        ref_type0 = oracle(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state
        ours = bb(ids, mask)
    real = mask.bool()
    assert torch.allclose(ours[real], ref[real], atol=1e-5, rtol=0)
    assert not torch.allclose(ours[real], ref_type0[real], atol=1e-3)  # token types really are 1


def test_cpt_ignores_caller_token_types():
    bb = _tiny_cpt()
    ids, _ = _batch()
    with torch.inference_mode():
        assert torch.equal(bb.embed(ids, torch.zeros_like(ids)), bb.embed(ids))


def _tiny_cpt(**kw):
    from bbt_mp2.testing import build_tiny_tokenizer

    state, config = tiny_cpt_state_dict(n_shared=N_SHARED, n_udec=N_UDEC, hidden=HIDDEN, **kw)
    return CPTBackbone.from_state_dict(state, config, build_tiny_tokenizer(), name="t")


def test_v1_style_config_positions_come_from_the_tensor():
    state, config = tiny_cpt_state_dict(positions=512, config_positions=1024)
    assert config["max_position_embeddings"] == 1024
    model, report = load_cpt_state_dict(state, config)
    assert report.positions == 512 and model.embeddings.position_embeddings.num_embeddings == 512


def test_missing_needed_key_is_named():
    state, config = tiny_cpt_state_dict(n_shared=N_SHARED, n_udec=N_UDEC)
    del state["model.encoder.encoder.layer.4.output.dense.weight"]
    with pytest.raises(ConfigError, match=r"encoder\.encoder\.layer\.4\.output\.dense\.weight"):
        load_cpt_state_dict(state, config)
    del state["model.encoder.embeddings.position_embeddings.weight"]
    with pytest.raises(ConfigError, match="position_embeddings"):
        load_cpt_state_dict(state, config)


def test_word_embedding_from_alias_only_and_aliases_must_agree():
    state, config = tiny_cpt_state_dict()
    full, _ = load_cpt_state_dict(dict(state), config)
    only_alias = {k: v for k, v in state.items() if k != "model.encoder.embeddings.word_embeddings.weight"}
    only_alias.pop("model.decoder.embed_tokens.weight")
    model, _ = load_cpt_state_dict(only_alias, config)
    assert torch.equal(model.embeddings.word_embeddings.weight, full.embeddings.word_embeddings.weight)
    state["model.shared.weight"] = state["model.shared.weight"] + 1.0
    with pytest.raises(ConfigError, match="tied"):
        load_cpt_state_dict(state, config)


def test_layer_count_must_match_config_and_unknown_keys_are_reported(caplog):
    state, config = tiny_cpt_state_dict(n_shared=N_SHARED, n_udec=N_UDEC)
    with pytest.raises(ConfigError, match="encoder_layers=4"):
        load_cpt_state_dict(state, {**config, "encoder_layers": 4})
    state["model.encoder.pooler.dense.weight"] = torch.zeros(2, 2)
    with caplog.at_level(logging.WARNING, logger="bbt_mp2.backbones.cpt"):
        _, report = load_cpt_state_dict(state, config)
    assert report.unexpected == ["encoder.pooler.dense.weight"]
    assert "unrecognised" in caplog.text


def test_tiny_cpt_backbone_is_deterministic_and_leaves_global_rng_alone():
    from bbt_mp2.testing import build_tiny_backbone

    before = torch.get_rng_state()
    a, b = build_tiny_backbone("cpt", n_layers=4, seed=5), build_tiny_backbone("cpt", n_layers=4, seed=5)
    assert torch.equal(torch.get_rng_state(), before)
    c = build_tiny_backbone("cpt", n_layers=4, seed=6)
    ids, mask = _batch()
    with torch.inference_mode():
        assert torch.equal(a(ids, mask), b(ids, mask))
        assert not torch.allclose(a(ids, mask), c(ids, mask))
    assert a.n_layers == 4 and a.n_udec_layers == 2 and a.token_type_id == 1


@pytest.mark.parametrize(("vocab", "positions", "expected"), [(21128, 512, 324_472_832), (51271, 1024, 355_863_552)])
def test_cpt_large_stack_size_from_the_published_config(vocab, positions, expected):
    """cpt-large v1 / v2: the BERT stack (24 layers incl. embeddings) has the parameter count of the reference note."""
    hub_config = {"d_model": 1024, "encoder_layers": 24, "decoder_layers": 4, "encoder_attention_heads": 16,
                  "encoder_ffn_dim": 4096, "max_position_embeddings": 1024, "vocab_size": vocab}  # fmt: skip
    cfg = cpt_bert_config(hub_config, vocab_size=vocab, positions=positions)
    with torch.device("meta"):
        model = BertModel(cfg, add_pooling_layer=False)
    assert cfg.num_hidden_layers == 24 and cfg.type_vocab_size == 2 and cfg.layer_norm_eps == 1e-12
    assert sum(p.numel() for p in model.parameters()) == expected
