"""The generic reading layer: files -> :class:`Record` (file, line, parsed data), with errors that point at lines.

Every task reader goes through these functions, so a missing file, a malformed line, a missing column and an
unknown label all raise :class:`~bbt_mp2.errors.DataError` naming the file and the 1-based line number.
Files are read as UTF-8; a leading byte-order mark is dropped.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bbt_mp2.errors import DataError
from bbt_mp2.tasks.paths import DATA_ENV
from bbt_mp2.tasks.types import TaskSpec

__all__ = ["Record", "read_records", "read_lines", "read_jsonl", "read_json", "read_delimited", "get_column",
           "label_index", "check_file"]

_KINDS = ("jsonl", "json", "tsv", "csv", "lines", "prefixed")


@dataclass(frozen=True)
class Record:
    """One parsed record of a data file.

    Attributes:
        path: the file.
        line: 1-based line number of the record (for a JSON array: 1-based item number).
        data: a ``dict`` (JSON, or CSV/TSV with a header), a ``list[str]`` (CSV/TSV without header) or a ``str``
            (plain lines, without the line break).
    """

    path: Path
    line: int
    data: Any

    @property
    def where(self) -> str:
        """``"<file>:<line>"`` for error messages."""
        return f"{self.path}:{self.line}"


def check_file(path: Path) -> None:
    """Raise a :class:`DataError` naming ``path`` when it is not an existing file."""
    if not path.is_file():
        raise DataError(
            f"missing data file {str(path)!r}; check that the data folder is complete, or point at another one "
            f"with {DATA_ENV}=/path/to/data or --data"
        )


def _nonempty(path: Path, records: list[Record]) -> list[Record]:
    if not records:
        raise DataError(f"data file {str(path)!r} holds no records (empty file); expected at least one example")
    return records


def read_lines(path: Path, *, skip_blank: bool = True) -> list[Record]:
    """Records = the lines of a text file (split on ``\\n`` only, a trailing ``\\r`` dropped).

    Args:
        path: the file.
        skip_blank: drop lines that are empty or whitespace only (their numbers are still counted).
    """
    check_file(path)
    text = path.read_text(encoding="utf-8-sig")
    out = []
    for i, line in enumerate(text.split("\n"), start=1):
        line = line[:-1] if line.endswith("\r") else line
        if skip_blank and not line.strip():
            continue
        out.append(Record(path, i, line))
    return _nonempty(path, out)


def read_jsonl(path: Path) -> list[Record]:
    """Records = the JSON objects of a JSON-lines file (blank lines skipped)."""
    out = []
    for rec in read_lines(path):
        try:
            obj = json.loads(rec.data)
        except json.JSONDecodeError as err:
            raise DataError(f"{rec.where}: malformed JSON line ({err.msg} at column {err.colno}); "
                            f"expected one JSON object per line") from None
        if not isinstance(obj, dict):
            raise DataError(f"{rec.where}: malformed line: expected a JSON object, got {type(obj).__name__}")
        out.append(Record(path, rec.line, obj))
    return out


def read_json(path: Path) -> Any:
    """The parsed content of a whole JSON file (callers walk it and number its items themselves)."""
    check_file(path)
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: malformed JSON ({err.msg} at column {err.colno})") from None


def read_delimited(path: Path, *, delimiter: str, header: bool, quoting: bool = True) -> list[Record]:
    """Records of a CSV/TSV file.

    Args:
        path: the file.
        delimiter: ``","`` or ``"\\t"``.
        header: the first line names the columns (records are dicts); else records are lists of cells.
        quoting: honour ``"`` quoting; ``False`` reads every ``"`` literally (``csv.QUOTE_NONE``).

    Raises:
        DataError: missing file, no records, or a line with a different number of cells than the first.
    """
    check_file(path)
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    out: list[Record] = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE)
        names: list[str] | None = None
        width = None
        start = 1
        for row in reader:
            line, start = start, reader.line_num + 1
            if not row or not any(cell.strip() for cell in row):
                continue
            if header and names is None:
                names, width = [c.strip() for c in row], len(row)
                continue
            if width is None:
                width = len(row)
            if len(row) != width:
                cols = f" ({', '.join(names)})" if names else ""
                raise DataError(f"{path}:{line}: malformed line: expected {width} {delimiter!r}-separated "
                                f"columns{cols}, got {len(row)}")
            out.append(Record(path, line, dict(zip(names, row)) if names is not None else row))
    return _nonempty(path, out)


def _split_prefixed(rec: Record) -> Record:
    label, _, text = rec.data.strip().partition(" ")
    if not text.strip():
        raise DataError(f"{rec.where}: malformed line: expected '<label> <text>', got {rec.data[:60]!r}")
    return Record(rec.path, rec.line, {"label": label, "text": text})


def read_records(path: Path, kind: str, *, header: bool = True, quoting: bool = True) -> list[Record]:
    """Dispatch on ``kind``: ``jsonl``, ``json`` (a top-level array of objects), ``tsv``, ``csv``, ``lines``, or
    ``prefixed`` (lines ``"<label> <text>"``, records ``{"label", "text"}``)."""
    if kind == "jsonl":
        return read_jsonl(path)
    if kind == "json":
        data = read_json(path)
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a JSON array of objects at the top level, got {type(data).__name__}")
        return _nonempty(path, [Record(path, i, obj) for i, obj in enumerate(data, start=1)])
    if kind in ("tsv", "csv"):
        return read_delimited(path, delimiter="\t" if kind == "tsv" else ",", header=header, quoting=quoting)
    if kind == "lines":
        return read_lines(path)
    if kind == "prefixed":
        return [_split_prefixed(rec) for rec in read_lines(path)]
    raise DataError(f"unknown file format {kind!r} for {path}; expected one of {', '.join(_KINDS)}")


def get_column(rec: Record, column: str | int) -> Any:
    """The value of ``column`` (a key, or a 0-based cell index) in ``rec``.

    Raises:
        DataError: the record has no such column (the message lists the ones it has).
    """
    data = rec.data
    if isinstance(data, dict):
        if column not in data:
            raise DataError(f"{rec.where}: missing column {column!r}; the record has {sorted(map(str, data))}")
        return data[column]
    if isinstance(data, list) and isinstance(column, int):
        if not -len(data) <= column < len(data):
            raise DataError(f"{rec.where}: missing column {column} (the line has {len(data)} columns)")
        return data[column]
    raise DataError(f"{rec.where}: cannot take column {column!r} from a {type(data).__name__} record")


def label_index(spec: TaskSpec, raw: Any, rec: Record, label_map: Mapping[str, str] | None = None) -> int:
    """Map a raw label to its index in ``spec.label_words``, BY NAME.

    ``label_map`` (default ``spec.extra["label_map"]``; raw label as a string -> label word) is applied first;
    without a map the raw value must itself be one of the label words.

    Raises:
        DataError: the label is not known (names the file, line, the label and the known labels).
    """
    key = str(raw).strip()
    mapping = label_map if label_map is not None else (spec.extra.get("label_map") or {})
    word = mapping.get(key, key if not mapping else None)
    if word is None or word not in spec.label_words:
        known = sorted(mapping) if mapping else list(spec.label_words)
        raise DataError(f"{rec.where}: unknown label {key!r} for task {spec.name!r}; known labels: {known}")
    return spec.label_words.index(word)
