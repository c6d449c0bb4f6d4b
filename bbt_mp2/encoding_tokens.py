"""Tokenisation for encoding: batched fast-tokenizer calls with character offsets, and character -> token spans.

Texts are tokenised in batches without special tokens; the offset mappings give each token's characters, from which
character spans (answers, options, the no-answer phrase, the answer region) become inclusive token spans. Used by
:mod:`bbt_mp2.encoding` and :mod:`bbt_mp2.encoding_truncation`; import :func:`char_span_to_tokens` from
:mod:`bbt_mp2.encoding`.
"""

from __future__ import annotations

import logging
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Any

import numpy as np

from bbt_mp2.errors import DataError
from bbt_mp2.mrc import MRCExample

__all__ = ["BatchTokenizer", "char_span_to_tokens", "token_spans"]

logger = logging.getLogger(__name__)


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


class BatchTokenizer:
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
        """Tokenise ``texts`` whole: per text the token ids and the (char_start, char_end) of each token."""
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
        """As :meth:`plain`, with the shared suffix's tokens appended instead of re-tokenised where it applies."""
        n = len(self.suffix)
        if not n or not all(t.endswith(self.suffix) for t in texts):
            return self.plain(texts)
        bodies = [t[: len(t) - n] for t in texts]
        ids, offs = self.plain(bodies)
        ids = [x + self.suffix_ids for x in ids]
        offs = [o + [(a + len(b), e + len(b)) for a, e in self.suffix_offs] for o, b in zip(offs, bodies)]
        return ids, offs


def token_spans(
    mrc: MRCExample, offsets: list[tuple[int, int]], spans: list[tuple[int, int]], what: str
) -> np.ndarray:
    """Token spans of character spans of one MRC text (vectorised :func:`char_span_to_tokens`).

    Args:
        mrc: the example the offsets belong to (named in errors).
        offsets: per token (char_start, char_end) into ``mrc.text``.
        spans: ``C`` character spans ``[start, end)``.
        what: what the spans are, for the error message ("an option", "the answer").

    Returns:
        ``C x 2`` int64 (first, last) token indices, inclusive, relative to the first text token.

    Raises:
        DataError: a span covers no token (the tokenizer drops its characters).
    """
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
