"""What travels between :class:`servers.client.RemoteBackend` and the server, in plain JSON.

Populations are little-endian float32 bytes, base64-encoded, with their shape beside them (never JSON number lists:
a BBT population of 20 x 500 is 40 KB of bytes, ~53 KB as base64). Tasks and examples travel as plain dicts.
Both sides import this module, so the encoding has one home.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bbt_mp2.errors import ConfigError, ShapeError
from bbt_mp2.tasks.types import Example, Metric, Span, TaskSpec, TaskType

__all__ = [
    "encode_array", "decode_array", "task_to_dict", "task_from_dict", "example_to_dict", "example_from_dict",
]

_LE_F32 = np.dtype("<f4")


def encode_array(array: np.ndarray) -> dict[str, Any]:
    """``{"shape": [...], "data": base64 of little-endian float32 bytes}`` of ``array`` (cast to float32)."""
    a = np.ascontiguousarray(np.asarray(array), dtype=_LE_F32)
    return {"shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode("ascii")}


def decode_array(shape: Sequence[int], data: str, *, max_values: int) -> np.ndarray:
    """The float32 array of :func:`encode_array`'s output, checked before use.

    Args:
        shape: the declared shape (every dimension >= 1).
        data: base64 of ``prod(shape)`` little-endian float32 values.
        max_values: most values accepted (the server's size limit).

    Returns:
        A ``shape`` float32 ndarray with only finite values.

    Raises:
        ShapeError: a bad shape, too many values, a byte count that does not match the shape, bad base64, NaN/inf.
    """
    if not shape or any(int(s) < 1 for s in shape):
        raise ShapeError(f"population shape {list(shape)} must have every dimension >= 1")
    count = math.prod(int(s) for s in shape)
    if count > max_values:
        raise ShapeError(f"population of shape {list(shape)} holds {count} values; the server takes at most "
                         f"{max_values}")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ShapeError(f"population data is not valid base64: {exc}") from None
    if len(raw) != 4 * count:
        raise ShapeError(f"population data has {len(raw)} bytes; shape {list(shape)} of float32 needs {4 * count}")
    out = np.frombuffer(raw, dtype=_LE_F32).astype(np.float32).reshape([int(s) for s in shape])
    if not np.isfinite(out).all():
        raise ShapeError("population holds NaN or inf; send finite vectors")
    return out


def task_to_dict(task: TaskSpec) -> dict[str, Any]:
    """A :class:`TaskSpec` as plain JSON data."""
    return {"name": task.name, "lang": task.lang, "type": task.type.value, "label_words": list(task.label_words),
            "metric": task.metric.value, "template": task.template, "k_shot": task.k_shot,
            "description": task.description, "extra": dict(task.extra)}


def task_from_dict(data: Mapping[str, Any]) -> TaskSpec:
    """The :class:`TaskSpec` of :func:`task_to_dict`.

    Raises:
        ConfigError: unknown keys, an unknown type or metric.
    """
    known = {"name", "lang", "type", "label_words", "metric", "template", "k_shot", "description", "extra"}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"task spec has unknown keys {sorted(unknown)}; known: {sorted(known)}")
    try:
        kind = TaskType(data["type"])
        metric = Metric(data.get("metric", "acc"))
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"task spec: {exc}; types {[t.value for t in TaskType]}, metrics "
                          f"{[m.value for m in Metric]}") from None
    return TaskSpec(name=str(data["name"]), lang=str(data.get("lang", "en")), type=kind,
                    label_words=tuple(str(w) for w in data.get("label_words", ())), metric=metric,
                    template=str(data.get("template", "")), k_shot=int(data.get("k_shot", 16)),
                    description=str(data.get("description", "")), extra=dict(data.get("extra") or {}))


def example_to_dict(example: Example) -> dict[str, Any]:
    """An :class:`Example` as plain JSON data."""
    return {"uid": example.uid, "fields": dict(example.fields), "label": example.label,
            "options": None if example.options is None else list(example.options),
            "answers": None if example.answers is None else [{"text": a.text, "start": a.start}
                                                            for a in example.answers]}


def example_from_dict(data: Mapping[str, Any]) -> Example:
    """The :class:`Example` of :func:`example_to_dict`."""
    answers = data.get("answers")
    options = data.get("options")
    return Example(uid=str(data["uid"]), fields={str(k): str(v) for k, v in dict(data["fields"]).items()},
                   label=None if data.get("label") is None else int(data["label"]),
                   options=None if options is None else tuple(str(o) for o in options),
                   answers=None if answers is None else tuple(Span(str(a["text"]), int(a["start"]))
                                                              for a in answers))
