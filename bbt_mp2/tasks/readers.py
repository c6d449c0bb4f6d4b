"""The generic table reader: JSONL / JSON-array / CSV / TSV / plain-line files + a column map -> :class:`Example`.

Most built-in tasks and every user-defined task are read by :func:`read_table`, configured by
``TaskSpec.extra["formats"]``: a list of format dicts, the first whose ``match`` glob matches the file's path
(relative to the data folder) wins. Keys of a format dict (all optional except ``columns``):

* ``match``: glob on the relative path (default ``"*"``).
* ``kind``: ``jsonl`` | ``json`` | ``tsv`` | ``csv`` | ``lines`` | ``prefixed`` (``"<label> <text>"`` lines, columns
  ``label`` and ``text``) (default ``jsonl``).
* ``header``: CSV/TSV first line names the columns (default true); without it columns are 0-based indices.
* ``quoting``: CSV/TSV honour ``"`` quoting (default true).
* ``columns``: role -> column (name or index). Roles: ``text`` (single), ``text_a``/``text_b`` (pair, NLI),
  ``context``/``question``/``options`` (multiple choice), ``context``/``question``/``answer``/``answer_start``
  (span, keyword), plus any extra role copied into ``Example.fields``. A ``lines`` file has one role, ``text``.
* ``label``: the label column; ``label_value``: a constant raw label for every record (e.g. ``rt-polarity.pos``).
* ``label_map``: raw label -> label word for this file (default ``TaskSpec.extra["label_map"]``).
* ``label_before``: keep only the part of the raw label before this separator (TREC ``NUM:dist`` -> ``NUM``).
* A cell holding a list (e.g. CSL keywords) is joined with ``"，"`` (zh) or ``", "`` (en).
* ``unescape_newlines``: replace the two characters ``\\n`` in texts by a space (Yelp).
* ``unquote``: texts wrapped in ``"`` with doubled ``""`` inside are CSV-unquoted (Yelp's ``yelp.txt``).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bbt_mp2.errors import DataError
from bbt_mp2.tasks.records import Record, get_column, label_index, read_records
from bbt_mp2.tasks.types import Example, Span, TaskSpec, TaskType

__all__ = ["Reader", "read_table", "by_pattern", "find_format", "make_uid", "clean_text", "example_from_row"]

Reader = Callable[[TaskSpec, Path, str], list[Example]]
"""A task reader: ``(spec, absolute file path, path relative to the data folder) -> examples`` of that file."""

_TEXT_ROLES = {
    TaskType.SINGLE: ("text",),
    TaskType.PAIR: ("text_a", "text_b"),
    TaskType.NLI: ("text_a", "text_b"),
    TaskType.MULTIPLE_CHOICE: ("context",),
    TaskType.SPAN: ("context", "question"),
    TaskType.KEYWORD: ("context",),
}
_SPECIAL_ROLES = {"options", "answer", "answer_start"}


def make_uid(spec: TaskSpec, rel: str, line: int | str) -> str:
    """Stable example id ``"<task>/<relative file>#<line or item id>"``."""
    return f"{spec.name}/{rel}#{line}"


def clean_text(value: Any, *, unescape_newlines: bool = False, unquote: bool = False) -> str:
    """A text cell as a stripped string.

    Args:
        value: the cell.
        unescape_newlines: the two characters ``\\n`` become a space.
        unquote: a CSV-quoted cell (``"..."`` with ``""`` inside) is unquoted.
    """
    text = str(value).strip()
    if unquote and len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].replace('""', '"')
    if unescape_newlines:
        text = " ".join(text.replace("\\n", " ").split())
    return text.strip()


def find_format(spec: TaskSpec, rel: str) -> Mapping[str, Any]:
    """The first format dict of ``spec.extra["formats"]`` whose ``match`` glob matches ``rel``."""
    for fmt in spec.extra.get("formats", ()):
        if fnmatch.fnmatch(rel, fmt.get("match", "*")):
            return fmt
    raise DataError(f"task {spec.name!r} has no file format for {rel!r}; add one to its spec's 'formats'")


def _options(value: Any, rec: Record) -> tuple[str, ...]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = value.split("|")
    if not isinstance(value, list) or len(value) < 2:
        raise DataError(f"{rec.where}: options must be a list of at least 2 strings, got {value!r}")
    return tuple(str(v).strip() for v in value)


def _mc_label(raw: Any, options: tuple[str, ...], rec: Record) -> int:
    text = str(raw).strip()
    if text in options:
        return options.index(text)
    if text.lstrip("-").isdigit() and 0 <= int(text) < len(options):
        return int(text)
    raise DataError(f"{rec.where}: unknown label {text!r}: expected an option index 0..{len(options) - 1} "
                    f"or one of the options {list(options)}")


def _span(context: str, answer: str, start: Any, rec: Record) -> tuple[Span, ...]:
    if not answer:
        return ()
    if start not in (None, ""):
        pos = int(start)
        if context[pos:pos + len(answer)] == answer:
            return (Span(answer, pos),)
    pos = context.find(answer)
    if pos < 0:
        raise DataError(f"{rec.where}: answer {answer!r} does not occur in its context")
    return (Span(answer, pos),)


def example_from_row(spec: TaskSpec, rec: Record, uid: str, fmt: Mapping[str, Any]) -> Example:
    """Build one :class:`Example` of ``spec`` from a record, using the format's column map.

    Raises:
        DataError: a mapped column is missing, a label is unknown, or an answer is not in its context.
    """
    columns = dict(fmt.get("columns", {}))
    unescape = bool(fmt.get("unescape_newlines", False))
    if fmt.get("kind") == "lines":
        columns = {"text": None}
    fields: dict[str, str] = {}
    for role, col in columns.items():
        if role in _SPECIAL_ROLES:
            continue
        value = rec.data if col is None else get_column(rec, col)
        if isinstance(value, list):
            value = ("，" if spec.lang == "zh" else ", ").join(str(v).strip() for v in value)
        fields[role] = clean_text(value, unescape_newlines=unescape, unquote=bool(fmt.get("unquote", False)))
    missing = [r for r in _TEXT_ROLES[spec.type] if r not in fields]
    if missing:
        raise DataError(f"task {spec.name!r}: the column map {columns} names no column for role(s) {missing} "
                        f"(needed by a {spec.type.value} task; file {rec.path})")
    raw_label = fmt.get("label_value")
    if raw_label is None and fmt.get("label") is not None:
        raw_label = get_column(rec, fmt["label"])
    if raw_label is not None and fmt.get("label_before"):
        raw_label = str(raw_label).split(fmt["label_before"])[0]
    if spec.type == TaskType.MULTIPLE_CHOICE:
        options = _options(get_column(rec, columns.get("options", "options")), rec)
        label = None if raw_label is None else _mc_label(raw_label, options, rec)
        return Example(uid, fields, label=label, options=options)
    if spec.type in (TaskType.SPAN, TaskType.KEYWORD):
        answer = clean_text(get_column(rec, columns.get("answer", "answer")))
        start = get_column(rec, columns["answer_start"]) if "answer_start" in columns else None
        return Example(uid, fields, answers=_span(fields["context"], answer, start, rec))
    label = None if raw_label is None else label_index(spec, raw_label, rec, fmt.get("label_map"))
    return Example(uid, fields, label=label)


def read_table(spec: TaskSpec, path: Path, rel: str) -> list[Example]:
    """Read one file of ``spec`` with the matching format of ``spec.extra["formats"]`` (see module docstring).

    Args:
        spec: the task.
        path: absolute path of the file.
        rel: the file's path relative to the data folder (used for format matching and uids).

    Returns:
        The examples in file order; uids ``"<task>/<rel>#<line>"``.

    Raises:
        DataError: missing/empty file, malformed line, missing column or unknown label (file and line named).
    """
    fmt = find_format(spec, rel)
    records = read_records(path, fmt.get("kind", "jsonl"), header=fmt.get("header", True),
                           quoting=fmt.get("quoting", True))
    return [example_from_row(spec, rec, make_uid(spec, rel, rec.line), fmt) for rec in records]


def by_pattern(readers: Mapping[str, Reader], default: Reader = read_table) -> Reader:
    """A reader that dispatches on the relative path: the first glob of ``readers`` that matches, else ``default``."""

    def read(spec: TaskSpec, path: Path, rel: str) -> list[Example]:
        for pattern, reader in readers.items():
            if fnmatch.fnmatch(rel, pattern):
                return reader(spec, path, rel)
        return default(spec, path, rel)

    return read
