"""User-defined tasks: a small JSON/YAML spec + JSONL/JSON/CSV/TSV files -> a registered task.

Example spec (``reviews.yaml``; file paths are relative to the spec file)::

    name: reviews                 # registry name (lowercase)
    lang: en                      # en | zh (selects the MRC templates)
    type: single                  # single | pair | nli | multiple_choice | span | keyword
    label_words: [bad, good]      # classification: label index -> word shown in the MRC query
    label_map: {"1": bad, "2": bad, "4": good, "5": good}   # optional: raw label -> label word
    columns: {text: review, label: stars}                   # role -> column (name, or index without header)
    files: {train: train.jsonl, test: test.jsonl}           # dev optional: carved from train if absent; without
                                                            # test the task is tuned and reported on dev only
    format: jsonl                 # optional: jsonl | json | csv | tsv (default: from the file extension)
    header: true                  # csv/tsv: first line names the columns
    template: sentiment           # optional MRC template name (default: by type)
    metric: acc                   # optional: acc | f1 | span_f1 | span_em
    k_shot: 16                    # optional: default by the MP2 sizes

Roles per type: single ``text``; pair/nli ``text_a``, ``text_b``; multiple_choice ``context`` (+ ``question``),
``options`` (a list cell) and ``label`` (index or option text); span ``context``, ``question``, ``answer``
(+ ``answer_start``); keyword ``context``, ``answer``. Any other role is copied into ``Example.fields``.

Instead of ``files``, ``hf: {path: glue, name: sst2, splits: {train: train, test: validation}}`` reads a
HuggingFace dataset by name (needs the ``datasets`` package and internet; imported only then).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bbt_mp2.errors import ConfigError, DataError
from bbt_mp2.tasks.builtin import default_k
from bbt_mp2.tasks.readers import example_from_row, find_format, make_uid, read_table
from bbt_mp2.tasks.records import Record, read_json
from bbt_mp2.tasks.registry import register_task
from bbt_mp2.tasks.types import Metric, TaskSpec, TaskType

__all__ = ["load_user_task", "spec_from_dict", "resolve_task", "is_spec_file", "has_test_split"]

_KEYS = {"name", "lang", "type", "label_words", "label_map", "columns", "files", "format", "header", "template",
         "metric", "k_shot", "description", "hf", "label", "quoting"}
_SPEC_EXT = (".yaml", ".yml", ".json")
_EXT = {".jsonl": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv", ".txt": "tsv"}


def _load_mapping(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f"task spec file {str(path)!r} does not exist")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise ConfigError(f"task spec {path}: malformed YAML ({err})") from None
    else:
        data = read_json(path)
    if not isinstance(data, dict):
        raise ConfigError(f"task spec {path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def _kind(spec_path: Path, folder: Path, rel: str, declared: str | None) -> str:
    if declared:
        return declared
    ext = Path(rel).suffix.lower()
    if ext not in _EXT:
        raise ConfigError(f"task spec {spec_path}: cannot tell the format of {rel!r}; add format: jsonl|json|csv|tsv")
    if ext == ".json" and (folder / rel).is_file():
        head = (folder / rel).read_text(encoding="utf-8-sig").lstrip()[:1]
        return "json" if head == "[" else "jsonl"
    return _EXT[ext]


def _splits(spec_path: Path, files: dict[str, str]) -> dict[str, Any]:
    unknown = set(files) - {"train", "dev", "test"}
    if unknown or "train" not in files:
        raise ConfigError(f"task spec {spec_path}: 'files' must map train (required), dev, test to files; "
                          f"got keys {sorted(files)}")
    if "dev" in files and "test" in files:
        return {k: [v] for k, v in files.items()}
    out: dict[str, Any] = {"pool": [files["train"]]}
    out.update({k: [v] for k, v in files.items() if k != "train"})
    if "test" not in files:  # no test file: no test numbers (tuned and reported on dev only), none carved
        out["test_frac"] = 0.0
    return out


def spec_from_dict(data: dict[str, Any], spec_path: Path) -> TaskSpec:
    """Validate a user spec mapping and build its :class:`TaskSpec` (files resolved next to ``spec_path``).

    Raises:
        ConfigError: unknown or missing keys, a bad type/lang/metric, or label words missing for a classifier.
    """
    unknown = set(data) - _KEYS
    if unknown:
        raise ConfigError(f"task spec {spec_path}: unknown keys {sorted(unknown)}; known: {sorted(_KEYS)}")
    missing = [k for k in ("name", "lang", "type", "columns") if k not in data]
    if missing or not ({"files", "hf"} & set(data)):
        raise ConfigError(f"task spec {spec_path}: missing keys {missing or ['files (or hf)']}")
    try:
        task_type, metric = TaskType(data["type"]), Metric(data.get("metric", "acc"))
    except ValueError as err:
        raise ConfigError(f"task spec {spec_path}: {err}; types: {[t.value for t in TaskType]}, metrics: "
                          f"{[m.value for m in Metric]}") from None
    if task_type in (TaskType.SPAN, TaskType.KEYWORD) and "metric" not in data:
        metric = Metric.SPAN_F1
    columns = dict(data["columns"])
    label_col = data.get("label", columns.pop("label", None))
    words = tuple(str(w) for w in data.get("label_words", ()))
    folder = spec_path.parent.resolve()
    files = {k: str(v) for k, v in (data.get("files") or {}).items()}
    if "hf" in data:
        files = {k: f"hf:{v}" for k, v in data["hf"].get("splits", {"train": "train", "test": "test"}).items()}
    formats = [{"match": rel, "kind": "hf" if rel.startswith("hf:") else _kind(spec_path, folder, rel,
                                                                                 data.get("format")),
                "header": bool(data.get("header", True)), "quoting": bool(data.get("quoting", True)),
                "columns": columns, "label": label_col} for rel in files.values()]
    extra = {"dir": str(folder), "splits": _splits(spec_path, files), "formats": formats, "spec_file": str(spec_path),
             "label_map": {str(k): str(v) for k, v in (data.get("label_map") or {}).items()},
             "no_test": "test" not in files}
    if "hf" in data:
        extra["hf"] = dict(data["hf"])
    return TaskSpec(name=str(data["name"]).lower(), lang=str(data["lang"]), type=task_type, label_words=words,
                    metric=metric, template=str(data.get("template", "")),
                    k_shot=int(data.get("k_shot", default_k(task_type, len(words)))),
                    description=str(data.get("description", f"user task from {spec_path.name}")), extra=extra)


def _read_hf(spec: TaskSpec, rel: str) -> list:
    """Thin path to the HuggingFace ``datasets`` library (needs internet; cannot be tested offline)."""
    try:
        import datasets
    except ImportError:
        raise ConfigError("task spec uses 'hf' but the 'datasets' package is missing; pip install "
                          "'bbt-mp2[hub]'") from None
    hf = spec.extra["hf"]
    rows = datasets.load_dataset(hf["path"], hf.get("name"), split=rel[3:])
    fmt = find_format(spec, rel)
    source = Path(f"hf/{hf['path']}/{hf.get('name') or ''}/{rel[3:]}")
    return [example_from_row(spec, Record(source, i, dict(row)), make_uid(spec, rel, i), fmt)
            for i, row in enumerate(rows, start=1)]


def _user_reader(spec: TaskSpec, path: Path, rel: str) -> list:
    try:
        return _read_hf(spec, rel) if rel.startswith("hf:") else read_table(spec, path, rel)
    except DataError as err:
        raise DataError(f"task spec {spec.extra['spec_file']}: {err}") from None


def load_user_task(spec_path: str | os.PathLike[str], *, overwrite: bool = True) -> TaskSpec:
    """Read a task spec file (JSON or YAML), register the task, and return its :class:`TaskSpec`.

    After this, ``get_task(name)``, ``load_split(name, ...)`` and ``fewshot(name, ...)`` work as for built-ins.

    Args:
        spec_path: the ``.json``/``.yaml``/``.yml`` spec.
        overwrite: replace a task of the same name registered earlier (default true, so edits can be re-loaded).

    Raises:
        ConfigError: a malformed spec (the message names the spec file and the key).
        DataError: the spec file is missing. Errors in the data files surface when a split is loaded, naming the
            spec file, the data file, the line, and the missing column or unknown label.
    """
    path = Path(spec_path).expanduser().resolve()
    spec = spec_from_dict(_load_mapping(path), path)
    register_task(spec, _user_reader, overwrite=overwrite)
    return spec



def is_spec_file(name_or_path: str | os.PathLike[str]) -> bool:
    """True when ``name_or_path`` names a task spec file (a ``.yaml``/``.yml``/``.json`` path), not a task name."""
    text = os.fspath(name_or_path)
    return text.lower().endswith(_SPEC_EXT) or os.sep in text or Path(text).is_file()


def resolve_task(name_or_path: str | os.PathLike[str]) -> TaskSpec:
    """A registered task name (``sst2``) or a task spec file (``reviews.yaml``) -> its :class:`TaskSpec`.

    A spec file is loaded and registered (:func:`load_user_task`); a name is looked up.

    Raises:
        UnknownNameError: an unknown name (the known ones listed). DataError / ConfigError: a missing or malformed
            spec file (the file named).
    """
    from bbt_mp2.tasks.registry import get_task

    if is_spec_file(name_or_path):
        return load_user_task(name_or_path)
    return get_task(os.fspath(name_or_path))


def has_test_split(spec: TaskSpec) -> bool:
    """False for a user task whose spec names no test file: it is tuned and reported on dev only."""
    return not spec.extra.get("no_test", False)
