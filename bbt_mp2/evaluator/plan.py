"""Dataset preparation and micro-batch planning for the evaluator.

A prepared dataset holds its tensors on the compute device, sorted by real length (longest first) and cropped to
the longest real example, so micro-batches of similar-length examples can be cropped further. A micro-batch is a
rectangle of ``c`` candidates x ``g`` consecutive (sorted) examples, cropped to the longest of those ``g``, with
``c * g * T_chunk`` at most the token budget (a single row may exceed it: it is never split).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from bbt_mp2.encoding import EncodedDataset

__all__ = ["Chunk", "PreparedData", "WorkCounter", "cat_position_ids", "dataset_fingerprint", "no_answer_spans",
           "plan_chunks", "prepare", "split_layer"]


def dataset_fingerprint(dataset: EncodedDataset) -> str:
    """sha1 of what the forward pass reads and what the losses compare with (ids, masks, types, gold)."""
    digest = hashlib.sha1(f"{dataset.task}|{dataset.n_tokens}".encode())
    for arr in (dataset.input_ids, dataset.attention_mask, dataset.token_type_ids, dataset.start_positions,
                dataset.end_positions, dataset.option_spans, dataset.labels, dataset.context_spans,
                no_answer_spans(dataset), *_cloze_arrays(dataset)):
        a = np.ascontiguousarray(arr, dtype=np.int64)
        digest.update(repr(a.shape).encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def _cloze_arrays(dataset: EncodedDataset) -> tuple[np.ndarray, ...]:
    """Mask positions and verbalizer ids of a cloze-format dataset (:mod:`bbt_mp2.cloze`); none otherwise."""
    verbalizer = getattr(dataset, "verbalizer_ids", None)
    if verbalizer is None:
        return ()
    return (np.asarray(dataset.mask_positions), np.asarray(verbalizer))


@dataclass
class PreparedData:
    """A dataset on the compute device, sorted by real length (descending) and cropped to its longest example.

    Attributes:
        fingerprint: :func:`dataset_fingerprint` of the source.
        n_tokens: placeholder positions ``1..n_tokens``.
        order: ``N`` int64 ndarray; sorted row ``r`` is source example ``order[r]``.
        lengths: real length of each sorted row.
        input_ids, attention_mask, token_type_ids: ``N x T'`` int64 device tensors (``T'`` = longest real length).
        start_positions, end_positions, labels: ``N`` int64 device tensors.
        option_spans: ``N x C x 2`` int64 device tensor; context_spans: ``N x 2``; no_answer_spans: ``N x 2``
            (first, last) token of the no-answer phrase, -1 where there is none.
        mask_positions: ``N`` int64 device tensor of mask positions (cloze format, ``head=mlm``), else None.
        verbalizer_ids: the ``C`` verbalizer token ids (cloze format), else None.
    """

    fingerprint: str
    n_tokens: int
    order: np.ndarray
    lengths: list[int]
    input_ids: Tensor
    attention_mask: Tensor
    token_type_ids: Tensor
    start_positions: Tensor
    end_positions: Tensor
    labels: Tensor
    option_spans: Tensor
    context_spans: Tensor
    no_answer_spans: Tensor
    mask_positions: Tensor | None = None
    verbalizer_ids: tuple[int, ...] | None = None

    @property
    def cloze(self) -> bool:
        """Whether the dataset is in the cloze format (scored by the MLM head)."""
        return self.verbalizer_ids is not None

    def __len__(self) -> int:
        return len(self.lengths)


def prepare(dataset: EncodedDataset, device: torch.device, fingerprint: str | None = None) -> PreparedData:
    """Sort ``dataset`` by real length, crop it and move it to ``device``."""
    mask = np.asarray(dataset.attention_mask, dtype=np.int64)
    lengths = _real_lengths(mask)
    order = np.argsort(-lengths, kind="stable")
    t_max = int(lengths.max())

    def rows(arr: np.ndarray, crop: bool = False) -> Tensor:
        a = np.asarray(arr, dtype=np.int64)[order]
        return torch.as_tensor(a[:, :t_max] if crop else a, device=device).contiguous()

    spans = np.asarray(dataset.option_spans, dtype=np.int64)
    if spans.ndim != 3:
        spans = np.zeros((len(dataset), 0, 2), dtype=np.int64)
    return PreparedData(
        fingerprint=fingerprint or dataset_fingerprint(dataset),
        n_tokens=int(dataset.n_tokens),
        order=order,
        lengths=[int(x) for x in lengths[order]],
        input_ids=rows(dataset.input_ids, crop=True),
        attention_mask=rows(mask, crop=True),
        token_type_ids=rows(dataset.token_type_ids, crop=True),
        start_positions=rows(dataset.start_positions),
        end_positions=rows(dataset.end_positions),
        labels=rows(dataset.labels),
        option_spans=rows(spans),
        context_spans=rows(dataset.context_spans),
        no_answer_spans=rows(no_answer_spans(dataset)),
        **_cloze_rows(dataset, rows),
    )


def _cloze_rows(dataset: EncodedDataset, rows) -> dict:  # noqa: ANN001 - the row-gathering closure of prepare
    arrays = _cloze_arrays(dataset)
    if not arrays:
        return {}
    return {"mask_positions": rows(arrays[0]), "verbalizer_ids": tuple(int(v) for v in arrays[1])}


def no_answer_spans(dataset: EncodedDataset) -> np.ndarray:
    """``N x 2`` int64 (first, last) token of each example's no-answer phrase; ``-1`` rows where there is none
    (option tasks, or datasets encoded without the field)."""
    spans = dataset.no_answer_spans
    if spans is None:
        return np.full((len(dataset), 2), -1, dtype=np.int64)
    return np.asarray(spans, dtype=np.int64).reshape(len(dataset), 2)


def _real_lengths(mask: np.ndarray) -> np.ndarray:
    """Index of the last real token + 1 per row (robust to masks with holes)."""
    cols = np.arange(mask.shape[1])[None, :]
    return np.where(mask > 0, cols + 1, 0).max(axis=1)


@dataclass(frozen=True)
class Chunk:
    """Examples ``start..stop-1`` (sorted), cropped to ``length`` tokens, run ``cands`` candidates at a time."""

    start: int
    stop: int
    length: int
    cands: int


def plan_chunks(lengths: list[int], n_candidates: int, token_budget: int) -> list[Chunk]:
    """Split sorted examples into chunks so that each micro-batch has about ``token_budget`` tokens.

    Greedy: a chunk starts at the longest remaining example (length ``T``) and grows while all
    ``n_candidates`` candidates of it still fit (``n_candidates * g * T <= token_budget``); when even one example
    times all candidates does not fit, the chunk holds one example and candidates are split into groups of
    ``max(1, token_budget // T)``.

    Args:
        lengths: real lengths of the examples, sorted descending.
        n_candidates: how many candidates share the micro-batches (1 for a shared-prefix pass).
        token_budget: the most tokens (rows x cropped length) per micro-batch.

    Returns:
        Chunks covering ``0..len(lengths)`` in order.
    """
    chunks: list[Chunk] = []
    i, n = 0, len(lengths)
    while i < n:
        t = max(1, lengths[i])
        per_example = n_candidates * t
        g = max(1, min(n - i, token_budget // per_example))
        cands = n_candidates if per_example <= token_budget else max(1, token_budget // t)
        chunks.append(Chunk(i, i + g, t, cands))
        i += g
    return chunks


@dataclass
class WorkCounter:
    """What the stock layers were asked to do (for FLOP accounting): sums over every layer call of
    ``B*T`` (token rows) and ``B*T*T`` (attention pairs)."""

    tokens: int = 0
    pairs: int = 0

    def add(self, rows: int, length: int) -> None:
        self.tokens += rows * length
        self.pairs += rows * length * length


def split_layer(prompts: Tensor, layers: tuple[int, ...], n_layers: int) -> int:
    """The lowest prompted layer where candidates differ (``n_layers`` when all candidates are identical)."""
    for j, layer in enumerate(layers):
        block = prompts[:, j]
        if not bool((block == block[:1]).all()):
            return layer
    return n_layers


def cat_position_ids(stock: Tensor, n_tokens: int) -> Tensor:
    """Positions of the ``cat`` prompt mode: the text after the n prompt slots gets the stock positions it has
    without them (``j -> stock[j - n]`` for ``j > n``); ``[CLS]`` and the slots keep theirs (the slots' embeddings
    are replaced by the prompt).

    Args:
        stock: ``B x T`` int64 stock positions (``Backbone.position_ids``).
        n_tokens: n, the prompt slots ``1..n``.

    Returns:
        ``B x T`` int64.
    """
    src = torch.arange(stock.shape[1], device=stock.device)
    src[n_tokens + 1:] -= n_tokens
    return stock.gather(1, src.expand_as(stock))
