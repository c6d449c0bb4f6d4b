"""BERT-family backbones: a stock transformers ``BertModel`` / ``RobertaModel``, frozen, exposed layer by layer.

The wrapped model is never copied or patched: :meth:`BertBackbone.embed` calls the model's own embeddings module
and :meth:`BertBackbone.run_layer` calls the stock layer's own ``forward``. Prompts are added by the caller between
those calls (see :class:`bbt_mp2.backbones.base.Backbone`).

Attention masks. In transformers 5.x ``BertModel.forward`` builds its mask with
``masking_utils.create_bidirectional_mask``: for the ``eager`` implementation an additive float mask
``B x 1 x T x T`` (0 kept, ``finfo(dtype).min`` masked), for ``sdpa`` a boolean mask (or ``None`` when nothing is
padded). Both attention functions accept an additive float mask that broadcasts over heads and query positions, so
:meth:`BertBackbone.extended_mask` returns ``B x 1 x 1 x T`` with 0 / ``finfo(dtype).min``; it gives the stock output
for every row that keeps at least one key (always true: [CLS] is never padded).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from bbt_mp2.backbones.base import Backbone
from bbt_mp2.errors import ConfigError, ShapeError

__all__ = ["BertBackbone", "PLACEHOLDER_START", "additive_padding_mask"]

logger = logging.getLogger(__name__)

PLACEHOLDER_START = 1000  # BBT / MP2 place their n prompt tokens on vocabulary ids 1000..1000+n-1
ATTN_IMPLEMENTATION = "sdpa"  # fastest stock attention on CPU and GPU; takes the additive mask below


def additive_padding_mask(attention_mask: Tensor, dtype: torch.dtype) -> Tensor:
    """Turn a ``B x T`` 0/1 padding mask into the additive ``B x 1 x 1 x T`` mask of the stock BERT layers.

    Args:
        attention_mask: ``B x T`` integer/bool/float tensor, 1 (or True) for real tokens, 0 for padding.
        dtype: floating dtype of the hidden states (fp32, bf16, fp16).

    Returns:
        ``B x 1 x 1 x T`` tensor of ``dtype``: 0 at kept keys, ``torch.finfo(dtype).min`` at padded keys.

    Raises:
        ShapeError: if ``attention_mask`` is not 2-dimensional.
    """
    if attention_mask.dim() != 2:
        raise ShapeError(
            f"attention_mask must be B x T (2-D); got shape {tuple(attention_mask.shape)}. "
            "Pass the tokenizer's 0/1 padding mask."
        )
    keep = attention_mask.to(torch.bool)[:, None, None, :]
    zero = torch.zeros((), dtype=dtype, device=attention_mask.device)
    neg = torch.full((), torch.finfo(dtype).min, dtype=dtype, device=attention_mask.device)
    return torch.where(keep, zero, neg)


def freeze_(model: nn.Module) -> nn.Module:
    """Put ``model`` in eval mode and switch off gradients of all its parameters (in place); returns it."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class BertBackbone(Backbone):
    """A frozen BERT / RoBERTa / MiniLM encoder from transformers, exposed as ``embed`` + ``layers``.

    The module is always in eval mode (dropout off), also after ``.train()``: a frozen backbone never trains.

    Args:
        model: a stock transformers ``BertModel`` or ``RobertaModel`` (any model with ``.embeddings`` and
            ``.encoder.layer``); it is frozen in place.
        tokenizer: the model's (fast) tokenizer.
        name: identifier recorded in checkpoints (hub id, alias or path).
        token_type_id: token type every input uses (0 for the BERT family; CPT uses 1).
        source: folder or hub id the weights came from (used to load an MLM head from the same files).

    The embedding hash is computed once, at construction, from the weights as loaded (fp32 from
    :func:`~bbt_mp2.backbones.load_backbone`), so a checkpoint made with the fp32 backbone is accepted by the
    same backbone converted to bf16 later.

    Example:
        >>> bb = load_backbone("minilm")                       # doctest: +SKIP
        >>> h = bb(batch["input_ids"], batch["attention_mask"])  # B x T x 384
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        *,
        name: str,
        token_type_id: int = 0,
        source: str | Path | None = None,
    ) -> None:
        super().__init__()
        if not hasattr(model, "embeddings") or not hasattr(getattr(model, "encoder", None), "layer"):
            raise ConfigError(
                f"BertBackbone needs a transformers BertModel/RobertaModel (with .embeddings and .encoder.layer); "
                f"got {type(model).__name__}"
            )
        self.model = freeze_(model)
        self.tokenizer = tokenizer
        self.name = name
        self.source = str(source) if source is not None else None
        config = model.config
        self.hidden = int(config.hidden_size)
        self.n_layers = len(model.encoder.layer)
        self.vocab_size = int(config.vocab_size)
        self.max_positions = int(model.embeddings.position_embeddings.num_embeddings)
        type_vocab = int(model.embeddings.token_type_embeddings.num_embeddings)
        if not 0 <= token_type_id < type_vocab:
            raise ConfigError(f"token_type_id={token_type_id} is outside the model's {type_vocab} token types")
        self.token_type_id = token_type_id
        self.model_type = str(getattr(config, "model_type", "bert"))
        self.train(False)
        self._embedding_hash = super().embedding_hash()

    # ``layers`` is a view of the stock ModuleList; a property keeps it out of the state dict a second time.
    @property
    def layers(self) -> nn.ModuleList:  # type: ignore[override]
        """The stock layer modules, in order (``n_layers`` of them)."""
        return self.model.encoder.layer

    def train(self, mode: bool = True) -> BertBackbone:
        """Keep the frozen backbone in eval mode whatever ``mode`` says (dropout stays off)."""
        return super().train(False)

    def embed(
        self, input_ids: Tensor, token_type_ids: Tensor | None = None, position_ids: Tensor | None = None
    ) -> Tensor:
        """Embedding output of the stock embeddings module (word + position + type, LayerNorm, no dropout).

        Args:
            input_ids: ``B x T`` int64 token ids.
            token_type_ids: ``B x T`` int64 token types; default: all ``self.token_type_id``.
            position_ids: ``B x T`` int64 positions; default: the stock ones (:meth:`position_ids`).

        Returns:
            ``B x T x hidden`` float tensor in the model's dtype.
        """
        if input_ids.dim() != 2:
            raise ShapeError(f"input_ids must be B x T; got shape {tuple(input_ids.shape)}")
        if input_ids.shape[1] > self.max_positions:
            raise ShapeError(
                f"sequence length {input_ids.shape[1]} exceeds the {self.max_positions} positions of {self.name!r}; "
                "encode with a smaller max_length"
            )
        if token_type_ids is None:
            token_type_ids = torch.full_like(input_ids, self.token_type_id)
        if position_ids is not None and position_ids.shape != input_ids.shape:
            raise ShapeError(f"position_ids {tuple(position_ids.shape)} must match input_ids {tuple(input_ids.shape)}")
        return self.model.embeddings(input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids)

    def position_ids(self, input_ids: Tensor) -> Tensor:
        """The stock positions of ``B x T`` ids: ``0..T-1`` (BERT), or RoBERTa's ``padding_idx + 1 + j`` at real
        tokens (``padding_idx`` at padding), as the embeddings module computes them itself."""
        emb = self.model.embeddings
        if hasattr(emb, "create_position_ids_from_input_ids"):
            return emb.create_position_ids_from_input_ids(input_ids, emb.padding_idx)
        return super().position_ids(input_ids)

    def extended_mask(self, attention_mask: Tensor, dtype: torch.dtype) -> Tensor:
        """``B x T`` 0/1 mask -> additive ``B x 1 x 1 x T`` mask (see :func:`additive_padding_mask`)."""
        return additive_padding_mask(attention_mask, dtype)

    def run_layer(self, index: int, hidden_states: Tensor, ext_mask: Tensor) -> Tensor:
        """Run stock layer ``index`` (its own forward) on ``B x T x h`` states with a ``B x 1 x 1 x T`` mask.

        ``ext_mask`` may have batch size 1 (broadcast) or the batch size of ``hidden_states``.
        """
        if not 0 <= index < self.n_layers:
            raise ConfigError(f"layer index {index} is out of range for a {self.n_layers}-layer backbone")
        out = self.layers[index](hidden_states, attention_mask=ext_mask)
        return out[0] if isinstance(out, tuple) else out

    def embedding_hash(self) -> str:
        """Short sha256 of the word embeddings as loaded (dtype conversions afterwards do not change it)."""
        return self._embedding_hash

    def word_embeddings(self) -> Tensor:
        """Input word-embedding matrix ``V x h`` (a view of the frozen weight)."""
        return self.model.embeddings.word_embeddings.weight

    def placeholder_ids(self, n_tokens: int) -> list[int]:
        """Ids ``1000 .. 1000 + n_tokens - 1`` (BBT / MP2 convention); checked against the vocabulary size."""
        if n_tokens < 0:
            raise ConfigError(f"n_tokens must be >= 0; got {n_tokens}")
        if PLACEHOLDER_START + n_tokens > self.vocab_size:
            raise ConfigError(
                f"n_tokens={n_tokens} placeholders need ids {PLACEHOLDER_START}..{PLACEHOLDER_START + n_tokens - 1}, "
                f"but {self.name!r} has only {self.vocab_size} vocabulary entries; use a shorter prompt"
            )
        return list(range(PLACEHOLDER_START, PLACEHOLDER_START + n_tokens))

    @property
    def pad_token_id(self) -> int:
        """Id of the padding token (0 for BERT, 1 for RoBERTa)."""
        pad = getattr(self.tokenizer, "pad_token_id", None)
        return int(pad if pad is not None else getattr(self.model.config, "pad_token_id", 0) or 0)

    @property
    def mask_token_id(self) -> int | None:
        """Id of the ``[MASK]``/``<mask>`` token, or None if the tokenizer has none."""
        return getattr(self.tokenizer, "mask_token_id", None)

    @property
    def device(self) -> torch.device:
        return self.word_embeddings().device

    @property
    def dtype(self) -> torch.dtype:
        return self.word_embeddings().dtype
