"""Readers for English files whose labels are numbers into a class-name file (mapped BY NAME to label words).

* DBpedia (DHIM subset): ``label,content`` CSV without header; ``meta.txt`` lines ``"<n>: <ClassName>"``. Its
  numbering differs from the original DBpedia-14 ``classes.txt``, which is why only the names are trusted.
* AG News CSV: header ``Class Index,Title,Description``; ``classes.txt`` is one line ``"1-World, 2-Sports, ..."``.
  The text is ``"<title> <description>"`` (as in the BBT authors' few-shot files).

Class names map to label words through ``TaskSpec.extra["label_names"]`` (name -> word).
"""

from __future__ import annotations

import re
from pathlib import Path

from bbt_mp2.errors import DataError
from bbt_mp2.tasks.readers import clean_text, make_uid
from bbt_mp2.tasks.records import get_column, label_index, read_delimited, read_lines
from bbt_mp2.tasks.types import Example, TaskSpec

__all__ = ["read_dbpedia", "read_ag_news_csv", "class_names_numbered", "class_names_agnews"]

_NUMBERED = re.compile(r"^\s*(\d+)\s*:\s*(\S.*?)\s*$")
_AGNEWS = re.compile(r"(\d+)\s*-\s*([^,]+)")


def class_names_numbered(path: Path) -> dict[str, str]:
    """``{"1": "Artist", ...}`` from lines ``"1: Artist"`` (other lines, e.g. statistics, are ignored)."""
    names = {m.group(1): m.group(2) for m in (_NUMBERED.match(r.data) for r in read_lines(path)) if m}
    if not names:
        raise DataError(f"{path}: no class lines of the form '<number>: <name>' found")
    return names


def class_names_agnews(path: Path) -> dict[str, str]:
    """``{"1": "World", ...}`` from the one-line ``"1-World, 2-Sports, 3-Business, 4-Science/Tech"``."""
    names = {m.group(1): m.group(2).strip() for r in read_lines(path) for m in _AGNEWS.finditer(r.data)}
    if not names:
        raise DataError(f"{path}: no classes of the form '<number>-<name>' found")
    return names


def _label_map(spec: TaskSpec, names: dict[str, str], source: Path) -> dict[str, str]:
    by_name = spec.extra["label_names"]
    unknown = sorted(set(names.values()) - set(by_name))
    if unknown:
        raise DataError(f"{source}: class names {unknown} have no label word in task {spec.name!r}; "
                        f"known names: {sorted(by_name)}")
    return {num: by_name[name] for num, name in names.items()}


def read_dbpedia(spec: TaskSpec, path: Path, rel: str) -> list[Example]:
    """DHIM DBpedia CSV ``"label","content"`` (no header); labels via ``meta.txt`` names."""
    mapping = _label_map(spec, class_names_numbered(path.parent / "meta.txt"), path.parent / "meta.txt")
    out = []
    for rec in read_delimited(path, delimiter=",", header=False):
        label = label_index(spec, get_column(rec, 0), rec, mapping)
        out.append(Example(make_uid(spec, rel, rec.line), {"text": clean_text(get_column(rec, 1))}, label=label))
    return out


def read_ag_news_csv(spec: TaskSpec, path: Path, rel: str) -> list[Example]:
    """AG News CSV with header ``Class Index,Title,Description``; labels via ``classes.txt`` names."""
    mapping = _label_map(spec, class_names_agnews(path.parent / "classes.txt"), path.parent / "classes.txt")
    out = []
    for rec in read_delimited(path, delimiter=",", header=True):
        text = f"{clean_text(get_column(rec, 'Title'))} {clean_text(get_column(rec, 'Description'))}"
        text = " ".join(text.replace("\\", " ").split())
        label = label_index(spec, get_column(rec, "Class Index"), rec, mapping)
        out.append(Example(make_uid(spec, rel, rec.line), {"text": text}, label=label))
    return out

