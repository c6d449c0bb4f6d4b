"""Frozen encoders exposing ``embed()`` and ``layers``: BERT family via transformers, CPT by key name.

Public API: :func:`load_backbone` (aliases, folders, hub ids), :class:`Backbone` (the interface),
:class:`BertBackbone`, :class:`CPTBackbone`, :func:`load_cpt_state_dict`.
"""

from __future__ import annotations

from bbt_mp2.backbones.base import Backbone
from bbt_mp2.backbones.bert import PLACEHOLDER_START, BertBackbone, additive_padding_mask
from bbt_mp2.backbones.cpt import CPTBackbone, CPTLoadReport, cpt_bert_config, load_cpt_state_dict
from bbt_mp2.backbones.registry import ALIASES, BACKBONE_KINDS, load_backbone, register_alias, resolve_name

__all__ = [
    "Backbone",
    "BertBackbone",
    "CPTBackbone",
    "CPTLoadReport",
    "PLACEHOLDER_START",
    "ALIASES",
    "BACKBONE_KINDS",
    "additive_padding_mask",
    "cpt_bert_config",
    "load_backbone",
    "load_cpt_state_dict",
    "register_alias",
    "resolve_name",
]
