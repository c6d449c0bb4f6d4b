"""Truncation for encoding: shorten the quoted input texts of over-long examples until they fit the token budget.

Only the template's ``cut`` roles (the sentence(s) of a classifier, the passage of a span or multiple-choice task)
are shortened, from the right, longest first (water-filling over the inputs); the query wording, the question and
the options are never cut. Re-tokenising can shift a token at the cut, so over-long examples are re-cut for up to
``_MAX_ROUNDS`` rounds. Very long inputs are capped in characters before the first tokenisation, for speed only
(the result is exact, see :func:`fit_to_budget`). Called by :func:`bbt_mp2.encoding.encode`.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Sequence

from bbt_mp2.encoding_tokens import BatchTokenizer
from bbt_mp2.errors import ConfigError, DataError
from bbt_mp2.mrc import MRCExample, to_mrc
from bbt_mp2.tasks.types import Example, TaskSpec

__all__ = ["fit_to_budget"]

logger = logging.getLogger(__name__)

_MAX_ROUNDS = 6  # truncation rounds (re-tokenising can shift a token at the cut; one more round fixes it)
_CAP_SAMPLE = 32  # long examples tokenised in full to estimate characters per token
_CAP_MARGIN = 64  # characters: a cut this close to the cap is redone from the uncapped text


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
    tokenizer: BatchTokenizer,
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
    task: TaskSpec,
    examples: Sequence[Example],
    mrcs: list[MRCExample],
    tokenizer: BatchTokenizer,
    budget: int,
    min_capped: int,
) -> dict[int, dict[str, int]]:
    """Cut very long inputs to a character cap before the first tokenisation (speed only; see :func:`fit_to_budget`).

    The cap is ``1.5 x`` the largest characters-per-token ratio seen on a sample of long texts times the budget,
    so a capped input still holds far more tokens than fit; only when at least ``min_capped`` examples are long;
    re-renders ``mrcs`` in place; returns the caps.
    """
    long = [i for i, m in enumerate(mrcs) if any(s.cut and s.end - s.start > 2 * budget for s in m.segments)]
    if len(long) < min_capped:
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


def fit_to_budget(
    task: TaskSpec,
    examples: Sequence[Example],
    mrcs: list[MRCExample],
    tokenizer: BatchTokenizer,
    budget: int,
    *,
    min_capped: int,
) -> tuple[list[MRCExample], list[list[int]], list[list[tuple[int, int]]]]:
    """Tokenise all MRC texts, truncating over-long ones to ``budget`` text tokens.

    Very long inputs are first capped in characters (:func:`_precap`, when at least ``min_capped`` examples are
    long) so they are not tokenised in full; an example whose final cut lies within ``_CAP_MARGIN`` characters of
    its cap is redone from the uncapped text, so the result equals the uncapped computation (the kept text is far
    from where the cap could change tokens).

    Args:
        task: the task spec (its template's ``cut`` roles are what may be shortened).
        examples: the ``N`` source examples, re-rendered with character limits when cut.
        mrcs: their MRC forms, in the same order; replaced in place by the truncated renderings.
        tokenizer: the batch tokenizer (with the shared option list, if any).
        budget: text tokens allowed per example (``max_length - 2 - n_tokens``).
        min_capped: pre-cap long inputs only when at least this many examples have them (speed only).

    Returns:
        ``(mrcs, ids, offsets)``: per example the final MRC form, its token ids (``<= budget``) and offsets.

    Raises:
        ConfigError: an example's query and options alone exceed ``budget`` (the message gives the length needed).
        DataError: an example could not be truncated to ``budget`` tokens.
    """
    caps = _precap(task, examples, mrcs, tokenizer, budget, min_capped)
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
