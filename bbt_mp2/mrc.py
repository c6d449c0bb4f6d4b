"""Every task type -> one machine-reading-comprehension (MRC) example: (context, query, answer span).

Layouts (the text the model reads after ``[CLS] p_1..p_n``):

* Classification / sentence pair / NLI: the task's query template with the input text(s) quoted inside it,
  followed by the list of ALL label words in label order, each followed by the language's separator::

      情感分析："这个很好"的情感是？选项：负面，正面，
      Sentiment analysis: what is the sentiment of "it is good"? Options: negative, positive,

  The answer is the gold label word's span inside that option list.
* Multiple choice: the same, with the example's own options (``Example.options``); answer = the gold option.
* Span extraction: hard prompt + context + question, e.g. ``抽取式问答（可能没有答案）：文本"…"问题"…"``; the gold
  answer offsets are re-based into the MRC text. An unanswerable question (``answers == ()``) points at the fixed
  "no answer" phrase inside the hard prompt (``没有答案`` / ``no answer``).
* Keyword extraction (opinion targets): as span extraction with a fixed question (``评论的对象是？`` /
  ``what is being commented on?``).

Query templates live in a registry keyed by (template name, language) in :mod:`bbt_mp2.templates` (re-exported
here); ``TaskSpec.template`` picks one (an empty name picks the default of the task type). Truncation (done by
:mod:`bbt_mp2.encoding`) only ever shortens the quoted input texts (the template's ``cut`` roles), never the query
wording, the question or the options.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from string import Formatter

from bbt_mp2.errors import DataError
from bbt_mp2.tasks.types import SPAN_TYPES, Example, TaskSpec, TaskType
from bbt_mp2.templates import (
    NO_ANSWER,
    OPTION_STYLE,
    ROLE_FIELDS,
    QueryTemplate,
    get_template,
    register_template,
    template_for,
    template_names,
)

__all__ = [
    "QueryTemplate",
    "Segment",
    "MRCExample",
    "register_template",
    "get_template",
    "template_names",
    "to_mrc",
    "template_for",
    "option_list_text",
    "NO_ANSWER",
    "ROLE_FIELDS",
]

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class Segment:
    """A filled slot of a rendered template: ``text[start:end]`` holds role ``role``'s (maybe cut) value."""

    role: str
    start: int
    end: int
    cut: bool


@dataclass(frozen=True)
class MRCExample:
    """One example in MRC form. All character offsets index ``text``; ends are exclusive.

    Attributes:
        uid: the example's uid.
        text: the full MRC text the model reads (after ``[CLS]`` and the placeholders).
        query: option tasks: the whole text (template, quoted inputs and option list); span tasks: the hard
            prompt and question with the passage left out.
        context: the quoted input text(s) (option tasks, joined by a newline) or the passage (span tasks), as
            they appear in ``text`` (possibly truncated).
        options: the candidate answers listed in ``text`` (label words or the example's options); ``()`` for spans.
        option_spans: per option its (start, end) in ``text``.
        label: gold option index; ``None`` for span tasks and unlabelled examples.
        answer_text: the target span's text (gold option, first fitting gold answer, or the no-answer phrase).
        answer_start: offset of ``answer_text`` in ``text`` (``-1`` when unlabelled).
        answers: all gold answer strings (span tasks; ``()`` = unanswerable) or ``(gold option,)``.
        region: (start, end) of the part of ``text`` where answers may lie (the option list or the passage).
        no_answer_span: (start, end) of the no-answer phrase (span tasks), else ``(-1, -1)``.
        segments: the filled template slots (truncation uses the ``cut`` ones).
        truncated: whether a ``limits`` entry shortened some input text.
        answer_lost: span task whose gold answers all lie in the cut-away text (it then points at no-answer).
    """

    uid: str
    text: str
    query: str
    context: str
    options: tuple[str, ...]
    option_spans: tuple[tuple[int, int], ...]
    label: int | None
    answer_text: str
    answer_start: int
    answers: tuple[str, ...]
    region: tuple[int, int]
    no_answer_span: tuple[int, int] = (-1, -1)
    segments: tuple[Segment, ...] = field(default_factory=tuple)
    truncated: bool = False
    answer_lost: bool = False


def resolve_role(task: TaskSpec, ex: Example, role: str, tpl: QueryTemplate) -> str:
    for key in ROLE_FIELDS[role]:
        value = ex.fields.get(key)
        if value is not None:
            return str(value)
    raise DataError(
        f"task {task.name!r}, example {ex.uid!r}: template {tpl.name!r} needs role {role!r} (one of fields "
        f"{list(ROLE_FIELDS[role])}) but the example has fields {sorted(ex.fields)}"
    )


def _render_pattern(
    task: TaskSpec, ex: Example, tpl: QueryTemplate, limits: Mapping[str, int]
) -> tuple[str, list[Segment], bool]:
    parts: list[str] = []
    segments: list[Segment] = []
    pos, truncated = 0, False
    for literal, role, _, _ in Formatter().parse(tpl.pattern):
        parts.append(literal)
        pos += len(literal)
        if not role:
            continue
        value = resolve_role(task, ex, role, tpl)
        if role in tpl.cut and role in limits and limits[role] < len(value):
            value, truncated = value[: max(0, limits[role])], True
        parts.append(value)
        segments.append(Segment(role, pos, pos + len(value), role in tpl.cut))
        pos += len(value)
    return "".join(parts), segments, truncated


