"""The classic BBT input format (``head=mlm``): example -> cloze text with the mask token -> ids, mask position.

Layout: ``[CLS] p_1 .. p_n <cloze text> [SEP] [PAD]...``, the same placeholder positions ``1..n`` as the MRC format
(:mod:`bbt_mp2.encoding`), so every prompt mode, the shared-prefix reuse and the activation cache apply unchanged.
The cloze text is the task's :class:`~bbt_mp2.templates.ClozeTemplate` filled from ``Example.fields`` with the
tokenizer's own mask token in the ``{mask}`` slot (``[MASK]`` for BERT/CPT, ``<mask>`` for RoBERTa). Each class is
scored by the backbone's MLM logit of its verbalizer token at the mask position
(:class:`bbt_mp2.heads.MLMVerbalizerHead`); a verbalizer word must be exactly one token.

A :class:`ClozeDataset` is an :class:`~bbt_mp2.encoding.EncodedDataset` (so the evaluator's validation, planning,
losses and metrics apply) whose ``C`` options all point at the mask position, plus the mask positions and the
verbalizer ids. Truncation shortens the template's ``cut`` roles (the input texts) from the right, longest first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from string import Formatter
from typing import Any

import numpy as np

from bbt_mp2.encoding import EncodedDataset, default_max_length
from bbt_mp2.errors import ConfigError, DataError
from bbt_mp2.mrc import resolve_role  # the one role -> field lookup of the MRC format
from bbt_mp2.tasks.types import Example, TaskSpec
from bbt_mp2.templates import ClozeTemplate, cloze_template_for, verbalizer_words

__all__ = ["ClozeDataset", "encode_cloze", "verbalizer_ids"]

logger = logging.getLogger(__name__)

_MAX_ROUNDS = 8  # truncation rounds (re-tokenising at a cut may shift a token; another round fixes it)


@dataclass
class ClozeDataset(EncodedDataset):
    """An encoded dataset in the cloze format, scored by the backbone's MLM head (``head=mlm``).

    Attributes (beyond :class:`~bbt_mp2.encoding.EncodedDataset`, whose ``option_spans`` are ``N x C x 2`` all
    equal to ``(mask, mask)`` and whose ``mrc_texts`` hold the cloze texts):
        mask_positions: ``N`` int64 position of the mask token.
        verbalizer_ids: ``C`` int64 token id of each class's label word.
        verbalizer: the ``C`` label words.
    """

    mask_positions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    verbalizer_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    verbalizer: tuple[str, ...] = ()


def verbalizer_ids(task: TaskSpec, tokenizer: Any) -> tuple[tuple[str, ...], list[int]]:
    """The verbalizer words of ``task`` (:func:`bbt_mp2.templates.verbalizer_words`) and their token ids.

    Each word is tokenised on its own without special tokens (as the reference code does: no leading space for a
    byte-level BPE) and must give exactly one token.

    Raises:
        ConfigError: a word that is not one token (its tokens are named), or two words with the same token.
    """
    words = verbalizer_words(task)
    ids: list[int] = []
    for word in words:
        toks = tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(toks) != 1 or toks[0] == getattr(tokenizer, "unk_token_id", None):
            pieces = tokenizer.convert_ids_to_tokens(toks)
            raise ConfigError(
                f"task {task.name!r}: verbalizer word {word!r} is {len(toks)} tokens {pieces} for this tokenizer, "
                "not one known token; head=mlm scores each class by the MLM logit of ONE token: give one-token "
                "label words in TaskSpec.extra['verbalizer'] (e.g. 'bad'/'great')"
            )
        ids.append(int(toks[0]))
    if len(set(ids)) != len(ids):
        raise ConfigError(f"task {task.name!r}: verbalizer words {list(words)} share a token ({ids}); pick others")
    return words, ids


def _render(task: TaskSpec, ex: Example, tpl: ClozeTemplate, mask: str,
            limits: dict[str, int]) -> tuple[str, dict[str, tuple[int, int]], bool]:
    """The cloze text, the character span of each cut role, and whether a role was shortened."""
    parts: list[str] = []
    spans: dict[str, tuple[int, int]] = {}
    pos, cut = 0, False
    for literal, role, _, _ in Formatter().parse(tpl.pattern):
        parts.append(literal)
        pos += len(literal)
        if not role:
            continue
        value = mask if role == "mask" else resolve_role(task, ex, role, tpl)  # type: ignore[arg-type]
        if role in limits and limits[role] < len(value):
            value, cut = value[: max(0, limits[role])], True
        if role in tpl.cut:
            spans[role] = (pos, pos + len(value))
        parts.append(value)
        pos += len(value)
    return "".join(parts), spans, cut


def _new_limits(spans: dict[str, tuple[int, int]], offsets: list[tuple[int, int]], excess: int,
                uid: str) -> dict[str, int]:
    """Character limits per cut role that drop ``excess`` tokens, taken from the longest role first."""
    ends = {r: [e - a for s, e in offsets if a <= s < b] for r, (a, b) in spans.items()}
    keep = {r: len(v) for r, v in ends.items()}
    if sum(keep.values()) < excess:
        raise ConfigError(f"example {uid!r}: the cloze template alone is longer than max_length allows; raise "
                          "max_length or lower n_tokens")
    for _ in range(excess):
        longest = max(keep, key=lambda r: keep[r])
        keep[longest] -= 1
    return {r: (ends[r][k - 1] if k > 0 else 0) for r, k in keep.items() if k < len(ends[r])}


def encode_cloze(
    task: TaskSpec,
    examples: Sequence[Example],
    tokenizer: Any,
    *,
    n_tokens: int,
    placeholder_ids: Sequence[int],
    token_type_id: int = 0,
    max_length: int | None = None,
) -> ClozeDataset:
    """Encode ``examples`` in the cloze format as ``[CLS] p_1..p_n <cloze text> [SEP]``, right-padded.

    Args:
        task: a classification, sentence-pair or NLI task.
        examples: the examples (order kept, none dropped).
        tokenizer: a fast tokenizer with a mask token.
        n_tokens: number of placeholder positions n; ``placeholder_ids`` their n vocabulary ids.
        token_type_id: token type of every position (0 BERT family, 1 CPT).
        max_length: longest sequence, special tokens and placeholders included (None = the task's default).

    Returns:
        The :class:`ClozeDataset` (``N = len(examples)``, ``C`` = the task's classes).

    Raises:
        ConfigError: a tokenizer without a mask token, a task type without label words, a verbalizer word that is
            not one token, or a template longer than ``max_length``.
        DataError: an example whose own text holds the mask token.
    """
    mask_id, mask = getattr(tokenizer, "mask_token_id", None), getattr(tokenizer, "mask_token", None)
    if mask_id is None or mask is None:
        raise ConfigError(f"head=mlm needs a tokenizer with a mask token; {type(tokenizer).__name__} has none")
    if len(placeholder_ids) != n_tokens:
        raise ConfigError(f"placeholder_ids has {len(placeholder_ids)} ids but n_tokens={n_tokens}")
    tpl = cloze_template_for(task)
    words, verb_ids = verbalizer_ids(task, tokenizer)
    budget = (max_length or default_max_length(task.type)) - 2 - n_tokens
    if budget < 1:
        raise ConfigError(f"max_length={max_length} leaves no room for text after [CLS], {n_tokens} placeholders, "
                          "[SEP]")
    examples = list(examples)
    limits: list[dict[str, int]] = [{} for _ in examples]
    rendered = [_render(task, ex, tpl, mask, {}) for ex in examples]
    ids, offs = _tokenize(tokenizer, [r[0] for r in rendered])
    for _ in range(_MAX_ROUNDS):
        over = [i for i, x in enumerate(ids) if len(x) > budget]
        if not over:
            break
        for i in over:
            new = _new_limits(rendered[i][1], offs[i], len(ids[i]) - budget, examples[i].uid)
            limits[i].update({r: min(v, limits[i].get(r, v)) for r, v in new.items()})
            rendered[i] = _render(task, examples[i], tpl, mask, limits[i])
        new_ids, new_offs = _tokenize(tokenizer, [rendered[i][0] for i in over])
        for i, x, o in zip(over, new_ids, new_offs):
            ids[i], offs[i] = x, o
    if any(len(x) > budget for x in ids):
        raise DataError(f"task {task.name!r}: could not truncate some cloze texts to {budget} tokens")
    data = _assemble(task, examples, rendered, ids, offs, tokenizer, list(placeholder_ids), token_type_id, mask_id,
                     words, verb_ids)
    if data.n_truncated:
        logger.info("task %s (cloze): truncated the input text of %d of %d examples to fit max_length=%s",
                    task.name, data.n_truncated, len(data), max_length)
    return data


def _tokenize(tokenizer: Any, texts: list[str]) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
    if not texts:
        return [], []
    enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, return_attention_mask=False,
                    return_token_type_ids=False, truncation=False, verbose=False)
    return [list(x) for x in enc["input_ids"]], [[tuple(o) for o in x] for x in enc["offset_mapping"]]


def _assemble(task: TaskSpec, examples: list[Example], rendered: list[tuple[str, dict, bool]],
              ids: list[list[int]], offs: list[list[tuple[int, int]]], tokenizer: Any, placeholder_ids: list[int],
              token_type_id: int, mask_id: int, words: tuple[str, ...], verb_ids: list[int]) -> ClozeDataset:
    n, n_tokens, n_cls = len(examples), len(placeholder_ids), len(verb_ids)
    shift = 1 + n_tokens
    width = max((len(x) for x in ids), default=0) + 2 + n_tokens
    input_ids = np.full((n, width), tokenizer.pad_token_id, dtype=np.int64)
    mask = np.zeros((n, width), dtype=np.int64)
    mask_pos, labels = np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64)
    offsets: list[list[tuple[int, int]]] = []
    for i, (ex, x, o) in enumerate(zip(examples, ids, offs)):
        hits = [j for j, t in enumerate(x) if t == mask_id]
        if len(hits) != 1:
            raise DataError(f"task {task.name!r}, example {ex.uid!r}: the cloze text holds {len(hits)} mask tokens; "
                            "expected the template's one (does the example's own text contain "
                            f"{tokenizer.mask_token!r}?)")
        length = len(x) + 2 + n_tokens
        input_ids[i, :length] = [tokenizer.cls_token_id, *placeholder_ids, *x, tokenizer.sep_token_id]
        mask[i, :length] = 1
        mask_pos[i] = hits[0] + shift
        if ex.label is not None:
            if not 0 <= ex.label < n_cls:
                raise DataError(f"task {task.name!r}, example {ex.uid!r}: label {ex.label} outside 0..{n_cls - 1}")
            labels[i] = ex.label
        offsets.append([(0, 0)] * shift + o + [(0, 0)] * (width - shift - len(o)))
    labelled = np.where(labels >= 0, mask_pos, -1)
    spans = np.broadcast_to(mask_pos[:, None, None], (n, n_cls, 2)).copy()
    truncated = np.array([r[2] for r in rendered], dtype=bool)
    return ClozeDataset(
        task=task.name, n_tokens=n_tokens, input_ids=input_ids, attention_mask=mask,
        token_type_ids=np.full((n, width), token_type_id, dtype=np.int64), start_positions=labelled.copy(),
        end_positions=labelled.copy(), option_spans=spans, labels=labels,
        context_spans=np.stack([mask_pos, mask_pos], axis=1),
        answers=[[words[lab]] if lab >= 0 else [] for lab in labels], offsets=offsets,
        mrc_texts=[r[0] for r in rendered], n_truncated=int(truncated.sum()), n_answer_lost=0,
        uids=[ex.uid for ex in examples], no_answer_spans=np.full((n, 2), -1, dtype=np.int64),
        answer_lost=np.zeros(n, dtype=bool), truncated=truncated, mask_positions=mask_pos,
        verbalizer_ids=np.asarray(verb_ids, dtype=np.int64), verbalizer=words,
    )
