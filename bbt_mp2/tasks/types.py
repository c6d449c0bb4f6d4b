"""Core task-side value types: :class:`Example`, :class:`Span`, :class:`TaskSpec`.

These are the contract between readers (``bbt_mp2.tasks``), the MRC conversion (``bbt_mp2.mrc``) and the
encoder (``bbt_mp2.encoding``). They are plain frozen dataclasses with no torch dependency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = ["TaskType", "Metric", "Span", "Example", "TaskSpec", "OPTION_TYPES", "SPAN_TYPES"]


class TaskType(str, Enum):
    """What kind of task an example belongs to (decides the MRC layout)."""

    SINGLE = "single"  # single-sentence classification: fields["text"]
    PAIR = "pair"  # sentence-pair classification: fields["text_a"], fields["text_b"]
    NLI = "nli"  # premise/hypothesis: fields["text_a"], fields["text_b"]
    MULTIPLE_CHOICE = "multiple_choice"  # fields["context"] (+ optional "question"); Example.options
    SPAN = "span"  # extractive MRC: fields["context"], fields["question"]; Example.answers
    KEYWORD = "keyword"  # keyword / opinion-target extraction: fields["context"]; Example.answers


OPTION_TYPES = frozenset({TaskType.SINGLE, TaskType.PAIR, TaskType.NLI, TaskType.MULTIPLE_CHOICE})
SPAN_TYPES = frozenset({TaskType.SPAN, TaskType.KEYWORD})


class Metric(str, Enum):
    ACC = "acc"  # accuracy over option predictions
    F1 = "f1"  # binary F1, positive class = label index 1 (MRPC)
    SPAN_F1 = "span_f1"  # character-level SQuAD F1 (max over gold answers)
    SPAN_EM = "span_em"  # exact match (max over gold answers)


@dataclass(frozen=True)
class Span:
    """A gold answer inside ``Example.fields['context']``.

    Attributes:
        text: the answer string.
        start: character offset of ``text`` in the context (``context[start:start+len(text)] == text``).
    """

    text: str
    start: int


@dataclass(frozen=True)
class Example:
    """One labelled (or unlabelled) example of a task, before MRC conversion.

    Attributes:
        uid: stable identifier, unique within its task and split (e.g. ``"sst2/test/17"``).
        fields: the raw texts by role. Single: ``text``. Pair/NLI: ``text_a``, ``text_b``. Multiple choice:
            ``context`` and optionally ``question``. Span/keyword: ``context`` and (span) ``question``.
            Task-specific extras (``pronoun``, ``quote``, ``keyword``, ...) may be present.
        label: gold class index into ``TaskSpec.label_words`` (classification) or into ``options``
            (multiple choice); ``None`` for span tasks and unlabelled data.
        options: the candidate answers of a multiple-choice example; ``None`` otherwise.
        answers: gold spans of a span/keyword example; an empty tuple means "no answer"; ``None`` otherwise.
    """

    uid: str
    fields: Mapping[str, str]
    label: int | None = None
    options: tuple[str, ...] | None = None
    answers: tuple[Span, ...] | None = None


@dataclass(frozen=True)
class TaskSpec:
    """Everything the toolkit knows about one task.

    Attributes:
        name: registry name (lowercase, e.g. ``"sst2"``, ``"cmrc2018"``).
        lang: ``"en"`` or ``"zh"`` (selects MRC templates).
        type: the :class:`TaskType`.
        label_words: label index -> label word as it appears in the MRC query (classification only; empty
            for multiple choice and span tasks).
        metric: the headline :class:`Metric`.
        template: the MRC query template name (see ``bbt_mp2.mrc``).
        k_shot: examples per class for few-shot train (and again for dev); for multiple-choice and span tasks,
            the total number of examples.
        description: one line for ``bbt-mp2 data list``.
        extra: free-form reader-specific settings (file names, column maps); JSON-serialisable.
    """

    name: str
    lang: str
    type: TaskType
    label_words: tuple[str, ...] = ()
    metric: Metric = Metric.ACC
    template: str = ""
    k_shot: int = 16
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        """Number of classes (0 for multiple-choice and span tasks)."""
        return len(self.label_words)

    @property
    def is_option_task(self) -> bool:
        """True when the answer is one of a fixed set of options (classification, NLI, multiple choice)."""
        return self.type in OPTION_TYPES
