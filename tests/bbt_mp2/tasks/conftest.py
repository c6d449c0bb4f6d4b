"""Shared fixtures of the task-side tests: temp files for bad input (``root``, the data, is in tests/conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture()
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a text file under tmp_path and return its path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture()
def jsonl() -> Callable[[list[dict]], str]:
    """Turn rows into JSON-lines text."""
    return lambda rows: "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
