"""Heads on top of a frozen backbone: the MRC span head (MP2) and the MLM verbalizer head (classic BBT).

Every function batches over any number of leading dimensions (``*batch``: examples ``B``, or a population
``P x B`` flattened or not), so a whole population is scored in one call.

MRC span head (:class:`MRCHead`): ``Linear(h, 2)`` on the last hidden states gives a start and an end logit per
token. Option tasks score option ``c`` as ``start[first_c] + end[last_c]`` (:func:`option_scores`); span tasks
decode the best valid span inside the context region (:func:`best_spans`).

MLM verbalizer head (:class:`MLMVerbalizerHead`): the backbone's own masked-LM head evaluated at the ``[MASK]``
position, restricted to one verbalizer token id per class. Only backbones whose published weights carry an MLM head
have one: BERT (``cls.predictions.*``), RoBERTa (``lm_head.*``) and CPT (the tied word embeddings, as BBT uses it).
The MiniLM package ships none; :func:`load_mlm_head` says so.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from bbt_mp2.backend import HEAD_KINDS, SCORINGS
from bbt_mp2.errors import ConfigError, ShapeError

if TYPE_CHECKING:
    from bbt_mp2.backbones.base import Backbone
    from bbt_mp2.checkpoint import MP2Checkpoint

__all__ = ["MRCHead", "SCORINGS", "HEAD_KINDS", "option_scores", "best_spans", "masked_fill_value",
           "MLMVerbalizerHead", "load_mlm_head"]

logger = logging.getLogger(__name__)


def masked_fill_value(dtype: torch.dtype) -> float:
    """The large negative logit given to padded positions: ``finfo(dtype).min / 4`` (sums of two stay finite)."""
    return torch.finfo(dtype).min / 4


class MRCHead(nn.Module):
    """MRC span head ``Linear(hidden, 2)``: per-token start and end logits.

    Args:
        hidden: hidden size h of the backbone.
        seed: seed of the initial weight, N(0, 0.02^2) from a private generator (the bias starts at 0, as in
            MP2). An untrained head is a control, not a predictor; pre-training or :meth:`from_checkpoint` gives
            the real one.
    """

    def __init__(self, hidden: int, *, seed: int = 0) -> None:
        super().__init__()
        if hidden < 1:
            raise ConfigError(f"MRCHead hidden size must be >= 1; got {hidden}")
        self.hidden = hidden
        self.linear = nn.Linear(hidden, 2)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.linear.weight.copy_(0.02 * torch.randn(2, hidden, generator=gen))
            self.linear.bias.zero_()

    @classmethod
    def from_checkpoint(cls, ckpt: MP2Checkpoint) -> MRCHead:
        """The head stored in an MP2 checkpoint (``head_weight`` ``2 x h``, ``head_bias`` ``2``)."""
        head = cls(ckpt.config.hidden)
        with torch.no_grad():
            head.linear.weight.copy_(ckpt.head_weight.to(torch.float32))
            head.linear.bias.copy_(ckpt.head_bias.to(torch.float32))
        return head

    def forward(self, hidden_states: Tensor, attention_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Start and end logits.

        Args:
            hidden_states: ``*batch x T x h`` float tensor (last hidden states).
            attention_mask: optional ``*batch x T`` 0/1 mask (broadcastable); padded positions get
                :func:`masked_fill_value`.

        Returns:
            ``(start, end)``, each ``*batch x T`` in the dtype of ``hidden_states``.
        """
        if hidden_states.shape[-1] != self.hidden:
            raise ShapeError(
                f"MRCHead expects hidden size {self.hidden}; got hidden states of shape {tuple(hidden_states.shape)}"
            )
        w = self.linear.weight.to(hidden_states.dtype)
        b = self.linear.bias.to(hidden_states.dtype)
        logits = torch.nn.functional.linear(hidden_states, w, b)
        start, end = logits[..., 0], logits[..., 1]
        if attention_mask is not None:
            pad = ~attention_mask.to(torch.bool)
            fill = masked_fill_value(start.dtype)
            start, end = start.masked_fill(pad, fill), end.masked_fill(pad, fill)
        return start, end

    def option_scores(self, start: Tensor, end: Tensor, option_spans: Tensor, scoring: str = "sum") -> Tensor:
        """Per-option scores; see :func:`option_scores`."""
        return option_scores(start, end, option_spans, scoring=scoring)

    def best_spans(
        self,
        start: Tensor,
        end: Tensor,
        context_spans: Tensor,
        max_answer_tokens: int = 30,
        no_answer_spans: Tensor | None = None,
    ) -> Tensor:
        """Best valid spans; see :func:`best_spans`."""
        return best_spans(start, end, context_spans, max_answer_tokens, no_answer_spans)


