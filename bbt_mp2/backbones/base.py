"""The frozen-backbone adapter interface.

CONTRACT (owned by the backbones helper; the evaluator, the pre-training module and the tests rely on it).
A backbone wraps a *stock* model (transformers ``BertModel``/``RobertaModel`` or our CPT = ``BertModel`` loaded by
key name) and exposes its embedding step and its list of layers, so prompts are injected between the library's
own layer modules. It never holds prompt state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor, nn

__all__ = ["Backbone"]


class Backbone(nn.Module, ABC):
    """A frozen encoder: ``embed`` -> ``layers[0..L-1]`` -> final hidden states.

    Attributes:
        name: identifier (hub id or local path, e.g. ``"sentence-transformers/all-MiniLM-L6-v2"``).
        hidden: hidden size h.
        n_layers: number of transformer layers L (= number of deep injection points).
        token_type_id: the token type every input uses (0 for BERT family, 1 for CPT).
        tokenizer: a transformers (fast) tokenizer.
        layers: ``nn.ModuleList`` of the stock layer modules, in order.
    """

    name: str
    hidden: int
    n_layers: int
    token_type_id: int
    layers: nn.ModuleList

    @abstractmethod
    def embed(
        self, input_ids: Tensor, token_type_ids: Tensor | None = None, position_ids: Tensor | None = None
    ) -> Tensor:
        """Embedding output (word + position + type, LayerNorm): ``B x T`` ids -> ``B x T x h``.

        ``position_ids`` (``B x T`` int64) overrides the stock positions (:meth:`position_ids`); the ``cat`` prompt
        mode uses it to give the text the positions it has without the prompt slots."""

    def position_ids(self, input_ids: Tensor) -> Tensor:
        """The positions the stock embeddings give ``B x T`` ids: ``B x T`` int64 ``0..T-1`` (BERT)."""
        b, t = input_ids.shape
        return torch.arange(t, device=input_ids.device).expand(b, t)

    @abstractmethod
    def extended_mask(self, attention_mask: Tensor, dtype: torch.dtype) -> Tensor:
        """``B x T`` 0/1 mask -> the additive mask the stock layers take (e.g. ``B x 1 x 1 x T``)."""

    @abstractmethod
    def run_layer(self, index: int, hidden_states: Tensor, ext_mask: Tensor) -> Tensor:
        """Run stock layer ``index`` on ``B x T x h`` hidden states; returns ``B x T x h``."""

    @abstractmethod
    def word_embeddings(self) -> Tensor:
        """The input word-embedding matrix, ``V x h`` (for projection scaling and checkpoint hashing)."""

    @abstractmethod
    def placeholder_ids(self, n_tokens: int) -> list[int]:
        """``n_tokens`` fixed vocabulary ids used at positions ``1..n`` (ids 1000.. as in BBT/MP2)."""

    def embedding_hash(self) -> str:
        """Short sha256 of the word-embedding matrix; checkpoints record it to refuse other backbones."""
        import hashlib

        w = self.word_embeddings().detach().to("cpu", torch.float32).contiguous().numpy()
        return hashlib.sha256(w.tobytes()).hexdigest()[:16]

    def forward(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None) -> Tensor:
        """Plain unprompted forward: ``B x T`` -> last hidden states ``B x T x h``."""
        h = self.embed(input_ids, token_type_ids)
        ext = self.extended_mask(attention_mask, h.dtype)
        for i in range(self.n_layers):
            h = self.run_layer(i, h, ext)
        return h
