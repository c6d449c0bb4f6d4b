"""``bbt-mp2 runs DIR...``: one row per tuning run directory, to see where fifty runs stand without opening JSON.

Columns: run directory, task, method, seed, calls (spent / budget), dev and test metric before -> after, status.
Status: ``finished`` (``result.json``), ``failed`` (``failure.json``: the error is shown), ``interrupted`` (a
config and loop state but neither). A DIR that is not itself a run is searched one level down (``runs/``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bbt_mp2.errors import DataError

__all__ = ["add_parser", "run", "run_row", "find_runs"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``runs`` on the top-level sub-parsers."""
    p = subparsers.add_parser("runs", help="one row per run directory: task, method, seed, calls, dev/test, status",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="run directories, or folders holding them")
    return p


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _is_run(path: Path) -> bool:
    """A tuning run directory: a loop state, or a config.json with a ``run`` section (not a checkpoint's)."""
    return (path / "state.pkl").is_file() or "run" in _read(path / "config.json")


def find_runs(dirs: list[Path]) -> list[Path]:
    """The run directories among ``dirs`` and their sub-directories (sorted, in argument order).

    Raises:
        DataError: a DIR that does not exist, or one that holds no run at all.
    """
    out: list[Path] = []
    for d in dirs:
        if not d.is_dir():
            raise DataError(f"{d}: no such directory")
        found = [d] if _is_run(d) else sorted(p for p in d.iterdir() if p.is_dir() and _is_run(p))
        if not found:
            raise DataError(f"{d} holds no tuning run (no config.json in it or in its sub-directories)")
        out.extend(found)
    return out


def _pair(before: Any, after: Any) -> str:
    if before is None or after is None:
        return "-"
    return f"{before:.4f} -> {after:.4f}"


def run_row(path: Path) -> dict[str, str]:
    """The row of one run directory (see module docstring)."""
    from bbt_mp2.tuned import FAILURE_FILE

    config = _read(path / "config.json").get("run", {})
    mc = config.get("method_config", {})
    row = {"run": str(path), "task": str(config.get("task", "?")), "method": str(config.get("method", "?")),
           "seed": str(config.get("seed", "?")), "calls": "-", "dev": "-", "test": "-", "status": "interrupted"}
    result = _read(path / "result.json") if (path / "result.json").is_file() else None
    failure = _read(path / FAILURE_FILE) if (path / FAILURE_FILE).is_file() else None
    if result:
        start, tuned = result.get("start", {}), result.get("tuned", {})
        row.update(calls=f"{result.get('calls')}/{result.get('budget')}",
                   dev=_pair(start.get("dev_metric"), tuned.get("dev_metric")),
                   test=_pair((start.get("test") or {}).get("metric"), (tuned.get("test") or {}).get("metric")),
                   status="finished")
        if tuned.get("test") is None:
            row["test"] = "none (no test file)"
        return row
    history = [line for line in (path / "history.jsonl").read_text().splitlines() if line.strip()] if (
        path / "history.jsonl").is_file() else []
    if history:
        last = json.loads(history[-1])
        row["calls"] = f"{last.get('calls')}/{mc.get('budget', '?')}"
        best = last.get("best_dev")
        row["dev"] = "-" if best is None else f"best {best:.4f}"
    if failure is not None:
        row["status"] = f"failed: {failure.get('error')}: {failure.get('message', '')}"[:160]
    return row


def run(args: argparse.Namespace) -> int:
    """Print the table; exit status 0 (1 when any run failed)."""
    rows = [run_row(p) for p in find_runs(args.dirs)]
    header = {k: k for k in rows[0]}
    keys = list(header)
    widths = {k: max(len(r[k]) for r in [header, *rows]) for k in keys}
    for r in [header, *rows]:
        print("  ".join(r[k].ljust(widths[k]) for k in keys).rstrip())
    counts = {s: sum(r["status"].startswith(s) for r in rows) for s in ("finished", "interrupted", "failed")}
    print(f"{len(rows)} runs: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return 1 if counts["failed"] else 0