def option_scores(
    start: Tensor, end: Tensor, option_spans: Tensor, *, scoring: str = "sum", validate: bool = True
) -> Tensor:
    """Score each option from the start logit of its first token and the end logit of its last token.

    ``scoring="sum"``: ``start[first] + end[last]`` (the default). ``scoring="product"``: ``start[first] *
    end[last]``, the raw product the MP2 reference code ranks options by (not monotone in either probability: two
    negative logits give a large positive score).

    Args:
        start: ``*batch x T`` start logits.
        end: ``*batch x T`` end logits.
        option_spans: ``*batch x C x 2`` int (first, last) token positions, inclusive; rows of -1 mark padded
            options (fewer than C). Leading dims broadcast against ``*batch`` (e.g. ``B x C x 2`` for ``P x B``).
        scoring: ``sum`` or ``product`` (:data:`SCORINGS`).
        validate: check ``0 <= first <= last < T`` (a host sync on GPU; hot loops that validated their dataset
            once may pass False).

    Returns:
        ``*batch x C`` scores; padded options get ``-inf``.

    Raises:
        ShapeError: on mismatched shapes or a position outside ``0..T-1``.
        ConfigError: an unknown ``scoring``.
    """
    if scoring not in SCORINGS:
        raise ConfigError(f"option scoring {scoring!r} is unknown; choose one of {SCORINGS}")
    if start.shape != end.shape:
        raise ShapeError(f"start {tuple(start.shape)} and end {tuple(end.shape)} logits differ in shape")
    spans = torch.as_tensor(option_spans, device=start.device).to(torch.int64)  # ndarray or Tensor
    if spans.dim() < 2 or spans.shape[-1] != 2:
        raise ShapeError(f"option_spans must be *batch x C x 2; got {tuple(spans.shape)}")
    batch, T = start.shape[:-1], start.shape[-1]
    try:
        spans = spans.broadcast_to((*batch, spans.shape[-2], 2))
    except RuntimeError:
        raise ShapeError(
            f"option_spans {tuple(option_spans.shape)} does not broadcast to logits batch shape {tuple(batch)}"
        ) from None
    valid = (spans[..., 0] >= 0) & (spans[..., 1] >= 0)
    if validate:
        bad = valid & ((spans[..., 1] >= T) | (spans[..., 0] > spans[..., 1]))
        if bool(bad.any()):
            raise ShapeError(f"option spans must satisfy 0 <= first <= last < T={T}; got {spans[bad].tolist()[:5]}")
    idx = spans.clamp(min=0)
    first, last = start.gather(-1, idx[..., 0]), end.gather(-1, idx[..., 1])
    scores = first + last if scoring == "sum" else first * last
    return scores.masked_fill(~valid, float("-inf"))


