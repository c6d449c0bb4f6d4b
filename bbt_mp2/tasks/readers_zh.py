"""Readers for Chinese files the generic table reader cannot map by columns alone.

* CLUEWSC (FewCLUE): the two spans sit in a nested ``target`` object.
* THUCNews: label ids index the class names of ``class.txt`` (mapped by name to the label words).
* CMRC 2018 / DRCD: SQuAD-style nested JSON (one example per question).
* C3: ``[[passage lines], [{question, choice, answer}], doc_id]`` documents (one example per question).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bbt_mp2.errors import DataError
from bbt_mp2.tasks.readers import clean_text, example_from_row, find_format, make_uid
from bbt_mp2.tasks.records import Record, get_column, label_index, read_json, read_jsonl, read_lines, read_records
from bbt_mp2.tasks.types import Example, Span, TaskSpec

__all__ = ["read_cluewsc", "read_class_indexed", "read_squad", "read_c3"]

logger = logging.getLogger(__name__)


def read_cluewsc(spec: TaskSpec, path: Path, rel: str) -> list[Example]:
    """CLUEWSC lines ``{target: {span1_text, span2_text, ...}, text, label: true|false}``.

    Fields: ``text_a`` = the sentence, ``text_b`` = ``quote`` = span 1 (the noun phrase), ``pronoun`` = span 2,
    ``quote_index`` / ``pronoun_index`` = their character offsets (as strings; the same pronoun can occur twice).
    """
    out = []
    for rec in read_jsonl(path):
        target = get_column(rec, "target")
        if not isinstance(target, dict):
            raise DataError(f"{rec.where}: column 'target' must be an object with span1_text/span2_text")
        sub = Record(rec.path, rec.line, target)
        quote, pronoun = clean_text(get_column(sub, "span1_text")), clean_text(get_column(sub, "span2_text"))
        fields = {"text_a": clean_text(get_column(rec, "text")), "text_b": quote, "quote": quote,
                  "pronoun": pronoun, "quote_index": str(get_column(sub, "span1_index")),
                  "pronoun_index": str(get_column(sub, "span2_index"))}
        label = label_index(spec, get_column(rec, "label"), rec)
        out.append(Example(make_uid(spec, rel, rec.line), fields, label=label))
    return out


def read_class_indexed(spec: TaskSpec, path: Path, rel: str) -> list[Example]:
    """A table whose label column holds 0-based ids into a class-name file (one name per line).

    The format dict names the class file (``class_file``, relative to the data file's folder); class names map
    to label words through ``extra["label_names"]`` (name -> word), so ids never map to words by position.
    """
    fmt = dict(find_format(spec, rel))
    class_path = path.parent / fmt["class_file"]
    names = [rec.data.strip() for rec in read_lines(class_path)]
    by_name = spec.extra["label_names"]
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise DataError(f"{class_path}: class names {unknown} have no label word in task {spec.name!r}; "
                        f"known names: {sorted(by_name)}")
    fmt["label_map"] = {str(i): by_name[n] for i, n in enumerate(names)}
    records = read_records(path, fmt["kind"], header=fmt.get("header", True), quoting=fmt.get("quoting", True))
    return [example_from_row(spec, rec, make_uid(spec, rel, rec.line), fmt) for rec in records]


def _answers(context: str, raw: Any, where: str) -> tuple[tuple[Span, ...], int]:
    spans: list[Span] = []
    fixed = 0
    for ans in raw or []:
        text = str(ans.get("text", "")).strip()
        start = int(ans.get("answer_start", -1))
        if not text:
            continue
        if context[start:start + len(text)] != text:
            hits = [i for i in range(len(context)) if context.startswith(text, i)]
            if not hits:
                logger.debug("%s: answer %r not in context; dropped", where, text)
                continue
            start = min(hits, key=lambda i: abs(i - start))  # the occurrence nearest the stated offset
            fixed += 1
        span = Span(text, start)
        if span not in spans:
            spans.append(span)
    return tuple(spans), fixed


def read_squad(spec: TaskSpec, path: Path, rel: str) -> list[Example]:
    """SQuAD-style JSON (``data[].paragraphs[].qas[]``), one example per question with >= 1 locatable answer.

    ``answer_start`` values that do not point at the answer text (CMRC 2018 has a few) are replaced by the
    occurrence of the answer nearest to them; questions with no locatable answer are dropped (counted in the log).
    Uids are ``"<task>/<file>#<question id>"``.
    """
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DataError(f"{path}: expected SQuAD-style JSON with a top-level 'data' list")
    out, fixed, dropped = [], 0, 0
    for a, article in enumerate(data["data"]):
        for p, para in enumerate(article.get("paragraphs", [])):
            context = str(para.get("context", ""))
            for q, qa in enumerate(para.get("qas", [])):
                where = f"{path}: data[{a}].paragraphs[{p}].qas[{q}]"
                if "question" not in qa:
                    raise DataError(f"{where}: missing key 'question'")
                spans, n_fixed = _answers(context, qa.get("answers"), where)
                fixed += n_fixed
                if not spans:
                    dropped += 1
                    continue
                uid = make_uid(spec, rel, qa.get("id", f"{a}.{p}.{q}"))
                out.append(Example(uid, {"context": context, "question": str(qa["question"]).strip()},
                                   answers=spans))
    if fixed or dropped:
        logger.info("%s: %d answer offsets re-located, %d questions without a locatable answer dropped",
                    path.name, fixed, dropped)
    if not out:
        raise DataError(f"{path}: no question with an answer found; expected SQuAD-style data")
    return out


def read_c3(spec: TaskSpec, path: Path, rel: str) -> list[Example]:
    """C3 documents ``[[lines], [{question, choice: [...], answer: <text of a choice>}], doc_id]``.

    Fields: ``context`` = the passage lines joined with newlines, ``question``; options = the choices; label =
    the index of the answer text among the choices. Uids ``"<task>/<file>#<doc_id>/<question number>"``.
    """
    data = read_json(path)
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON array of C3 documents")
    out = []
    for d, doc in enumerate(data, start=1):
        if not (isinstance(doc, list) and len(doc) == 3 and isinstance(doc[0], list) and isinstance(doc[1], list)):
            raise DataError(f"{path}: document {d}: expected [[passage lines], [questions], id]")
        context = "\n".join(str(s).strip() for s in doc[0])
        for q, item in enumerate(doc[1]):
            rec = Record(path, d, item)
            options = tuple(str(c).strip() for c in get_column(rec, "choice"))
            answer = str(get_column(rec, "answer")).strip()
            if answer not in options:
                raise DataError(f"{path}: document {d} question {q}: unknown label {answer!r}: the answer is not "
                                f"one of the choices {list(options)}")
            fields = {"context": context, "question": clean_text(get_column(rec, "question"))}
            out.append(Example(make_uid(spec, rel, f"{doc[2]}/{q}"), fields, label=options.index(answer),
                               options=options))
    return out
