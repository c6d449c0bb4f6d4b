"""CPT (``fnlp/cpt-base``, ``fnlp/cpt-large``) as a frozen backbone: a stock transformers ``BertModel``.

The published CPT keeps its shared encoder (S-Enc) and understanding decoder (U-Dec) in one BERT stack of
``encoder_layers`` layers (large: 24 = 20 S-Enc + 4 U-Dec; base: 12 = 10 + 2); the last ``decoder_layers`` of
them are the U-Dec. BBTv2 and MP2 prompt the input of every layer of that stack and never run the generation
decoder (G-Dec). So the backbone is a transformers ``BertModel`` (no pooler) built from a ``BertConfig`` derived
from the hub's BartConfig-style ``config.json`` and loaded from the checkpoint by key name:

- keys may carry the task wrapper's ``model.`` prefix or not;
- ``encoder.embeddings.*`` -> ``embeddings.*``; ``encoder.encoder.layer.{i}.*`` -> ``encoder.layer.{i}.*``;
- the word embedding may come from any alias (``encoder.embeddings.word_embeddings.weight``, ``shared.weight``,
  ``decoder.embed_tokens.weight``); aliases present must be equal;
- the BERT position-table size comes from the tensor (v1 checkpoints: 512 rows although their config says 1024;
  v2: 1024);
- ignored: the G-Dec (``decoder.*``), the ``*.position_ids`` buffer, ``lm_head.weight`` (tied),
  ``final_logits_bias`` (kept for the MLM head), task heads (``qa_outputs.*``, ``cls_head.*``);
- token types are always 1 (CPT's wrapper forces them); the tokenizer is ``BertTokenizerFast`` on the
  checkpoint's ``vocab.txt``.

Facts and sources: ``/work/shared/reference/cpt-architecture.md`` (sections 2-6, 11).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from bbt_mp2.backbones.bert import ATTN_IMPLEMENTATION, BertBackbone
from bbt_mp2.backbones.weights import read_weights
from bbt_mp2.errors import ConfigError

__all__ = ["CPTBackbone", "CPTLoadReport", "cpt_bert_config", "load_cpt_state_dict", "is_cpt_state_dict"]

logger = logging.getLogger(__name__)

CPT_HUB_IDS = ("fnlp/cpt-base", "fnlp/cpt-large")
_WORD = "encoder.embeddings.word_embeddings.weight"
_WORD_ALIASES = (_WORD, "shared.weight", "decoder.embed_tokens.weight")
_POSITIONS = "encoder.embeddings.position_embeddings.weight"
_LAYER = re.compile(r"^encoder\.encoder\.layer\.(\d+)\.(.+)$")
_IGNORED = re.compile(
    r"^(decoder\.|lm_head\.|final_logits_bias$|qa_outputs\.|cls_head\.|shared\.weight$)|\.position_ids$|\.token_type_ids$"
)


@dataclass
class CPTLoadReport:
    """What :func:`load_cpt_state_dict` did with the checkpoint's keys.

    Attributes:
        loaded: BertModel keys filled from the checkpoint.
        ignored: checkpoint keys deliberately skipped (G-Dec, buffers, tied/aliased tensors, task heads).
        unexpected: checkpoint keys it did not recognise (logged as a warning; not loaded).
        prefix_stripped: whether the ``model.`` prefix was removed.
        positions: rows of the BERT position table (512 = v1 checkpoint, 1024 = v2).
        final_logits_bias: the checkpoint's ``final_logits_bias`` (``V``), if present (MLM head).
    """

    loaded: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    prefix_stripped: bool = False
    positions: int = 0
    final_logits_bias: Tensor | None = None


def is_cpt_state_dict(keys: list[str]) -> bool:
    """True if the tensor names look like a CPT checkpoint (a BERT stack under ``[model.]encoder.``)."""
    return any(k.removeprefix("model.") == _WORD or _LAYER.match(k.removeprefix("model.")) for k in keys)


def _cfg(config: dict[str, Any], *names: str) -> Any:
    for n in names:
        if n in config and config[n] is not None:
            return config[n]
    raise ConfigError(f"CPT config lacks {' / '.join(names)}; pass the checkpoint's config.json (BartConfig fields)")


def cpt_bert_config(config: dict[str, Any], *, vocab_size: int, positions: int):  # noqa: ANN201 - BertConfig
    """The ``BertConfig`` of the S-Enc + U-Dec stack from a CPT (BartConfig-style) config dict.

    Args:
        config: the checkpoint's ``config.json`` as a dict (``d_model``, ``encoder_layers``,
            ``encoder_attention_heads``, ``encoder_ffn_dim``, dropouts, ``pad_token_id``).
        vocab_size: rows of the word-embedding tensor.
        positions: rows of the BERT position-embedding tensor (not the config's ``max_position_embeddings``).
    """
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=int(_cfg(config, "d_model", "hidden_size")),
        num_hidden_layers=int(_cfg(config, "encoder_layers", "num_hidden_layers")),
        num_attention_heads=int(_cfg(config, "encoder_attention_heads", "num_attention_heads")),
        intermediate_size=int(_cfg(config, "encoder_ffn_dim", "intermediate_size")),
        max_position_embeddings=positions,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        hidden_act="gelu",
        hidden_dropout_prob=float(config.get("activation_dropout", 0.1)),
        attention_probs_dropout_prob=float(config.get("attention_dropout", 0.1)),
        pad_token_id=int(config.get("pad_token_id", 0) or 0),
        attn_implementation=ATTN_IMPLEMENTATION,
    )


def _strip_prefix(state: dict[str, Tensor]) -> tuple[dict[str, Tensor], bool]:
    stripped = any(k.startswith("model.") for k in state)
    return {k.removeprefix("model."): v for k, v in state.items()}, stripped


def _word_embedding(state: dict[str, Tensor]) -> Tensor:
    present = [k for k in _WORD_ALIASES if k in state]
    if not present:
        raise ConfigError(f"CPT checkpoint lacks the word embedding: none of {list(_WORD_ALIASES)} is present")
    ref = state[present[0]]
    for k in present[1:]:
        if state[k].shape != ref.shape or not torch.equal(state[k], ref):
            raise ConfigError(f"CPT checkpoint: {k!r} differs from {present[0]!r}; the word embeddings must be tied")
    return ref


def load_cpt_state_dict(state_dict: dict[str, Tensor], config: dict[str, Any]):  # noqa: ANN201 - (BertModel, report)
    """Build a transformers ``BertModel`` (no pooler, eval, frozen) from a CPT state dict in the published layout.

    Args:
        state_dict: CPT tensors by name (``CPTForConditionalGeneration``/``CPTModel`` layout, with or without
            ``model.``); see the module docstring.
        config: the checkpoint's ``config.json`` dict; ``encoder_layers`` is the depth of the BERT stack
            (S-Enc + U-Dec), ``decoder_layers`` the U-Dec depth.

    Returns:
        ``(model, report)``: the loaded ``BertModel`` (fp32, CPU) and a :class:`CPTLoadReport`.

    Raises:
        ConfigError: a needed tensor is missing (named), aliases differ, or the layers in the checkpoint do not
            match ``encoder_layers``.
    """
    from transformers import BertModel

    state, stripped = _strip_prefix(state_dict)
    word = _word_embedding(state)
    if _POSITIONS not in state:
        raise ConfigError(f"CPT checkpoint lacks {_POSITIONS!r} (the BERT position table)")
    positions = int(state[_POSITIONS].shape[0])
    bert_config = cpt_bert_config(config, vocab_size=int(word.shape[0]), positions=positions)
    n_layers = bert_config.num_hidden_layers
    report = CPTLoadReport(prefix_stripped=stripped, positions=positions)
    report.final_logits_bias = state.get("final_logits_bias")
    mapped: dict[str, Tensor] = {"embeddings.word_embeddings.weight": word}
    for key, value in state.items():
        if key == _WORD:
            report.loaded.append(key)
        elif (m := _LAYER.match(key)) is not None:
            if int(m.group(1)) >= n_layers:
                raise ConfigError(
                    f"CPT checkpoint has {key!r} but its config says encoder_layers={n_layers} "
                    "(S-Enc + U-Dec); the config does not belong to these weights"
                )
            mapped[f"encoder.layer.{m.group(1)}.{m.group(2)}"] = value
            report.loaded.append(key)
        elif key.startswith("encoder.embeddings.") and not _IGNORED.search(key):
            mapped[key.removeprefix("encoder.")] = value
            report.loaded.append(key)
        elif _IGNORED.search(key):
            report.ignored.append(key)
        else:
            report.unexpected.append(key)
    with torch.random.fork_rng(devices=[]):  # BertModel's init draws from the global RNG; keep the caller's state
        model = BertModel(bert_config, add_pooling_layer=False)
    needed = set(model.state_dict())
    missing = sorted(needed - set(mapped))
    if missing:
        raise ConfigError(
            f"CPT checkpoint lacks {len(missing)} needed tensor(s), e.g. "
            f"{['encoder.' + k for k in missing[:5]]} (keys relative to CPTModel); is it a complete fnlp/cpt-* file?"
        )
    if report.unexpected:
        logger.warning("CPT checkpoint: %d unrecognised keys not loaded, e.g. %s", len(report.unexpected),
                       report.unexpected[:5])  # fmt: skip
    model.load_state_dict({k: v.to(torch.float32) for k, v in mapped.items()}, strict=True)
    logger.info(
        "loaded CPT stack: %d layers (%d S-Enc + %d U-Dec), %d positions, vocab %d; ignored %d keys",
        n_layers, n_layers - int(config.get("decoder_layers", 0)), int(config.get("decoder_layers", 0)),
        positions, word.shape[0], len(report.ignored),
    )  # fmt: skip
    return model, report


class CPTBackbone(BertBackbone):
    """A frozen CPT BERT stack (S-Enc + U-Dec) with token types always 1.

    Attributes (beyond :class:`~bbt_mp2.backbones.base.Backbone`):
        n_udec_layers: number of U-Dec layers (the last ones of ``layers``).
        n_shared_layers: number of S-Enc layers (``n_layers - n_udec_layers``).
        load_report: the :class:`CPTLoadReport` of the checkpoint.
    """

    def __init__(self, model: Any, tokenizer: Any, *, name: str, n_udec_layers: int, report: CPTLoadReport,
                 source: str | Path | None = None) -> None:  # fmt: skip
        super().__init__(model, tokenizer, name=name, token_type_id=1, source=source)
        if not 0 <= n_udec_layers <= self.n_layers:
            raise ConfigError(f"decoder_layers={n_udec_layers} exceeds the {self.n_layers} layers of the stack")
        self.n_udec_layers = n_udec_layers
        self.n_shared_layers = self.n_layers - n_udec_layers
        self.load_report = report
        self.model_type = "cpt"

    def embed(
        self, input_ids: Tensor, token_type_ids: Tensor | None = None, position_ids: Tensor | None = None
    ) -> Tensor:
        """Embedding output with token type 1 everywhere (``token_type_ids`` is ignored, as CPT's wrapper does)."""
        return super().embed(input_ids, None, position_ids)

    @classmethod
    def from_state_dict(cls, state_dict: dict[str, Tensor], config: dict[str, Any], tokenizer: Any, *,
                        name: str, source: str | Path | None = None) -> CPTBackbone:  # fmt: skip
        """Build from tensors in the published layout (see :func:`load_cpt_state_dict`)."""
        model, report = load_cpt_state_dict(state_dict, config)
        n_udec = int(config.get("decoder_layers", 0))
        return cls(model, tokenizer, name=name, n_udec_layers=n_udec, report=report, source=source)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, *, revision: str | None = None) -> CPTBackbone:
        """Load a CPT folder (``config.json``, ``vocab.txt``, weights) or a hub id such as ``fnlp/cpt-large``.

        Hub ids are fetched with ``huggingface_hub`` (config, vocab, one weight file; cached); ``revision`` pins a
        hub commit (e.g. the v1 weights BBT/MP2 used).
        """
        from transformers import BertTokenizerFast

        folder = Path(name_or_path)
        if not folder.is_dir():
            folder = _download_cpt(str(name_or_path), revision)
        if not (folder / "config.json").is_file():
            raise ConfigError(f"{folder} has no config.json; a CPT folder needs config.json, vocab.txt and weights")
        config = json.loads((folder / "config.json").read_text())
        state = read_weights(folder)
        tokenizer = BertTokenizerFast.from_pretrained(str(folder))
        return cls.from_state_dict(state, config, tokenizer, name=str(name_or_path), source=folder)


def _download_cpt(repo_id: str, revision: str | None) -> Path:
    """Fetch a CPT hub repo's config, tokenizer files and one weight file (safetensors if present) into the cache."""
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError
    except ImportError as exc:  # pragma: no cover - transformers depends on huggingface_hub
        raise ConfigError("loading CPT from the hub needs huggingface_hub") from exc
    path = Path(hf_hub_download(repo_id, "config.json", revision=revision))
    hf_hub_download(repo_id, "vocab.txt", revision=revision)
    for fname in ("tokenizer_config.json", "special_tokens_map.json"):
        try:
            hf_hub_download(repo_id, fname, revision=revision)
        except EntryNotFoundError:
            pass
    try:
        hf_hub_download(repo_id, "model.safetensors", revision=revision)
    except EntryNotFoundError:
        hf_hub_download(repo_id, "pytorch_model.bin", revision=revision)
    return path.parent