def best_spans(
    start: Tensor,
    end: Tensor,
    context_spans: Tensor,
    max_answer_tokens: int = 30,
    no_answer_spans: Tensor | None = None,
) -> Tensor:
    """The highest-scoring valid answer span (``start[i] + end[j]``) per row.

    A span ``(i, j)`` is valid when ``first <= i <= j <= last`` of the row's context region and
    ``j - i < max_answer_tokens``. When ``no_answer_spans`` is given, that span is a candidate too (whatever its
    length); it wins ties and is the answer when the context region is empty.

    Args:
        start: ``*batch x T`` start logits.
        end: ``*batch x T`` end logits.
        context_spans: ``*batch x 2`` int (first, last) token of the region answers may lie in; -1 = empty.
        max_answer_tokens: longest answer, in tokens (>= 1).
        no_answer_spans: optional ``*batch x 2`` int (first, last) of the no-answer phrase; -1 = none.

    Returns:
        ``*batch x 2`` int64 (start, end) token positions, inclusive; ``(-1, -1)`` if the row has no candidate.
    """
    if start.shape != end.shape:
        raise ShapeError(f"start {tuple(start.shape)} and end {tuple(end.shape)} logits differ in shape")
    if max_answer_tokens < 1:
        raise ConfigError(f"max_answer_tokens must be >= 1; got {max_answer_tokens}")
    batch, T = start.shape[:-1], start.shape[-1]
    ctx = _broadcast_pairs(context_spans, batch, start.device, "context_spans")
    K = min(max_answer_tokens, T)
    pos = torch.arange(T, device=start.device)
    # band[..., i, k] = start[i] + end[i + k]: every span of length k + 1 starting at i.
    end_pad = torch.nn.functional.pad(end, (0, K - 1), value=0.0)
    band = start.unsqueeze(-1) + end_pad.unfold(-1, K, 1)  # *batch x T x K
    j = pos[:, None] + torch.arange(K, device=start.device)[None, :]  # T x K
    first, last = ctx[..., 0, None, None], ctx[..., 1, None, None]
    ok = (pos[:, None] >= first) & (j <= last) & (first >= 0)
    band = band.masked_fill(~ok, float("-inf"))
    flat = band.flatten(-2)
    best_score, best = flat.max(-1)
    out = torch.stack((best // K, best // K + best % K), dim=-1)
    out = torch.where(torch.isfinite(best_score)[..., None], out, torch.full_like(out, -1))
    if no_answer_spans is not None:
        na = _broadcast_pairs(no_answer_spans, batch, start.device, "no_answer_spans")
        has = (na[..., 0] >= 0) & (na[..., 1] >= 0)
        idx = na.clamp(min=0)
        na_score = start.gather(-1, idx[..., :1])[..., 0] + end.gather(-1, idx[..., 1:])[..., 0]
        use = has & ((na_score >= best_score) | ~torch.isfinite(best_score))
        out = torch.where(use[..., None], na, out)
    return out


def _broadcast_pairs(spans: Tensor, batch: torch.Size, device: torch.device, what: str) -> Tensor:
    spans = torch.as_tensor(spans, device=device).to(torch.int64)
    if spans.shape[-1:] != (2,):
        raise ShapeError(f"{what} must be *batch x 2; got {tuple(spans.shape)}")
    try:
        return spans.broadcast_to((*batch, 2))
    except RuntimeError:
        raise ShapeError(
            f"{what} {tuple(spans.shape)} does not broadcast to logits batch shape {tuple(batch)}"
        ) from None


class MLMVerbalizerHead(nn.Module):
    """Classic BBT head: the backbone's masked-LM logits at the ``[MASK]`` position, one verbalizer token per class.

    ``score[c] = decoder_weight[v_c] . transform(h[mask]) + decoder_bias[v_c]`` for verbalizer ids ``v_c``: only
    the C needed rows of the vocabulary projection are computed. The tensors are the backbone's own (frozen).

    Args:
        transform: ``h -> h`` module applied before the vocabulary projection (BERT: dense, GELU, LayerNorm;
            RoBERTa: the same from ``lm_head``; CPT: identity).
        decoder_weight: ``V x h`` vocabulary projection (tied to the word embeddings in all three families).
        decoder_bias: ``V`` bias, or None.
        verbalizer_ids: default token id per class (``C``); :meth:`forward` may override it.
    """

    def __init__(
        self,
        transform: nn.Module,
        decoder_weight: Tensor,
        decoder_bias: Tensor | None = None,
        *,
        verbalizer_ids: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.transform = transform
        self.register_buffer("decoder_weight", decoder_weight.detach())
        vocab = decoder_weight.shape[0]
        bias = decoder_bias.detach().reshape(-1) if decoder_bias is not None else torch.zeros(vocab)
        if bias.shape != (vocab,):
            raise ShapeError(f"MLM decoder bias has shape {tuple(bias.shape)}; expected ({vocab},)")
        self.register_buffer("decoder_bias", bias.to(decoder_weight.dtype))
        self.verbalizer_ids = list(verbalizer_ids) if verbalizer_ids is not None else None
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    @property
    def vocab_size(self) -> int:
        return int(self.decoder_weight.shape[0])

    def vocab_logits(self, masked_hidden: Tensor) -> Tensor:
        """Full MLM logits: ``*batch x h`` hidden states at mask positions -> ``*batch x V``."""
        x = self.transform(masked_hidden)
        return torch.nn.functional.linear(x, self.decoder_weight.to(x.dtype), self.decoder_bias.to(x.dtype))

    def forward(
        self, hidden_states: Tensor, mask_positions: Tensor, verbalizer_ids: Sequence[int] | None = None
    ) -> Tensor:
        """Verbalizer scores at the mask position.

        Args:
            hidden_states: ``*batch x T x h`` last hidden states.
            mask_positions: ``*batch`` int positions of the ``[MASK]`` token (broadcast against ``*batch``).
            verbalizer_ids: token id per class (``C``); default: the ids given at construction.

        Returns:
            ``*batch x C`` logits of the verbalizer tokens.
        """
        ids = list(verbalizer_ids) if verbalizer_ids is not None else self.verbalizer_ids
        if not ids:
            raise ConfigError("MLMVerbalizerHead needs verbalizer_ids (one token id per class)")
        if min(ids) < 0 or max(ids) >= self.vocab_size:
            raise ConfigError(f"verbalizer ids {ids} fall outside the vocabulary 0..{self.vocab_size - 1}")
        batch, T = hidden_states.shape[:-2], hidden_states.shape[-2]
        pos = torch.as_tensor(mask_positions, device=hidden_states.device).to(torch.int64).broadcast_to(batch)
        if bool(((pos < 0) | (pos >= T)).any()):
            raise ShapeError(f"mask positions must lie in 0..{T - 1}; got {pos.unique().tolist()[:5]}")
        index = pos[..., None, None].expand(*batch, 1, hidden_states.shape[-1])
        x = self.transform(hidden_states.gather(-2, index)[..., 0, :])
        idx = torch.as_tensor(ids, device=x.device)
        w, b = self.decoder_weight[idx].to(x.dtype), self.decoder_bias[idx].to(x.dtype)
        return torch.nn.functional.linear(x, w, b)


class _LMHeadTransform(nn.Module):
    """RoBERTa's ``lm_head`` before its decoder: dense -> GELU -> LayerNorm (the stock submodules, in order)."""

    def __init__(self, dense: nn.Module, layer_norm: nn.Module) -> None:
        super().__init__()
        self.dense, self.layer_norm = dense, layer_norm

    def forward(self, x: Tensor) -> Tensor:
        return self.layer_norm(torch.nn.functional.gelu(self.dense(x)))


_MLM_KEY_PREFIXES = ("cls.predictions.", "lm_head.")


def load_mlm_head(backbone: Backbone, verbalizer_ids: Sequence[int] | None = None) -> MLMVerbalizerHead:
    """The MLM verbalizer head of a backbone whose published weights include a masked-LM head.

    CPT: the tied word embeddings (+ ``final_logits_bias`` if the checkpoint has it), no transform, as BBT uses
    it. BERT / RoBERTa: the ``cls.predictions.*`` / ``lm_head.*`` tensors of the same checkpoint, loaded with
    transformers' ``AutoModelForMaskedLM``.

    Raises:
        ConfigError: the backbone's weights carry no MLM head (e.g. all-MiniLM-L6-v2, a sentence encoder), or the
            backbone was built in memory (no folder or hub id to read the head from): ``head=mlm`` needs a
            backbone with one; use ``head=mrc`` with the MRC head of an MP2 checkpoint (``bbt-mp2 pretrain``).
    """
    if getattr(backbone, "model_type", None) == "cpt":
        report = getattr(backbone, "load_report", None)
        bias = getattr(report, "final_logits_bias", None)
        return MLMVerbalizerHead(nn.Identity(), backbone.word_embeddings(), bias, verbalizer_ids=verbalizer_ids)
    source = getattr(backbone, "source", None)
    if source is None:
        raise ConfigError(
            f"backbone {backbone.name!r} was built in memory, so there are no published weights to read an MLM head "
            f"from; head=mlm needs a backbone loaded from a folder or hub id whose weights carry one "
            f"({_MLM_HINT}); or use head=mrc"
        )
    if Path(source).is_dir():
        from bbt_mp2.backbones.weights import weight_keys

        if not any(k.startswith(_MLM_KEY_PREFIXES) for k in weight_keys(source)):
            raise ConfigError(
                f"backbone {backbone.name!r} ships no MLM head (its weights in {source} have no "
                f"{' / '.join(p + '*' for p in _MLM_KEY_PREFIXES)} tensors), so head=mlm (classic BBT's verbalizer "
                f"head) is unavailable: it needs a backbone with an MLM head ({_MLM_HINT}); or use head=mrc with the "
                "MRC span head of an MP2 checkpoint (make one with `bbt-mp2 pretrain`)"
            )
    return _hf_mlm_head(backbone, str(source), verbalizer_ids)


_MLM_HINT = "e.g. --backbone roberta-large, bert-base, cpt-large"


def _hf_mlm_head(backbone: Backbone, target: str, verbalizer_ids: Sequence[int] | None) -> MLMVerbalizerHead:
    from transformers import AutoModelForMaskedLM

    local = Path(target).is_dir()
    mlm, info = AutoModelForMaskedLM.from_pretrained(
        target, local_files_only=local, output_loading_info=True,
        revision=None if local else getattr(backbone, "revision", None),
    )
    head_missing = [k for k in info.get("missing_keys", []) if k.startswith(_MLM_KEY_PREFIXES)]
    if head_missing:
        raise ConfigError(f"backbone {backbone.name!r} ships no MLM head ({head_missing[:3]} missing in {target}); "
                          f"head=mlm needs a backbone with one ({_MLM_HINT})")
    decoder = mlm.get_output_embeddings()
    if hasattr(mlm, "cls"):  # BERT: cls.predictions.{transform, decoder, bias}
        transform, bias = mlm.cls.predictions.transform, mlm.cls.predictions.bias
    elif hasattr(mlm, "lm_head"):  # RoBERTa: lm_head.{dense, layer_norm, decoder, bias}
        transform, bias = _LMHeadTransform(mlm.lm_head.dense, mlm.lm_head.layer_norm), mlm.lm_head.bias
    else:
        raise ConfigError(f"no known MLM head layout in {type(mlm).__name__}; supported: BERT, RoBERTa, CPT")
    head = MLMVerbalizerHead(transform, decoder.weight, bias, verbalizer_ids=verbalizer_ids)
    return head.to(device=backbone.word_embeddings().device, dtype=backbone.word_embeddings().dtype)
