"""The run directory of a tuning run: :class:`bbt_mp2.rundir.RunDir` plus the files only tuning runs write.

Files (besides the common ``config.json``, ``history.jsonl``, ``state.json``, ``result.json``):
    config.json     the run config, derived seeds, package versions, backend info, data sizes
    history.jsonl   one line per generation (calls, train loss, best loss, dev metric, wall time)
    state.json      run-loop and optimizer state (plain JSON + arrays), rewritten atomically after every generation
    best_params.npy the dev-selected candidate, ``len(layers) x d`` float64 (+ ``best_<extra>.npy``, e.g. router)
    curve.png       dev metric against API calls
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bbt_mp2.rundir import RunDir as _RunDir
from bbt_mp2.rundir import package_versions

__all__ = ["RunDir", "package_versions"]

logger = logging.getLogger(__name__)


class RunDir(_RunDir):
    """The run directory of a tuning run (see module docstring)."""

    CURVE = "curve.png"
    BEST = "best_params.npy"

    def save_params(self, candidate: np.ndarray, extras: Mapping[str, np.ndarray]) -> None:
        """Write the selected candidate (``best_params.npy``) and its extras (``best_<name>.npy``)."""
        self.save_array(self.BEST, candidate)
        for key, value in extras.items():
            self.save_array(f"best_{key}.npy", value)

    def plot_curve(self, history: list[Mapping[str, Any]], *, title: str) -> Path:
        """``curve.png``: dev metric (and best train loss) against API calls."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        dev = [(r["calls"], r["dev_metric"]) for r in history if r.get("dev_metric") is not None]
        if dev:
            ax.plot(*zip(*dev), marker="o", label="dev metric (incumbent)")
            ax.step([c for c, _ in dev], [r["best_dev"] for r in history if r.get("dev_metric") is not None],
                    where="post", linestyle="--", label="selected (best dev)")
        ax.set_xlabel("API calls (train)")
        ax.set_ylabel("dev metric")
        ax.set_title(title)
        ax2 = ax.twinx()
        ax2.plot([r["calls"] for r in history], [r["best_loss"] for r in history], color="gray", alpha=0.6,
                 label="best train loss")
        ax2.set_ylabel("train loss")
        lines = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
        ax.legend(lines, [h.get_label() for h in lines], loc="best", fontsize=8)
        fig.tight_layout()
        path = self.file(self.CURVE)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)
        self.write_bytes(self.CURVE, buf.getvalue())
        return path
