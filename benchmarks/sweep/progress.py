"""One progress display for a whole sweep: a tqdm bar over API calls with cells done / running / failed.

Workers never talk to the display: it reads the last line of each unfinished cell's ``history.jsonl`` (the calls
spent so far), so the same display serves local processes and Ray tasks on a shared filesystem. tqdm's rate is
calls/s and its ETA the remaining calls at that rate. Gradient cells count their steps as calls.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from benchmarks.sweep.plan import Cell

__all__ = ["SweepProgress", "cell_calls_so_far"]

logger = logging.getLogger(__name__)


def cell_calls_so_far(out_dir: str | Path) -> int:
    """Calls (black-box) or steps (gradient) recorded in the last line of ``history.jsonl``; 0 if none."""
    path = Path(out_dir) / "history.jsonl"
    try:
        size = path.stat().st_size
    except OSError:
        return 0
    with open(path, "rb") as fh:
        fh.seek(max(0, size - 4096), os.SEEK_SET)
        lines = [line for line in fh.read().splitlines() if line.strip()]
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a partial line being written, or the cut at the window start
            continue
        return int(record.get("calls", record.get("step", 0)))
    return 0


class SweepProgress:
    """Tracks the cells of a sweep and draws one tqdm bar (``disable=True``: track only).

    Args:
        cells: every cell of the sweep.
        finished: ids of cells already finished before this session (their calls count as done).
        disable: no bar (e.g. ``--no-progress`` or a non-interactive log).
    """

    def __init__(self, cells: Iterable[Cell], finished: Iterable[str] = (), disable: bool = False) -> None:
        from tqdm.auto import tqdm

        self.cells = {c.id: c for c in cells}
        self.done: set[str] = set(finished)
        self.failed: set[str] = set()
        self.running: set[str] = set()
        self._seen: dict[str, int] = {}
        total = sum(c.calls for c in self.cells.values())
        initial = sum(self.cells[i].calls for i in self.done)
        self.bar = tqdm(total=total, initial=initial, unit="call", disable=disable, dynamic_ncols=True,
                        desc="sweep")
        self._refresh()

    def started(self, cell_id: str) -> None:
        """A cell was handed to a worker."""
        self.running.add(cell_id)
        self._seen.setdefault(cell_id, cell_calls_so_far(self.cells[cell_id].out_dir))
        self.bar.update(self._seen[cell_id])
        self._refresh()

    def poll(self) -> None:
        """Read the calls spent so far by the running cells and advance the bar."""
        for cid in list(self.running):
            now = cell_calls_so_far(self.cells[cid].out_dir)
            if now > self._seen.get(cid, 0):
                self.bar.update(now - self._seen.get(cid, 0))
                self._seen[cid] = now
        self._refresh()

    def finished(self, cell_id: str, status: dict[str, Any]) -> None:
        """A cell ended: ``status["status"]`` is ``done`` or ``failed``."""
        self.running.discard(cell_id)
        calls = self.cells[cell_id].calls
        if status.get("status") == "done":
            self.done.add(cell_id)
            self.bar.update(max(0, calls - self._seen.get(cell_id, 0)))
        else:
            self.failed.add(cell_id)
            self.bar.total = max(self.bar.n, self.bar.total - (calls - self._seen.get(cell_id, 0)))
            logger.info("cell %s failed: %s", cell_id, status.get("error", "?"))
        self._seen[cell_id] = calls
        self._refresh()

    def _refresh(self) -> None:
        self.bar.set_postfix(done=f"{len(self.done)}/{len(self.cells)}", running=len(self.running),
                             failed=len(self.failed), refresh=True)

    def close(self) -> None:
        self.bar.close()
