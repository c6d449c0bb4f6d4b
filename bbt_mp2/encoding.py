"""MRC example -> token ids with n placeholder positions after [CLS]; option spans; answer positions.

CONTRACT (owned by the encoding helper; the dataclass fields below are used by the evaluator, the methods and
the server, so keep them; adding fields is fine):

Layout of every encoded example: ``[CLS] p_1 .. p_n <MRC text tokens> [SEP] [PAD]...`` where ``p_i`` are fixed
vocabulary ids (the placeholder ids of the backbone), so placeholder positions are ``1..n``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["EncodedDataset"]


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

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def n_options(self) -> int:
        """C, the padded number of options (0 for span tasks)."""
        return int(self.option_spans.shape[1]) if self.option_spans.ndim == 3 else 0
