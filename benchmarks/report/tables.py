"""The report's tables: the paper's layout (methods as rows, tasks as columns + average, mean ± std over seeds,
one table per budget and fixed setting), calls to a fraction of the final dev score, wall time and calls/s,
accuracy against shots and against labels, failures; as Markdown and CSV.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks.report.aggregate import CellRecord, Entry, calls_to_fraction, entry, group_by, row_label, table_key

__all__ = ["Table", "main_tables", "fraction_table", "speed_table", "axis_table", "failure_lines", "header_lines",
           "cells_csv"]

_KEY_NAMES = ("track", "backbone", "checkpoints", "preset", "shots", "labels", "budget")


@dataclass
class Table:
    """A titled table: ``rows`` of ``(label, cells)``; ``csv_rows`` the same numbers for a CSV file."""

    title: str
    columns: list[str]
    rows: list[tuple[str, list[str]]] = field(default_factory=list)
    csv_rows: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| | " + " | ".join(self.columns) + " |",
                 "|---|" + "---|" * len(self.columns)]
        lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in self.rows]
        return "\n".join(lines + ([f"\n{self.note}"] if self.note else [])) + "\n"

    def csv(self) -> str:
        if not self.csv_rows:
            return ""
        buf = io.StringIO()
        keys = list(dict.fromkeys(k for r in self.csv_rows for k in r))
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.csv_rows)
        return buf.getvalue()


def _tasks(records: Sequence[CellRecord]) -> list[str]:
    return list(dict.fromkeys(r.cell.task_label or r.cell.task for r in records))


def _average(entries: dict[str, list[CellRecord]], tasks: list[str],
             which: str = "test") -> tuple[str, float | None, float | None]:
    """Average over tasks of the per-task means, std over seeds of the per-seed task averages; only when every
    task has every planned seed."""
    if any(t not in entries or not entry(entries[t], which).complete for t in tasks):
        return "incomplete", None, None
    by_seed: dict[int, list[float]] = {}
    for t in tasks:
        for r in entries[t]:
            by_seed.setdefault(r.cell.seed, []).append(float(r.value(which)))
    per_seed = [float(np.mean(v)) for v in by_seed.values() if len(v) == len(tasks)]
    mean = float(np.mean([entry(entries[t], which).mean for t in tasks]))
    std = float(np.std(per_seed)) if per_seed else 0.0
    return f"**{100 * mean:.1f} ± {100 * std:.1f}**", mean, std


_WHAT = {"test": "Test metric", "start_test": "Untuned start, test metric",
         "train_loss": "Best training loss (the objective the tuning minimises)"}


def main_tables(records: Sequence[CellRecord], which: str = "test") -> list[Table]:
    """One paper-layout table per (track, backbone, checkpoints, preset, shots, labels, budget); gradient baselines join
    every table that shares all but the budget (their length is in steps, stated in the row). ``which``: ``test``
    (the dev-selected parameters), ``start_test`` (the untuned start of each cell) or ``train_loss`` (the best
    training loss reached), same layout."""
    tables: dict[tuple[str, ...], dict[str, dict[str, list[CellRecord]]]] = {}
    grads = [r for r in records if r.cell.is_gradient]
    for r in records:
        if r.cell.is_gradient:
            continue
        for track in r.cell.tracks:
            for label in r.cell.budget_labels:
                tables.setdefault(table_key(r.cell, track, label), {}).setdefault(row_label(r.cell), {}).setdefault(
                    r.cell.task_label or r.cell.task, []).append(r)
    for r in grads:
        keys = [k for k in tables for t in r.cell.tracks if k[:-1] == table_key(r.cell, t, "")[:-1]] or [
            table_key(r.cell, t, "grad") for t in r.cell.tracks]
        for k in keys:
            label = f"{row_label(r.cell)} ({r.cell.calls} steps)"
            tables.setdefault(k, {}).setdefault(label, {}).setdefault(r.cell.task_label or r.cell.task, []).append(r)
    out = []
    for key, rows in tables.items():
        tasks = _tasks([r for per_task in rows.values() for rs in per_task.values() for r in rs])
        what = _WHAT[which]
        title = f"{what} (x100), mean ± std over seeds: " + ", ".join(
            f"{n} {v}" for n, v in zip(_KEY_NAMES, key) if v != "-")
        table = Table(title=title, columns=tasks + ["avg"],
                      note="Entries with fewer finished seeds than planned say how many (and how many failed); the "
                           "average is given only for rows where every task finished every seed.")
        for label, per_task in rows.items():
            cells = [entry(per_task[t], which).text() if t in per_task else "not planned" for t in tasks]
            avg_text, avg, avg_std = _average(per_task, tasks, which)
            table.rows.append((label, cells + [avg_text]))
            csv_row: dict[str, Any] = dict(zip(_KEY_NAMES, key), row=label)
            for t in tasks:
                e = entry(per_task.get(t, []), which)
                csv_row.update({f"{t}_mean": e.mean, f"{t}_std": e.std, f"{t}_n": len(e.values),
                                f"{t}_planned": e.planned, f"{t}_failed": e.failed})
            csv_row.update(avg_mean=avg, avg_std=avg_std)
            table.csv_rows.append(csv_row)
        out.append(table)
    return out


def fraction_table(records: Sequence[CellRecord], fraction: float) -> Table:
    """Median over seeds of the calls (steps) at which the selected dev score reached ``fraction`` of its final
    value, per row and task."""
    tasks = _tasks(records)
    table = Table(title=f"Calls to reach {fraction:.0%} of the final dev score (median over seeds)", columns=tasks,
                  note="0 = the untuned start already scores that much; - = no finished seed.")
    for label, rs in group_by(records, lambda r: row_label(r.cell)).items():
        per_task = group_by(rs, lambda r: r.cell.task_label or r.cell.task)
        cells, csv_row = [], {"row": label}
        for t in tasks:
            hits = [c for c in (calls_to_fraction(r, fraction) for r in per_task.get(t, [])) if c is not None]
            value = float(np.median(hits)) if hits else None
            cells.append("-" if value is None else f"{value:.0f}")
            csv_row[t] = value
        table.rows.append((label, cells))
        table.csv_rows.append(csv_row)
    return table


def speed_table(records: Sequence[CellRecord]) -> Table:
    """Per row: finished cells, mean wall seconds per cell, calls (steps) and calls/s over the finished cells."""
    table = Table(title="Wall time and calls/s (finished cells)",
                  columns=["cells done / planned", "mean wall s", "calls", "calls/s"])
    for label, rs in group_by(records, lambda r: row_label(r.cell)).items():
        done = [r for r in rs if r.result is not None]
        wall = sum(r.wall_s or 0.0 for r in done)
        calls = sum(r.calls or 0 for r in done)
        rate = calls / wall if wall > 0 else math.nan
        unit = " steps" if rs[0].cell.is_gradient else ""
        table.rows.append((label, [f"{len(done)}/{len(rs)}", f"{wall / max(len(done), 1):.0f}", f"{calls}{unit}",
                                   f"{rate:.1f}"]))
        table.csv_rows.append({"row": label, "done": len(done), "planned": len(rs), "wall_s": wall, "calls": calls,
                               "calls_per_s": rate})
    return table


def axis_table(records: Sequence[CellRecord], axis: str) -> Table | None:
    """Test metric against ``shots`` or ``labels`` (columns), mean ± std over seeds per row and task; None when the
    sweep has a single value of that axis. Rows (method, task) that have a single value of the axis are left out."""
    values = sorted({getattr(r.cell, axis) for r in records}, key=lambda v: (v is None, v or 0))
    if len(values) < 2:
        return None
    columns = [f"{axis}={'task default' if v is None else v}" for v in values]
    table = Table(title=f"Test metric (x100) against {axis}, mean ± std over seeds", columns=columns)
    groups = group_by(records, lambda r: f"{row_label(r.cell)} / {r.cell.task_label or r.cell.task}")
    for label, rs in groups.items():
        if len({getattr(r.cell, axis) for r in rs}) < 2:
            continue
        cells, csv_row = [], {"row": label}
        for v, col in zip(values, columns):
            e: Entry = entry([r for r in rs if getattr(r.cell, axis) == v])
            cells.append(e.text() if e.planned else "not planned")
            csv_row.update({f"{col}_mean": e.mean, f"{col}_std": e.std, f"{col}_n": len(e.values)})
        table.rows.append((label, cells))
        table.csv_rows.append(csv_row)
    return table if table.rows else None


def failure_lines(records: Sequence[CellRecord]) -> list[str]:
    """Markdown bullets: each failed or unfinished cell with its error or state."""
    out = []
    for r in records:
        if r.status == "failed":
            out.append(f"- `{r.cell.id}`: failed: {r.error}")
        elif r.status in ("partial", "missing"):
            out.append(f"- `{r.cell.id}`: {'interrupted (resumable)' if r.status == 'partial' else 'not run'}")
    return out


def header_lines(sweep: dict[str, Any], records: Sequence[CellRecord]) -> list[str]:
    """Sweep name, machine, backbones, dtype, checkpoint hashes, budgets, seeds, presets and cell counts."""
    cfg, machine = sweep.get("config", {}), sweep.get("machine", {})
    cells = [r.cell for r in records]
    dtypes = sorted({str(r.run_config.get("backend", {}).get("dtype") or r.cell.fixed.get("dtype", "float32"))
                     for r in records if r.result is not None} or {"float32"})
    hashes: dict[str, str] = {}
    for r in records:
        rec = r.run_config.get("checkpoint") or {}  # black-box runs: {"id", "sha256"}; gradient runs: a path
        if isinstance(rec, dict) and rec.get("id"):
            hashes[str(r.cell.checkpoint_label or rec["id"])] = f"{rec['id']} (sha256 {str(rec.get('sha256'))[:16]})"
    for c in cells:
        if c.checkpoint_label and c.checkpoint_label not in hashes:
            hashes[c.checkpoint_label] = f"{c.checkpoint} (hash: no finished run recorded one)"
    counts = {s: sum(r.status == s for r in records) for s in ("done", "failed", "partial", "missing")}
    gpu = machine.get("gpu")
    return [
        f"# Sweep `{cfg.get('name', '?')}`", "", cfg.get("description", "") or "", "",
        f"- machine: {machine.get('host', '?')}, {machine.get('processor', '?')}, {machine.get('cores', '?')} cores"
        + (f", GPU {gpu}" if gpu else ", no GPU") + f"; Python {machine.get('python')}, torch {machine.get('torch')}",
        f"- backbones: {', '.join(sorted({c.backbone for c in cells}))}; dtype: {', '.join(dtypes)}",
        "- checkpoints: " + ("; ".join(f"{k} = {v}" for k, v in sorted(hashes.items())) or "none"),
        "- budgets (API calls; `a,m=b` = a for every method, b for m): "
        + ", ".join(sorted({b for c in cells for b in c.budget_labels})),
        f"- seeds: {sorted({c.seed for c in cells})}; presets: {sorted({c.preset for c in cells})}",
        f"- cells: {len(cells)} planned, {counts['done']} done, {counts['failed']} failed, {counts['partial']} "
        f"interrupted, {counts['missing']} not run (sweep written {sweep.get('written', '?')})", "",
    ]


def cells_csv(records: Sequence[CellRecord]) -> str:
    """One CSV line per planned cell: axes, status, metrics with controls, calls, wall time, error."""
    buf = io.StringIO()
    keys = ["id", "status", "method", "optimizer", "settings", "task", "seed", "budget", "preset", "backbone",
            "checkpoint", "shots", "labels", "metric", "test", "dev", "start_test", "start_dev", "auc",
            "majority_fraction", "calls", "wall_s", "error"]
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    for r in records:
        c, res = r.cell, r.result or {}
        tuned, start = res.get("tuned", {}), res.get("start", {})
        writer.writerow({
            "id": c.id, "status": r.status, "method": c.method, "optimizer": c.optimizer or "", "settings":
            c.settings_name, "task": c.task, "seed": c.seed, "budget": c.budget, "preset": c.preset,
            "backbone": c.backbone, "checkpoint": c.checkpoint_label, "shots": c.shots, "labels": c.labels,
            "metric": res.get("metric"), "test": tuned.get("test", {}).get("metric"), "dev": tuned.get("dev_metric"),
            "start_test": start.get("test", {}).get("metric"), "start_dev": start.get("dev_metric"),
            "auc": tuned.get("test", {}).get("auc"), "majority_fraction": tuned.get("test", {}).get(
                "majority_fraction"), "calls": r.calls, "wall_s": r.wall_s, "error": r.error or ""})
    return buf.getvalue()
