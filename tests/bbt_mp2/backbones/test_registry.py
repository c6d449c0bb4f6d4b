"""Backbone identity: the CPT aliases pin hub revisions, the revision reaches the loader and the run's info."""

from __future__ import annotations

import pytest

from bbt_mp2.backbones import registry
from bbt_mp2.backbones.cpt import CPTBackbone
from bbt_mp2.errors import ConfigError
from bbt_mp2.testing import build_tiny_backbone


def test_alias_table_pins_cpt_revisions():
    v1, v2 = registry.HUB_MODELS["cpt-large"], registry.HUB_MODELS["cpt-large-v2"]
    assert v1.repo_id == v2.repo_id == "fnlp/cpt-large"
    assert v1.vocab_size == 21128 and v2.vocab_size == 51271
    assert v1.revision == registry.CPT_LARGE_V1_REVISION and v2.revision == "main"
    assert registry.resolve_name("cpt-large") == "fnlp/cpt-large"
    assert registry.resolve_hub("cpt-large") == ("fnlp/cpt-large", registry.CPT_LARGE_V1_REVISION, 21128)
    assert registry.resolve_hub("fnlp/cpt-large@abc123") == ("fnlp/cpt-large", "abc123", None)
    assert registry.resolve_hub("minilm")[1:] == (None, None)


def _fake_cpt(vocab: int, seen: dict):  # noqa: ANN202
    def from_pretrained(name_or_path, *, revision=None):  # noqa: ANN001, ANN202
        seen["target"], seen["revision"] = name_or_path, revision
        bb = build_tiny_backbone("cpt", n_layers=2, hidden=32, seed=0)
        bb.vocab_size = vocab
        return bb

    return from_pretrained


@pytest.mark.parametrize("alias,revision,vocab", [("cpt-large", registry.CPT_LARGE_V1_REVISION, 21128),
                                                  ("cpt-large-v2", "main", 51271)])
def test_revision_reaches_from_pretrained_and_is_recorded(monkeypatch, alias, revision, vocab):
    seen: dict = {}
    monkeypatch.setattr(CPTBackbone, "from_pretrained", staticmethod(_fake_cpt(vocab, seen)))
    bb = registry.load_backbone(alias)
    assert seen == {"target": "fnlp/cpt-large", "revision": revision}
    assert bb.revision == revision and bb.name == alias

    from bbt_mp2.heads import MRCHead
    from bbt_mp2.local_backend import LocalBackend

    assert LocalBackend(bb, MRCHead(32)).info().revision == revision  # what config.json's "backend" records


def test_a_revision_serving_another_vocabulary_is_refused(monkeypatch):
    monkeypatch.setattr(CPTBackbone, "from_pretrained", staticmethod(_fake_cpt(51271, {})))
    with pytest.raises(ConfigError, match="vocabulary of 51271.*expects 21128.*cpt-large-v2"):
        registry.load_backbone("cpt-large")