@lru_cache(maxsize=256)
def _option_list(lang: str, options: tuple[str, ...]) -> tuple[str, tuple[tuple[int, int], ...]]:
    """The option list text and each option's (start, end) within it."""
    head, sep, joiner = OPTION_STYLE[lang]
    parts, spans, pos = [head], [], len(head)
    for i, opt in enumerate(options):
        if i:
            parts.append(joiner)
            pos += len(joiner)
        spans.append((pos, pos + len(opt)))
        parts.append(opt + sep)
        pos += len(opt) + len(sep)
    return "".join(parts), tuple(spans)


def option_list_text(lang: str, options: tuple[str, ...]) -> str:
    """The option list appended to an option template's query, e.g. ``"负面，正面，"`` / ``" negative, positive,"``."""
    return _option_list(lang, tuple(options))[0]


def _options_of(task: TaskSpec, ex: Example) -> tuple[str, ...]:
    options = tuple(ex.options or ()) if task.type == TaskType.MULTIPLE_CHOICE else tuple(task.label_words)
    if not options:
        what = "Example.options" if task.type == TaskType.MULTIPLE_CHOICE else "TaskSpec.label_words"
        raise DataError(f"task {task.name!r}, example {ex.uid!r}: no options ({what} is empty)")
    empty = [i for i, o in enumerate(options) if not o]
    if empty:
        raise DataError(f"task {task.name!r}, example {ex.uid!r}: options {empty} are empty strings")
    return options


def _option_mrc(task: TaskSpec, ex: Example, tpl: QueryTemplate, limits: Mapping[str, int]) -> MRCExample:
    body, segments, truncated = _render_pattern(task, ex, tpl, limits)
    options = _options_of(task, ex)
    opt_text, rel = _option_list(task.lang, options)
    spans = [(a + len(body), b + len(body)) for a, b in rel]
    text = body + opt_text
    label = ex.label
    if label is not None and not 0 <= label < len(options):
        raise DataError(
            f"task {task.name!r}, example {ex.uid!r}: label {label} out of range for {len(options)} options {options}"
        )
    answer_text = options[label] if label is not None else ""
    answer_start = spans[label][0] if label is not None else -1
    context = "\n".join(text[s.start : s.end] for s in segments if s.cut)
    return MRCExample(
        uid=ex.uid,
        text=text,
        query=text,
        context=context,
        options=options,
        option_spans=tuple(spans),
        label=label,
        answer_text=answer_text,
        answer_start=answer_start,
        answers=(answer_text,) if label is not None else (),
        region=(spans[0][0], spans[-1][1]),
        segments=tuple(segments),
        truncated=truncated,
    )


def _locate(task: TaskSpec, ex: Example, context: str, text: str, start: int) -> int:
    """Return the character offset of answer ``text`` in ``context`` (trusting ``start`` when it is right)."""
    if context[start : start + len(text)] == text:
        return start
    hits, pos = [], context.find(text)
    while pos >= 0:
        hits.append(pos)
        pos = context.find(text, pos + 1)
    if not hits:
        raise DataError(
            f"task {task.name!r}, example {ex.uid!r}: answer {text!r} does not occur in the context "
            f"(given offset {start}); fix the data or drop the answer"
        )
    best = min(hits, key=lambda h: abs(h - start))
    logger.debug("task %s, example %s: answer %r moved from offset %d to %d", task.name, ex.uid, text, start, best)
    return best


def _span_mrc(task: TaskSpec, ex: Example, tpl: QueryTemplate, limits: Mapping[str, int]) -> MRCExample:
    body, segments, truncated = _render_pattern(task, ex, tpl, limits)
    ctx_seg = next(s for s in segments if s.role == "context")
    full_context = resolve_role(task, ex, "context", tpl)
    na_start = body.find(tpl.no_answer)  # QueryTemplate guarantees it lies in the literal before any slot
    no_answer_span = (na_start, na_start + len(tpl.no_answer))
    golds = tuple(ex.answers or ())
    kept = ctx_seg.end - ctx_seg.start
    answer_text, answer_start, lost = tpl.no_answer, na_start, False
    if ex.answers is None:  # unlabelled
        answer_text, answer_start = "", -1
    for span in golds:
        if not span.text:
            continue
        at = _locate(task, ex, full_context, span.text, span.start)
        if at + len(span.text) <= kept:
            answer_text, answer_start = span.text, ctx_seg.start + at
            break
    else:
        lost = any(s.text for s in golds)
    return MRCExample(
        uid=ex.uid,
        text=body,
        query=body[: ctx_seg.start] + body[ctx_seg.end :],
        context=body[ctx_seg.start : ctx_seg.end],
        options=(),
        option_spans=(),
        label=None,
        answer_text=answer_text,
        answer_start=answer_start,
        answers=tuple(s.text for s in golds if s.text),
        region=(ctx_seg.start, ctx_seg.end),
        no_answer_span=no_answer_span,
        segments=tuple(segments),
        truncated=truncated,
        answer_lost=lost,
    )


def to_mrc(task: TaskSpec, ex: Example, *, limits: Mapping[str, int] | None = None) -> MRCExample:
    """Convert one example of ``task`` into its MRC form.

    Args:
        task: the task spec (its ``lang``, ``type``, ``template`` and ``label_words`` are used).
        ex: the example.
        limits: optional role -> maximum number of characters kept of that input text (only roles the template
            allows to cut; used by the encoder to truncate). Span answers past the cut are "lost" and the
            example then points at the no-answer phrase (``answer_lost`` is set).

    Returns:
        The :class:`MRCExample`; ``text[answer_start:answer_start + len(answer_text)] == answer_text``.

    Raises:
        UnknownNameError: unknown template name.
        DataError: a field the template needs is missing, a label is out of range, or a gold answer does not
            occur in the context.
    """
    tpl = template_for(task)
    limits = limits or {}
    if task.type in SPAN_TYPES:
        return _span_mrc(task, ex, tpl, limits)
    return _option_mrc(task, ex, tpl, limits)
