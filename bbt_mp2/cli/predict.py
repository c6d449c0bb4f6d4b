"""``bbt-mp2 predict --run RUN_DIR --input FILE [--output FILE]``: label new examples with a run's tuned prompt.

Input: JSONL / JSON / CSV / TSV (by extension) with the task's columns (a user task: its spec's column map; a
built-in task: the role names ``text``, or ``text_a`` and ``text_b``, ...), a gold ``label`` column optional; any
other extension (``.txt``) is one text per line, for single-text tasks. Output: one row per input with the
predicted label, label word and per-option scores, printed as a table or written to ``--output`` (``.jsonl``,
``.csv`` or ``.tsv``; written atomically, so a failed run leaves no partial file). With gold labels the metric is
printed too.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
from pathlib import Path
from typing import Any

from bbt_mp2.errors import ConfigError, DataError

__all__ = ["add_parser", "run", "read_inputs", "format_rows"]

logger = logging.getLogger(__name__)

_TABLE_KINDS = {".jsonl": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv"}
_OUT_KINDS = (".jsonl", ".csv", ".tsv")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``predict`` on the top-level sub-parsers."""
    p = subparsers.add_parser("predict", help="label new examples with the tuned prompt of a run directory",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True, help="run directory of a finished `bbt-mp2 tune`")
    p.add_argument("--input", type=Path, required=True, help="JSONL/JSON/CSV/TSV with the task's columns, or .txt "
                                                             "with one text per line (single-text tasks)")
    p.add_argument("--output", type=Path, default=None, help="write predictions here (.jsonl, .csv or .tsv) "
                                                             "instead of printing them")
    p.add_argument("--task", default=None, help="task name or spec file whose column map reads --input (default: "
                                                "the run's task)")
    p.add_argument("--device", default="cpu", help="torch device")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return p


def _columns(spec: Any) -> tuple[dict[str, Any], Any]:
    """(role -> column, label column) to read an input file of ``spec``."""
    from bbt_mp2.tasks.readers import _TEXT_ROLES

    if "spec_file" in spec.extra and spec.extra.get("formats"):
        fmt = spec.extra["formats"][0]
        return dict(fmt.get("columns", {})), fmt.get("label")
    roles = {r: r for r in _TEXT_ROLES[spec.type]}
    if spec.type.value == "multiple_choice":
        roles.update(question="question", options="options")
    return roles, "label"


def read_inputs(spec: Any, path: Path) -> list[Any]:
    """The examples of an input file for ``spec`` (see module docstring); gold labels kept when present.

    Raises:
        DataError: a missing or empty file, a missing column or an unknown label (file and line named), or a
            one-text-per-line file for a task that needs several texts.
    """
    from bbt_mp2.tasks.readers import example_from_row, make_uid
    from bbt_mp2.tasks.records import read_records

    kind = _TABLE_KINDS.get(path.suffix.lower(), "lines")
    if kind == "lines" and spec.type.value != "single":
        raise DataError(f"{path}: a file of one text per line fits single-text tasks only; task {spec.name!r} "
                        f"({spec.type.value}) needs a JSONL/CSV/TSV file with columns {sorted(_columns(spec)[0])}")
    records = read_records(path, kind, header=True)
    columns, label = _columns(spec)
    out = []
    for rec in records:
        has_label = label is not None and isinstance(rec.data, dict) and label in rec.data
        fmt = {"kind": kind, "columns": columns, "label": label if has_label else None}
        out.append(example_from_row(spec, rec, make_uid(spec, path.name, rec.line), fmt))
    return out


def format_rows(examples: list[Any], preds: Any) -> list[dict[str, Any]]:
    """Output rows: input id, predicted label index and word, per-option scores, gold label word if known."""
    rows = []
    for ex, row in zip(examples, preds.rows()):
        out = {"id": ex.uid.rsplit("/", 1)[-1], "label": row["label"], "label_word": row["label_word"]}
        out.update({f"score_{name}": round(score, 6) for name, score in row["scores"].items()})
        if "gold" in row:
            names = preds.option_names
            out["gold"] = names[row["gold"]] if row["gold"] < len(names) else row["gold"]
        rows.append(out)
    return rows


def _render(rows: list[dict[str, Any]], kind: str) -> str:
    if kind == ".jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, delimiter="\t" if kind == ".tsv" else ",", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _table(rows: list[dict[str, Any]]) -> str:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    cells = [keys] + [[str(r.get(k, "")) for k in keys] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(keys))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in cells)


def run(args: argparse.Namespace) -> int:
    """Check the output path, load the tuned prompt, read the inputs, predict, print or write."""
    from bbt_mp2.atomic_io import atomic_write_bytes
    from bbt_mp2.cli import set_threads
    from bbt_mp2.tasks.user import resolve_task
    from bbt_mp2.tuned import load_tuned

    set_threads(args.threads)
    if args.output is not None and args.output.suffix.lower() not in _OUT_KINDS:
        raise ConfigError(f"--output {args.output}: unknown format; use one of {', '.join(_OUT_KINDS)}")
    if not args.input.is_file():
        raise DataError(f"input file {str(args.input)!r} does not exist")
    tuned = load_tuned(args.run, device=args.device)
    spec = tuned.spec
    if args.task is not None:
        spec = resolve_task(args.task)
        if spec.name != tuned.spec.name:
            raise ConfigError(f"--task {args.task} is task {spec.name!r}, but run {args.run} tuned {tuned.spec.name!r}")
    examples = read_inputs(spec, args.input)
    preds = tuned.predict(examples)
    rows = format_rows(examples, preds)
    metric = "" if preds.metric is None else (f"{preds.metric_name} {preds.metric:.4f} on "
                                              f"{int((preds.gold >= 0).sum())} inputs with gold labels")
    if args.output is not None:
        atomic_write_bytes(args.output, _render(rows, args.output.suffix.lower()).encode("utf-8"))
        print(f"wrote {len(rows)} predictions to {args.output}" + (f"; {metric}" if metric else ""))
    else:
        print(_table(rows))
        if metric:
            print(metric)
    return 0
