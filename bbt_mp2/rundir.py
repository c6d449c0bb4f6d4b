"""The run directory of every run (tuning, pre-training): its files, written atomically, and how they are read back.

One class, :class:`RunDir`, serves the tuning runs (:mod:`bbt_mp2.methods.runner`) and the pre-training runs
(:class:`bbt_mp2.pretrain.state.RunFiles` adds the torch training state); one :func:`package_versions` records
what a run's numbers depend on, and :func:`check_versions` refuses a resume under other versions.

Common files:
    config.json     what decides the run (a resume must match it)
    history.jsonl   one JSON record per line (generation, log or eval event)
    state.json      resumable state as plain JSON: ndarrays stored as ``{"__ndarray__": nested lists, "dtype"}``
                    (exact for every float), non-finite floats as ``{"__float__": "inf"}``; never pickle
    result.json     the outcome
Every write goes through :mod:`bbt_mp2.atomic_io` (temp file + fsync + rename); history lines are appended and
cut back to the last saved state on resume.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from bbt_mp2.atomic_io import atomic_write_bytes
from bbt_mp2.errors import ResumeError

__all__ = ["RunDir", "package_versions", "check_versions", "encode_state", "decode_state", "VERSIONED"]

logger = logging.getLogger(__name__)

VERSIONED = ("bbt-mp2", "numpy", "cma", "botorch", "gpytorch", "torch", "transformers", "nevergrad")
_ALIASES = {"bbt_mp2": "bbt-mp2"}  # keys written by older pre-training states


def package_versions(names: tuple[str, ...] = VERSIONED) -> dict[str, str]:
    """Installed versions of the packages a run's numbers depend on (``"missing"`` if absent)."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def check_versions(saved: Mapping[str, str], where: str) -> None:
    """Refuse to resume a state written under other package versions (only the packages ``saved`` names count;
    local build tags such as ``+cpu`` are ignored).

    Raises:
        ResumeError: naming each package whose version differs.
    """
    names = tuple(_ALIASES.get(k, k) for k in saved)
    now = package_versions(names)
    diff = [f"{k}: saved {v}, installed {now[_ALIASES.get(k, k)]}" for k, v in saved.items()
            if _public(v) != _public(now[_ALIASES.get(k, k)])]
    if diff:
        raise ResumeError(f"{where} was written with other package versions ({'; '.join(diff)}); resume with the "
                          "same versions or start a new run")


def _public(version: str) -> str:
    return str(version).split("+")[0]


def encode_state(value: Any) -> Any:
    """Plain-JSON form of a state tree: ndarrays and non-finite floats tagged, tuples as lists."""
    if isinstance(value, np.ndarray):
        return {"__ndarray__": encode_state(value.tolist()), "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return encode_state(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    if isinstance(value, Mapping):
        return {str(k): encode_state(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_state(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"run state holds a {type(value).__name__}, which is not plain data; store plain types/ndarrays")


def decode_state(value: Any) -> Any:
    """Inverse of :func:`encode_state`."""
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.asarray(decode_state(value["__ndarray__"]), dtype=value["dtype"]).reshape(value["shape"])
        if "__float__" in value:
            return float(value["__float__"])
        return {k: decode_state(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_state(v) for v in value]
    return value


class RunDir:
    """Reads and writes the files of one run directory (see module docstring).

    Args:
        path: the run directory (created on the first write).
        write: False where this process must not write (non-main DDP ranks): every write becomes a no-op.
    """

    CONFIG = "config.json"
    HISTORY = "history.jsonl"
    STATE = "state.json"
    RESULT = "result.json"

    def __init__(self, path: str | os.PathLike[str], *, write: bool = True) -> None:
        self.path = Path(path)
        self.write = write

    def file(self, name: str) -> Path:
        return self.path / name

    def has_run(self) -> bool:
        """True when the directory already holds a run (a config or a state)."""
        return self.file(self.CONFIG).exists() or self.file(self.STATE).exists()

    # -- JSON and bytes -------------------------------------------------------------------------------------------
    def write_bytes(self, name: str, data: bytes) -> None:
        if self.write:
            atomic_write_bytes(self.file(name), data)

    def write_json(self, name: str, data: Mapping[str, Any]) -> None:
        self.write_bytes(name, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())

    def write_text(self, name: str, text: str) -> None:
        self.write_bytes(name, text.encode())

    def read_json(self, name: str) -> dict[str, Any]:
        try:
            return json.loads(self.file(name).read_text())
        except json.JSONDecodeError as exc:
            raise ResumeError(f"{self.file(name)} is not valid JSON ({exc}); delete it or the run directory") from exc

    def save_array(self, name: str, array: np.ndarray) -> None:
        """``name`` (``.npy``) holding ``array`` as float64."""
        buf = io.BytesIO()
        np.save(buf, np.asarray(array, dtype=np.float64), allow_pickle=False)
        self.write_bytes(name, buf.getvalue())

    # -- resumable state ------------------------------------------------------------------------------------------
    def save_state(self, state: Mapping[str, Any]) -> None:
        """``state.json``: the state tree (plain types and ndarrays), see :func:`encode_state`."""
        self.write_bytes(self.STATE, json.dumps(encode_state(dict(state)), sort_keys=True).encode())

    def load_state(self) -> dict[str, Any] | None:
        """The saved state tree, or None when there is none.

        Raises:
            ResumeError: the state file is unreadable, or only an old pickled ``state.pkl`` exists.
        """
        path = self.file(self.STATE)
        if not path.exists():
            if self.file("state.pkl").exists():
                raise ResumeError(f"{self.path} holds a pickled state.pkl from an older version; run state is JSON "
                                  "now and pickles are never loaded: start the run again in a new directory")
            return None
        return decode_state(self.read_json(self.STATE))

    # -- history --------------------------------------------------------------------------------------------------
    def append_history(self, record: Mapping[str, Any]) -> None:
        if not self.write:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.file(self.HISTORY), "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")
            fh.flush()

    def read_history(self) -> list[dict[str, Any]]:
        path = self.file(self.HISTORY)
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def truncate_history(self, keep: int | Callable[[dict[str, Any]], bool]) -> None:
        """Drop history lines written after the last saved state: keep the first ``keep`` lines, or the lines for
        which ``keep(record)`` is true."""
        if not self.write:
            return
        records = self.read_history()
        kept = records[:keep] if isinstance(keep, int) else [r for r in records if keep(r)]
        self.write_text(self.HISTORY, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))
