"""Read a sweep directory back: one :class:`CellRecord` per planned cell, and paper-layout aggregates.

The planned cells come from ``sweep.json`` (so cells that never ran are known and shown as missing); each cell's
run directory gives its status (``done``, ``failed`` with ``error.json``, ``partial``, ``missing``), its
``result.json`` (test metric of the dev-selected parameters, dev metric, controls, wall time) and its
``history.jsonl`` (curves). A table entry is the mean and population std over the seeds that finished, and it
says how many of the planned seeds that is and how many failed; an average over tasks is given only for rows where
every task finished every seed, never over what happens to be there.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bbt_mp2.errors import ConfigError
from benchmarks.sweep.executors import SWEEP_FILE
from benchmarks.sweep.plan import Cell
from benchmarks.sweep.worker import ERROR_FILE, RESULT_FILE, cell_status

__all__ = ["CellRecord", "Entry", "load_records", "load_sweep", "entry", "row_label", "table_key",
           "calls_to_fraction", "curve"]

logger = logging.getLogger(__name__)


@dataclass
class CellRecord:
    """A planned cell and what its run directory holds.

    Attributes:
        cell: the planned :class:`Cell`.
        status: ``done``, ``failed``, ``partial`` or ``missing``.
        result: ``result.json`` (done cells), else None.
        error: ``error.json``'s ``type: message`` (failed cells), else None.
        history: ``history.jsonl`` records.
        run_config: ``config.json`` (black-box cells), else {}.
    """

    cell: Cell
    status: str
    result: dict[str, Any] | None = None
    error: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    run_config: dict[str, Any] = field(default_factory=dict)

    @property
    def test(self) -> float | None:
        """Test metric of the dev-selected parameters (None unless done)."""
        return None if self.result is None else float(self.result["tuned"]["test"]["metric"])

    @property
    def start_test(self) -> float | None:
        """Test metric of the untuned start (None unless done, or when the run scored no start)."""
        if self.result is None:
            return None
        test = (self.result.get("start") or {}).get("test") or {}
        return None if test.get("metric") is None else float(test["metric"])

    @property
    def train_loss(self) -> float | None:
        """Best training loss the tuning reached (the objective; None unless done or not recorded)."""
        if self.result is None or self.result.get("best_train_loss") is None:
            return None
        return float(self.result["best_train_loss"])

    def value(self, which: str) -> float | None:
        """``test`` (tuned), ``start_test`` (untuned start) test metric, or ``train_loss`` (best training loss)."""
        if which == "train_loss":
            return self.train_loss
        return self.start_test if which == "start_test" else self.test

    @property
    def wall_s(self) -> float | None:
        return None if self.result is None else float(self.result.get("wall_time", math.nan))

    @property
    def calls(self) -> int | None:
        """API calls spent (black-box) or steps (gradient)."""
        if self.result is None:
            return None
        return int(self.result.get("calls", self.result.get("steps", 0)))


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _read_history(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def load_sweep(sweep_dir: str | Path) -> dict[str, Any]:
    """``sweep.json`` of a sweep directory.

    Raises:
        ConfigError: the directory has no ``sweep.json`` (not a sweep output directory).
    """
    data = _read_json(Path(sweep_dir) / SWEEP_FILE)
    if data is None:
        raise ConfigError(f"{sweep_dir} has no readable {SWEEP_FILE}; point `bench report` at the --out directory of "
                          f"`bbt-mp2 bench sweep`")
    return data


def load_records(sweep_dir: str | Path) -> list[CellRecord]:
    """One record per planned cell of the sweep in ``sweep_dir`` (run directories as they are now)."""
    records = []
    for raw in load_sweep(sweep_dir)["cells"]:
        cell = Cell.from_dict(raw)
        out = Path(cell.out_dir)
        if not out.is_absolute() and not out.exists():
            out = Path(sweep_dir) / "cells" / cell.id  # a sweep directory moved or read from elsewhere
            cell.out_dir = str(out)
        status = cell_status(out)
        error = _read_json(out / ERROR_FILE) if status == "failed" else None
        records.append(CellRecord(
            cell=cell, status=status, result=_read_json(out / RESULT_FILE) if status == "done" else None,
            error=None if error is None else f"{error.get('type')}: {error.get('message')}",
            history=_read_history(out / "history.jsonl"), run_config=_read_json(out / "config.json") or {}))
    return records


def row_label(cell: Cell) -> str:
    """Table row of a cell: method, then optimizer and settings variant when not the defaults."""
    extras = [f"opt {cell.optimizer}" if cell.optimizer else "",
              cell.settings_name if cell.settings_name != "default" else ""]
    extras = [e for e in extras if e]
    return cell.method + (f" [{', '.join(extras)}]" if extras else "")


def table_key(cell: Cell, track: str, budget_label: str) -> tuple[str, ...]:
    """What a table holds fixed: track, backbone, checkpoints entry, preset, shots, labels and the budget entry."""
    return (track, cell.backbone, cell.checkpoint_entry, cell.preset, str(cell.shots or "-"),
            str(cell.labels or "-"), budget_label)


@dataclass
class Entry:
    """One (row, task) entry of a table: test metric over seeds.

    Attributes:
        values: test metrics of the finished seeds.
        planned: seeds planned. failed: seeds that failed. unfinished: partial or missing seeds.
    """

    values: list[float]
    planned: int
    failed: int
    unfinished: int

    @property
    def complete(self) -> bool:
        return len(self.values) == self.planned

    @property
    def mean(self) -> float | None:
        return float(np.mean(self.values)) if self.values else None

    @property
    def std(self) -> float | None:
        return float(np.std(self.values)) if self.values else None

    def text(self, scale: float = 100.0) -> str:
        """``81.2 ± 0.4``; ``81.2 ± 0.4 (2/3, 1 failed)`` when seeds are missing; ``missing``/``failed``."""
        if not self.values:
            return f"failed ({self.failed}/{self.planned})" if self.failed else "missing"
        body = f"{scale * self.mean:.1f} ± {scale * self.std:.1f}"
        if self.complete:
            return body
        notes = [f"{len(self.values)}/{self.planned}"] + ([f"{self.failed} failed"] if self.failed else [])
        return f"{body} ({', '.join(notes)})"


def entry(records: Sequence[CellRecord], which: str = "test") -> Entry:
    """The :class:`Entry` of the records of one (row, task) (one per seed); ``which``: ``test`` (tuned),
    ``start_test`` (the untuned start) or ``train_loss`` (best training loss)."""
    values = [r.value(which) for r in records]
    return Entry(values=[v for v in values if v is not None], planned=len(records),
                 failed=sum(r.status == "failed" for r in records),
                 unfinished=sum(r.status in ("partial", "missing") for r in records))


def curve(record: CellRecord, key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(calls, values)`` of a history key (``best_dev``, ``best_loss``; gradient runs: ``dev_metric`` running max,
    ``loss``), both 1-D float arrays; empty when the history has none."""
    xs, ys, best = [], [], -math.inf
    for r in record.history:
        x = r.get("calls", r.get("step"))
        if record.cell.is_gradient:
            if key == "best_dev" and r.get("dev_metric") is not None:
                best = max(best, float(r["dev_metric"]))
                xs.append(x)
                ys.append(best)
            elif key == "best_loss" and r.get("loss") is not None:
                xs.append(x)
                ys.append(float(r["loss"]))
        elif r.get(key) is not None and x is not None:
            xs.append(x)
            ys.append(float(r[key]))
    return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)


def calls_to_fraction(record: CellRecord, fraction: float) -> int | None:
    """The first calls (steps) at which the selected dev score reached ``fraction`` of its final value; None if the
    cell is not done or has no dev history."""
    if record.result is None:
        return None
    final = float(record.result["tuned"]["dev_metric"])
    if final <= 0:
        return 0
    if float(record.result["start"]["dev_metric"]) >= fraction * final:
        return 0
    xs, ys = curve(record, "best_dev")
    hit = np.nonzero(ys >= fraction * final - 1e-12)[0]
    return int(xs[hit[0]]) if hit.size else None


def group_by(records: Iterable[CellRecord], key: Any) -> dict[Any, list[CellRecord]]:
    """Records grouped by ``key(record)``, in first-seen order."""
    out: dict[Any, list[CellRecord]] = {}
    for r in records:
        out.setdefault(key(r), []).append(r)
    return out
