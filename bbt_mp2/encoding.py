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
on a few texts); very long inputs are capped in characters before the first pass (exactness kept, see ``_fit``).
A 2,000-example test set encodes in a few CPU seconds.
"""

from __future__ import annotations

import logging
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bbt_mp2.errors import ConfigError, DataError
from bbt_mp2.mrc import MRCExample, option_list_text, to_mrc
from bbt_mp2.tasks.types import SPAN_TYPES, Example, TaskSpec, TaskType

__all__ = ["EncodedDataset", "encode", "char_span_to_tokens", "default_max_length", "encoding_stats",
           "REFERENCE_MAX_LENGTH", "REFERENCE_MAX_LENGTH_CHOICE"]

logger = logging.getLogger(__name__)

_MAX_ROUNDS = 6  # truncation rounds (re-tokenising can shift a token at the cut; one more round fixes it)
_CAP_MIN_EXAMPLES = 8  # pre-cap long inputs only when at least this many examples have them
_CAP_SAMPLE = 32  # long examples tokenised in full to estimate characters per token
_SUFFIX_PROBES = 4  # texts tokenised whole to check that the shared option list tokenises on its own
_CAP_MARGIN = 64  # characters: a cut this close to the cap is redone from the uncapped text

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


def encoding_stats(data: EncodedDataset, max_length: int | None = None) -> dict[str, int | None]:
    """What encoding did to a dataset, as plain data: ``{"n", "max_length", "length", "n_truncated",
    "n_answer_lost"}`` (``length`` = T, the longest encoded example)."""
    return {"n": len(data), "max_length": max_length, "length": int(data.input_ids.shape[1]),
            "n_truncated": int(data.n_truncated), "n_answer_lost": int(data.n_answer_lost)}


@dataclass
class EncodedDataset:
    """A tokenised task split, padded to a common length ``T``.

    Attributes:
        task: task name.
        n_tokens: number of placeholder positions (``1..n_tokens``).
        input_ids: ``N x T`` int64.
        attention_mask: ``N x T`` int64 (1 = real token, 0 = padding; padding is never attended).
        token_type_ids: ``N x T`` int64 (all 0 for BERT-family, all 1 for CPT).
        start_positions: ``N`` int64 gold answer start token (for option tasks: the gold option's first token).
        end_positions: ``N`` int64 gold answer end token, inclusive.
        option_spans: ``N x C x 2`` int64 (first, last) token of each option, inclusive; rows padded with -1
            where an example has fewer than C options; ``C = 0`` for span tasks.
        labels: ``N`` int64 gold option index (-1 for span tasks / unlabelled).
        context_spans: ``N x 2`` int64 (first, last) token of the region where answer spans may lie
            (span tasks; for option tasks the option list).
        answers: per example the gold answer strings (span metrics); ``[]`` = no answer.
        offsets: per example a list of (char_start, char_end) into ``mrc_texts[i]`` for each token
            (``(0, 0)`` for special/placeholder tokens); used to decode predicted spans to text.
        mrc_texts: per example the MRC text the tokens were cut from.
        n_truncated: number of examples whose context was cut; ``n_answer_lost`` of them lost their answer.
        uids: per example the ``Example.uid``.
        no_answer_spans: ``N x 2`` int64 (first, last) token of the no-answer phrase (span tasks), -1 otherwise.
        answer_lost: ``N`` bool, True where truncation cut away every gold answer (the example then points at the
            no-answer phrase).
        truncated: ``N`` bool, True where the input text was cut to fit ``max_length``.

    Unlabelled option examples have ``labels == start_positions == end_positions == -1``. ``offsets[i]`` has
    ``T`` entries (padding included).
    """

    task: str
    n_tokens: int
    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray
    start_positions: np.ndarray
    end_positions: np.ndarray
    option_spans: np.ndarray
    labels: np.ndarray
    context_spans: np.ndarray
    answers: list[list[str]] = field(default_factory=list)
    offsets: list[list[tuple[int, int]]] = field(default_factory=list)
    mrc_texts: list[str] = field(default_factory=list)
    n_truncated: int = 0
    n_answer_lost: int = 0
    uids: list[str] = field(default_factory=list)
    no_answer_spans: np.ndarray | None = None
    answer_lost: np.ndarray | None = None
    truncated: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def n_options(self) -> int:
        """C, the padded number of options (0 for span tasks)."""
        return int(self.option_spans.shape[1]) if self.option_spans.ndim == 3 else 0

    def span_text(self, i: int, start: int, end: int) -> str:
        """The MRC-text characters covered by tokens ``start..end`` (inclusive) of example ``i``.

        Returns ``""`` when the span is empty, reversed, or covers only special/placeholder/padding tokens.
        """
        offs = self.offsets[i]
        if start < 0 or end < start or end >= len(offs):
            return ""
        chars = [o for o in offs[start : end + 1] if o[1] > o[0]]
        if not chars:
            return ""
        return self.mrc_texts[i][chars[0][0] : chars[-1][1]]


def char_span_to_tokens(offsets: Sequence[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """Map the character span ``[start, end)`` to the (first, last) token indices (inclusive) that overlap it.

    Args:
        offsets: per token (char_start, char_end), increasing, as a fast tokenizer's offset mapping gives them
            (no special tokens).
        start: first character.
        end: one past the last character.

    Returns:
        ``(first, last)``, or ``(-1, -1)`` when no token overlaps the span.
    """
    first = bisect_right([e for _, e in offsets], start)
    last = bisect_left([s for s, _ in offsets], end) - 1
    if first >= len(offsets) or last < first:
        return -1, -1
    return first, last


class _Tokenizer:
    """Batch tokenisation without special tokens, returning ids and character offsets per text.

    Classification texts all end in the same option list; :meth:`share_suffix` tokenises it once and appends its
    tokens to each tokenised body, after checking on a few texts that this equals tokenising the whole text (it
    does for BERT-style pre-tokenisers, which split at the punctuation before the list).
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.suffix = ""
        self.suffix_ids: list[int] = []
        self.suffix_offs: list[tuple[int, int]] = []

    def plain(self, texts: list[str]) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
        if not texts:
            return [], []
        enc = self.tokenizer(
            texts,
            add_special_tokens=False,
            return_offsets_mapping=True,
            return_attention_mask=False,
            return_token_type_ids=False,
            truncation=False,
            verbose=False,
        )
        return [list(x) for x in enc["input_ids"]], [[tuple(o) for o in x] for x in enc["offset_mapping"]]

    def share_suffix(self, suffix: str, probes: list[str]) -> None:
        """Tokenise ``suffix`` once from now on, if that reproduces the full tokenisation of every probe text."""
        if not suffix or not probes or not all(t.endswith(suffix) for t in probes):
            return
        self.suffix = suffix
        (self.suffix_ids,), (self.suffix_offs,) = self.plain([suffix])
        if (self.plain(probes)) != self(probes):
            logger.debug("suffix %r does not tokenise separately; tokenising whole texts", suffix[:40])
            self.suffix = ""

    def __call__(self, texts: list[str]) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
        n = len(self.suffix)
        if not n or not all(t.endswith(self.suffix) for t in texts):
            return self.plain(texts)
        bodies = [t[: len(t) - n] for t in texts]
        ids, offs = self.plain(bodies)
        ids = [x + self.suffix_ids for x in ids]
        offs = [o + [(a + len(b), e + len(b)) for a, e in self.suffix_offs] for o, b in zip(offs, bodies)]
        return ids, offs


def _cut_limits(mrc: MRCExample, offsets: list[tuple[int, int]], excess: int, task: str) -> dict[str, int]:
    """Character limits per cut role that remove at least ``excess`` tokens, longest input first."""
    segs = [s for s in mrc.segments if s.cut]
    ends = [e for _, e in offsets]
    starts = [s for s, _ in offsets]
    toks = []  # per segment: the token end offsets (relative to the segment start) of tokens inside it
    for s in segs:
        lo, hi = bisect_left(starts, s.start), bisect_left(starts, s.end)
        toks.append([min(e, s.end) - s.start for e in ends[lo:hi]])
    counts = [len(t) for t in toks]
    if sum(counts) < excess:
        fixed, budget = len(offsets) - sum(counts), len(offsets) - excess
        raise ConfigError(
            f"task {task!r}, example {mrc.uid!r}: the query and options alone take {fixed} tokens but max_length "
            f"leaves {budget} for the MRC text; raise max_length by at least {fixed - budget + 16} (truncation only "
            "shortens the quoted input text, never the query or the options) or lower n_tokens"
        )
    keep, remaining = list(counts), excess
    while remaining > 0:  # water-filling: shorten the longest input(s) first
        top = max(keep)
        tops = [k for k, v in enumerate(keep) if v == top]
        second = max((v for v in keep if v < top), default=0)
        room = (top - second) * len(tops)
        if room >= remaining:
            per, extra = divmod(remaining, len(tops))
            for r, k in enumerate(tops):
                keep[k] -= per + (1 if r < extra else 0)
            break
        for k in tops:
            keep[k] = second
        remaining -= room
    return {s.role: (t[k - 1] if k > 0 else 0) for s, t, k in zip(segs, toks, keep) if k < len(t)}


def _shrink(
    task: TaskSpec,
    examples: Sequence[Example],
    mrcs: list[MRCExample],
    tokenizer: _Tokenizer,
    budget: int,
    limits: dict[int, dict[str, int]],
) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
    """Tokenise ``mrcs``; re-render (in place) and re-tokenise the over-long ones until all fit ``budget``."""
    ids, offs = tokenizer([m.text for m in mrcs])
    for _ in range(_MAX_ROUNDS):
        over = [i for i, x in enumerate(ids) if len(x) > budget]
        if not over:
            return ids, offs
        for i in over:
            lim = limits.setdefault(i, {})
            cur = {s.role: s.end - s.start for s in mrcs[i].segments if s.cut}
            new = _cut_limits(mrcs[i], offs[i], len(ids[i]) - budget, task.name)
            lim.update({r: min(cur[r], v) for r, v in new.items()})
            mrcs[i] = to_mrc(task, examples[i], limits=lim)
        new_ids, new_offs = tokenizer([mrcs[i].text for i in over])
        for i, x, o in zip(over, new_ids, new_offs):
            ids[i], offs[i] = x, o
    over_uids = [mrcs[i].uid for i, x in enumerate(ids) if len(x) > budget]
    if over_uids:
        raise DataError(f"task {task.name!r}: could not truncate examples {over_uids[:5]} to {budget} text tokens")
    return ids, offs


def _precap(
    task: TaskSpec, examples: Sequence[Example], mrcs: list[MRCExample], tokenizer: _Tokenizer, budget: int
) -> dict[int, dict[str, int]]:
    """Cut very long inputs to a character cap before the first tokenisation (speed only; see :func:`_fit`).

    The cap is ``1.5 x`` the largest characters-per-token ratio seen on a sample of long texts times the budget,
    so a capped input still holds far more tokens than fit; re-renders ``mrcs`` in place; returns the caps.
    """
    long = [i for i, m in enumerate(mrcs) if any(s.cut and s.end - s.start > 2 * budget for s in m.segments)]
    if len(long) < _CAP_MIN_EXAMPLES:
        return {}
    sample = long[:_CAP_SAMPLE]
    _, offs = tokenizer([mrcs[i].text for i in sample])
    ratio = max(len(mrcs[i].text) / max(1, len(o)) for i, o in zip(sample, offs))
    cap = int(1.5 * ratio * budget) + 2 * _CAP_MARGIN
    caps: dict[int, dict[str, int]] = {}
    for i in long:
        cut = {s.role: cap for s in mrcs[i].segments if s.cut and s.end - s.start > cap}
        if cut:
            caps[i] = cut
            mrcs[i] = to_mrc(task, examples[i], limits=cut)
    return caps


def _fit(
    task: TaskSpec, examples: Sequence[Example], mrcs: list[MRCExample], tokenizer: _Tokenizer, budget: int
) -> tuple[list[MRCExample], list[list[int]], list[list[tuple[int, int]]]]:
    """Tokenise all MRC texts, truncating over-long ones to ``budget`` text tokens.

    Very long inputs are first capped in characters (:func:`_precap`) so they are not tokenised in full; an
    example whose final cut lies within ``_CAP_MARGIN`` characters of its cap is redone from the uncapped text,
    so the result equals the uncapped computation (the kept text is far from where the cap could change tokens).
    """
    caps = _precap(task, examples, mrcs, tokenizer, budget)
    limits = {i: dict(c) for i, c in caps.items()}
    ids, offs = _shrink(task, examples, mrcs, tokenizer, budget, limits)
    redo = [i for i, c in caps.items() if any(limits[i][r] > cap - _CAP_MARGIN for r, cap in c.items())]
    if redo:
        logger.debug("task %s: %d capped examples redone uncapped", task.name, len(redo))
        sub = [to_mrc(task, examples[i]) for i in redo]
        sub_ids, sub_offs = _shrink(task, [examples[i] for i in redo], sub, tokenizer, budget, {})
        for j, i in enumerate(redo):
            mrcs[i], ids[i], offs[i] = sub[j], sub_ids[j], sub_offs[j]
    return mrcs, ids, offs


def _token_spans(
    mrc: MRCExample, offsets: list[tuple[int, int]], spans: list[tuple[int, int]], what: str
) -> np.ndarray:
    """``C x 2`` (first, last) token indices of character spans (vectorised :func:`char_span_to_tokens`)."""
    if not spans:
        return np.zeros((0, 2), dtype=np.int64)
    bounds = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    chars = np.asarray(spans, dtype=np.int64)
    first = np.searchsorted(bounds[:, 1], chars[:, 0], side="right")
    last = np.searchsorted(bounds[:, 0], chars[:, 1], side="left") - 1
    bad = np.flatnonzero((first > last) | (first >= len(bounds)))
    if bad.size:
        a, b = spans[int(bad[0])]
        raise DataError(
            f"example {mrc.uid!r}: {what} {mrc.text[a:b]!r} (chars {a}..{b}) maps to no token; the tokenizer "
            "drops its characters"
        )
    return np.stack([first, last], axis=1)


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
    tok = _Tokenizer(tokenizer)
    if task.type in (TaskType.SINGLE, TaskType.PAIR, TaskType.NLI):
        tok.share_suffix(option_list_text(task.lang, task.label_words), [m.text for m in mrcs[:_SUFFIX_PROBES]])
    mrcs, ids, offs = _fit(task, examples, mrcs, tok, max_length - 2 - n_tokens)
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
            option_spans[i, : len(m.option_spans)] = _token_spans(m, o, list(m.option_spans), "an option") + shift
        region = char_span_to_tokens(o, *m.region)  # empty only when the passage was cut to nothing
        context_spans[i] = np.add(region, shift) if region[0] >= 0 else -1
        if m.no_answer_span[0] >= 0:
            no_answer[i] = _token_spans(m, o, [m.no_answer_span], "the no-answer phrase")[0] + shift
        if m.answer_start >= 0:
            answer = (m.answer_start, m.answer_start + len(m.answer_text))
            starts[i], ends[i] = _token_spans(m, o, [answer], "the answer")[0] + shift
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
