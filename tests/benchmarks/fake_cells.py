"""Helpers of the sweep tests: a fake-backend factory for cells and a tiny user task written to a folder.

``fixed.backend_factory: tests.benchmarks.fake_cells:make_backend`` makes every cell of a sweep use the linear fake
Backend of the method tests (milliseconds per call), so sweeps run end to end in worker processes without a model.
``SLOW_S`` (environment ``FAKE_CELL_SLEEP``) slows each evaluate down so a test can kill a sweep mid-cell.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from tests.bbt_mp2.methods.conftest import FakeBackend


class SlowFakeBackend(FakeBackend):
    """The fake backend, sleeping ``FAKE_CELL_SLEEP`` seconds per evaluate (default 0)."""

    def evaluate(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(float(os.environ.get("FAKE_CELL_SLEEP", "0")))
        return super().evaluate(*args, **kwargs)


def make_backend(cell: dict[str, Any]) -> FakeBackend:
    """Backend factory of a sweep cell (``fixed.backend_factory``)."""
    return SlowFakeBackend()


def write_user_task(folder: Path, name: str = "toy", n: int = 80, labels: tuple[str, ...] = ("bad", "good")) -> Path:
    """A user task spec + JSONL files (``n`` train, ``n // 2`` test examples); returns the spec path."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, size in (("train", n), ("test", n // 2)):
        rows = [{"text": f"{split} example number {i}", "label": labels[i % len(labels)]} for i in range(size)]
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = {"name": name, "lang": "en", "type": "single", "label_words": list(labels), "k_shot": 4,
            "columns": {"text": "text", "label": "label"}, "files": {"train": "train.jsonl", "test": "test.jsonl"}}
    path = folder / f"{name}.json"
    path.write_text(json.dumps(spec))
    return path
