"""MRC example -> token ids with n placeholder positions after [CLS]; option spans; answer positions.

CONTRACT (owned by the encoding helper; the dataclass fields below are used by the evaluator, the methods and
the server, so keep them; adding fields is fine):

Layout of every encoded example: ``[CLS] p_1 .. p_n <MRC text tokens> [SEP] [PAD]...`` where ``p_i`` are fixed
vocabulary ids (the placeholder ids of the backbone), so placeholder positions are ``1..n``.

Truncation: when ``2 + n + len(MRC tokens) > max_length``, only the quoted input texts of the query template
(``QueryTemplate.cut`` roles: the sentence(s) of a classifier, the passage of a span or multiple-choice task) are
shortened, from the right, longest first; the query wording, the question and the options are never cut. A span
example whose every gold answer lies in the cut-away text is counted in ``n_answer_lost``, reported with
``logging.warning``, kept, and trained towards the no-answer phrase of the hard prompt (its ``answers`` still hold
the gold strings, so metrics count it as a miss).

Speed: texts are tokenised in batches by the fast tokenizer (offset mappings give the character -> token maps);
the option list shared by every classification text is tokenised once (checked against whole-text tokenisation
on a few texts); very long inputs are capped in characters before the first pass (exactness kept, see
:func:`bbt_mp2.encoding_truncation.fit_to_budget`).
A 2,000-example test set encodes in a few CPU seconds.

Modules: this one lays out and assembles the encoded examples (:func:`encode`); the dataset type and its statistics
live in :mod:`bbt_mp2.encoding_dataset`, batched tokenisation and character -> token spans in
:mod:`bbt_mp2.encoding_tokens`, truncation in :mod:`bbt_mp2.encoding_truncation`. Import every public name from
here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from bbt_mp2.encoding_dataset import EncodedDataset, encoding_stats
from bbt_mp2.encoding_tokens import BatchTokenizer, char_span_to_tokens, token_spans
from bbt_mp2.encoding_truncation import fit_to_budget
from bbt_mp2.errors import ConfigError
from bbt_mp2.mrc import MRCExample, option_list_text, to_mrc
from bbt_mp2.tasks.types import SPAN_TYPES, Example, TaskSpec, TaskType

__all__ = ["EncodedDataset", "encode", "char_span_to_tokens", "default_max_length", "encoding_stats",
           "REFERENCE_MAX_LENGTH", "REFERENCE_MAX_LENGTH_CHOICE"]

logger = logging.getLogger(__name__)

_CAP_MIN_EXAMPLES = 8  # pre-cap long inputs in characters only when at least this many examples have them (speed)
_SUFFIX_PROBES = 4  # texts tokenised whole to check that the shared option list tokenises on its own

REFERENCE_MAX_LENGTH = 512  # the MP2 reference code's sequence length (CPT v1 has 512 positions)
REFERENCE_MAX_LENGTH_CHOICE = 460  # ... and for multiple-choice tasks


def default_max_length(task_type: TaskType | str, max_positions: int | None = None) -> int:
    """The default ``max_length`` of a task on a backbone: the reference code's length, capped by the backbone.

    The reference encoded 512 tokens (460 for multiple choice); a fixed 128 with n = 50 placeholders left 76 text
    tokens and cut Chinese reviews, CMRC, DRCD and C3 hard. Short datasets are not padded to it: ``T`` is the
    longest encoded example.

    Args:
        task_type: the task's :class:`TaskType` (or its value).
        max_positions: the backbone's position-table size (``Backbone.max_positions``, ``ModelInfo.max_positions``);
            None = no cap.

    Returns:
        ``min(512 or 460, max_positions)``.
    """
    choice = TaskType(task_type) is TaskType.MULTIPLE_CHOICE
    length = REFERENCE_MAX_LENGTH_CHOICE if choice else REFERENCE_MAX_LENGTH
    return length if max_positions is None else min(length, int(max_positions))


def _check_args(tokenizer: Any, n_tokens: int, placeholder_ids: Sequence[int], max_length: int) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(
            f"encode needs a fast tokenizer (offset mapping); got {type(tokenizer).__name__}; "
            "load it with AutoTokenizer.from_pretrained(..., use_fast=True)"
        )
    if n_tokens < 0 or len(placeholder_ids) != n_tokens:
        raise ConfigError(
            f"placeholder_ids has {len(placeholder_ids)} ids but n_tokens={n_tokens}; pass exactly n_tokens ids "
            "(e.g. backbone.placeholder_ids(n_tokens))"
        )
    if max_length < n_tokens + 3:
        raise ConfigError(
            f"max_length={max_length} leaves no room for text after [CLS], {n_tokens} placeholders, [SEP]"
        )
    if tokenizer.cls_token_id is None or tokenizer.sep_token_id is None or tokenizer.pad_token_id is None:
        raise ConfigError(
            f"tokenizer {type(tokenizer).__name__} lacks a [CLS], [SEP] or [PAD] token; use a BERT-style one"
        )


def encode(
    task: TaskSpec,
    examples: Sequence[Example],
    tokenizer: Any,
    *,
    n_tokens: int,
    placeholder_ids: Sequence[int],
    token_type_id: int = 0,
    max_length: int | None = None,
) -> EncodedDataset:
    """Convert examples to MRC form and tokenise them as ``[CLS] p_1..p_n <MRC text> [SEP]``, right-padded.

    Args:
        task: the task spec.
        examples: the examples (any split); order is kept, none is dropped.
        tokenizer: a transformers *fast* BERT-style tokenizer (offset mapping, [CLS]/[SEP]/[PAD]).
        n_tokens: number of placeholder positions n.
        placeholder_ids: the n vocabulary ids at positions ``1..n``.
        token_type_id: the token type of every position (0 BERT family, 1 CPT).
        max_length: maximum sequence length including [CLS], placeholders and [SEP]; ``T`` is the longest
            encoded example (``<= max_length``). None = :func:`default_max_length` of the task (512, or 460 for
            multiple choice; pass the backbone's cap through :func:`default_max_length` when it has fewer).

    Returns:
        The :class:`EncodedDataset` (``N = len(examples)``).

    Raises:
        ConfigError: slow tokenizer, wrong number of placeholder ids, or a query + options longer than
            ``max_length`` allows (the message gives the length needed).
        DataError: see :func:`bbt_mp2.mrc.to_mrc`.
    """
    if max_length is None:
        max_length = default_max_length(task.type)
    _check_args(tokenizer, n_tokens, placeholder_ids, max_length)
    examples = list(examples)
    mrcs = [to_mrc(task, ex) for ex in examples]
    tok = BatchTokenizer(tokenizer)
    if task.type in (TaskType.SINGLE, TaskType.PAIR, TaskType.NLI):
        tok.share_suffix(option_list_text(task.lang, task.label_words), [m.text for m in mrcs[:_SUFFIX_PROBES]])
    mrcs, ids, offs = fit_to_budget(task, examples, mrcs, tok, max_length - 2 - n_tokens, min_capped=_CAP_MIN_EXAMPLES)
    data = _assemble(task, mrcs, ids, offs, tokenizer, list(placeholder_ids), token_type_id)
    if data.n_truncated:
        logger.info(
            "task %s: truncated the input text of %d of %d examples to fit max_length=%d",
            task.name, data.n_truncated, len(data), max_length,
        )  # fmt: skip
    if data.n_answer_lost:
        lost = [u for u, flag in zip(data.uids, data.answer_lost) if flag]
        logger.warning(
            "task %s: %d of %d span examples lost every gold answer to truncation (max_length=%d); they are kept "
            "and point at the no-answer phrase: %s%s",
            task.name, data.n_answer_lost, len(data), max_length, lost[:5], " ..." if len(lost) > 5 else "",
        )  # fmt: skip
    return data


def _assemble(
    task: TaskSpec,
    mrcs: list[MRCExample],
    ids: list[list[int]],
    offs: list[list[tuple[int, int]]],
    tokenizer: Any,
    placeholder_ids: list[int],
    token_type_id: int,
) -> EncodedDataset:
    """Lay out ``[CLS] p_1..p_n text [SEP] [PAD]..`` and map every character span to token positions."""
    n, n_tokens = len(mrcs), len(placeholder_ids)
    shift = 1 + n_tokens
    width = max((len(x) for x in ids), default=0) + 2 + n_tokens
    n_opt = max((len(m.options) for m in mrcs), default=0) if task.type not in SPAN_TYPES else 0
    input_ids = np.full((n, width), tokenizer.pad_token_id, dtype=np.int64)
    mask = np.zeros((n, width), dtype=np.int64)
    option_spans = np.full((n, n_opt, 2), -1, dtype=np.int64)
    starts, ends, labels = (np.full(n, -1, dtype=np.int64) for _ in range(3))
    context_spans, no_answer = np.full((n, 2), -1, dtype=np.int64), np.full((n, 2), -1, dtype=np.int64)
    offsets: list[list[tuple[int, int]]] = []
    for i, (m, x, o) in enumerate(zip(mrcs, ids, offs)):
        length = len(x) + 2 + n_tokens
        input_ids[i, :length] = [tokenizer.cls_token_id, *placeholder_ids, *x, tokenizer.sep_token_id]
        mask[i, :length] = 1
        if m.option_spans:
            option_spans[i, : len(m.option_spans)] = token_spans(m, o, list(m.option_spans), "an option") + shift
        region = char_span_to_tokens(o, *m.region)  # empty only when the passage was cut to nothing
        context_spans[i] = np.add(region, shift) if region[0] >= 0 else -1
        if m.no_answer_span[0] >= 0:
            no_answer[i] = token_spans(m, o, [m.no_answer_span], "the no-answer phrase")[0] + shift
        if m.answer_start >= 0:
            answer = (m.answer_start, m.answer_start + len(m.answer_text))
            starts[i], ends[i] = token_spans(m, o, [answer], "the answer")[0] + shift
        labels[i] = -1 if m.label is None else m.label
        offsets.append([(0, 0)] * shift + o + [(0, 0)] * (width - shift - len(o)))
    lost = np.array([m.answer_lost for m in mrcs], dtype=bool)
    return EncodedDataset(
        task=task.name,
        n_tokens=n_tokens,
        input_ids=input_ids,
        attention_mask=mask,
        token_type_ids=np.full((n, width), token_type_id, dtype=np.int64),
        start_positions=starts,
        end_positions=ends,
        option_spans=option_spans,
        labels=labels,
        context_spans=context_spans,
        answers=[list(m.answers) for m in mrcs],
        offsets=offsets,
        mrc_texts=[m.text for m in mrcs],
        n_truncated=sum(m.truncated for m in mrcs),
        n_answer_lost=int(lost.sum()),
        uids=[m.uid for m in mrcs],
        no_answer_spans=no_answer,
        answer_lost=lost,
        truncated=np.array([m.truncated for m in mrcs], dtype=bool),
    )
