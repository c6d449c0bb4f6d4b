"""The report's figures (matplotlib, Agg): curves over API calls with a band over seeds (the paper's Figure 3),
and the test metric against shots and against the number of labels (its Figure 4)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.report.aggregate import CellRecord, curve, entry, group_by, row_label, table_key

__all__ = ["seed_band", "plot_curves", "plot_axis"]

logger = logging.getLogger(__name__)


def _pyplot():  # noqa: ANN202 - the matplotlib module
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("_")


def seed_band(curves: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and std over seeds of step curves on the union of their x values.

    Args:
        curves: per seed, ``(x, y)`` 1-D float arrays, x increasing.

    Returns:
        ``(grid, mean, std)``: 1-D float arrays of the same length; each seed holds its last value between records
        and counts only from its first record on (NaN before, ignored by the mean).
    """
    curves = [(x, y) for x, y in curves if len(x)]
    if not curves:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    grid = np.unique(np.concatenate([x for x, _ in curves]))
    stacked = np.full((len(curves), len(grid)), np.nan)
    for i, (x, y) in enumerate(curves):
        idx = np.searchsorted(x, grid, side="right") - 1
        stacked[i] = np.where(idx >= 0, y[np.clip(idx, 0, None)], np.nan)
    with np.errstate(all="ignore"):
        return grid, np.nanmean(stacked, axis=0), np.nanstd(stacked, axis=0)


def plot_curves(records: Sequence[CellRecord], out_dir: Path) -> list[Path]:
    """One PNG per (table, task): selected dev metric and best train loss against calls, one line per row (method),
    mean with a ±1 std band over seeds. Gradient baselines are left out (their x axis is steps)."""
    plt = _pyplot()
    paths = []
    bb = [r for r in records if not r.cell.is_gradient and r.history]
    groups = group_by(bb, lambda r: (table_key(r.cell, r.cell.tracks[0], r.cell.budget_labels[0]),
                                     r.cell.task_label or r.cell.task))
    for (key, task), rs in groups.items():
        fig, (ax_dev, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
        for label, per_row in group_by(rs, lambda r: row_label(r.cell)).items():
            for ax, metric in ((ax_dev, "best_dev"), (ax_loss, "best_loss")):
                grid, mean, std = seed_band([curve(r, metric) for r in per_row])
                if not len(grid):
                    continue
                (line,) = ax.plot(grid, mean, drawstyle="steps-post", label=f"{label} ({len(per_row)} seeds)")
                ax.fill_between(grid, mean - std, mean + std, step="post", color=line.get_color(), alpha=0.2)
        ax_dev.set(xlabel="API calls (train)", ylabel="selected dev metric", title=f"{task}: dev")
        ax_loss.set(xlabel="API calls (train)", ylabel="best train loss", title=f"{task}: train loss")
        ax_dev.legend(fontsize=7)
        fig.suptitle(", ".join(v for v in key if v != "-"), fontsize=9)
        fig.tight_layout()
        path = out_dir / f"curves_{_name(task)}_{_name('_'.join(key))}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


def plot_axis(records: Sequence[CellRecord], axis: str, out_dir: Path) -> Path | None:
    """Test metric (mean ± std over seeds) against ``shots`` or ``labels``, one line per (row, task); None when
    the sweep has fewer than two numeric values of that axis."""
    values = sorted({getattr(r.cell, axis) for r in records if getattr(r.cell, axis) is not None})
    if len(values) < 2:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for (label, task), rs in group_by(records, lambda r: (row_label(r.cell), r.cell.task_label)).items():
        points = [(v, entry([r for r in rs if getattr(r.cell, axis) == v])) for v in values]
        points = [(v, e) for v, e in points if e.values]
        if not points:
            continue
        xs = [v for v, _ in points]
        (line,) = ax.plot(xs, [e.mean for _, e in points], marker="o", label=f"{label} / {task}")
        ax.fill_between(xs, [e.mean - e.std for _, e in points], [e.mean + e.std for _, e in points],
                        color=line.get_color(), alpha=0.2)
    ax.set(xlabel="shots per class" if axis == "shots" else "number of labels", ylabel="test metric",
           title=f"test metric against {axis}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out_dir / f"{axis}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
