"""The encoded-dataset type: a tokenised task split padded to a common length, and what encoding did to it.

:class:`EncodedDataset` is what :func:`bbt_mp2.encoding.encode` returns and what the evaluator, the methods and the
server read (its content id is :func:`bbt_mp2.local_backend.dataset_id_of`); :func:`encoding_stats` reports its
truncation counts as plain data. Import both from :mod:`bbt_mp2.encoding`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["EncodedDataset", "encoding_stats"]


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


def encoding_stats(data: EncodedDataset, max_length: int | None = None) -> dict[str, int | None]:
    """What encoding did to a dataset, as plain data: ``{"n", "max_length", "length", "n_truncated",
    "n_answer_lost"}`` (``length`` = T, the longest encoded example)."""
    return {"n": len(data), "max_length": max_length, "length": int(data.input_ids.shape[1]),
            "n_truncated": int(data.n_truncated), "n_answer_lost": int(data.n_answer_lost)}
