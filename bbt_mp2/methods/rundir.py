"""The run directory of a tuning run: what is written, atomically, and how it is read back on resume.

Files:
    config.json     the run config, derived seeds, package versions, backend info, data sizes
    history.jsonl   one line per generation (calls, train loss, best loss, dev metric, wall time)
    state.pkl       run-loop and optimizer state, rewritten atomically after every generation (resume point)
    best_params.npy the dev-selected candidate, ``len(layers) x d`` float64 (+ ``best_<extra>.npy``, e.g. router)
    result.json     dev and test metrics of the selected and of the untuned parameters, with controls
    curve.png       dev metric against API calls
"""

from __future__ import annotations

import io
import json
import logging
import os
import pickle
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from bbt_mp2.atomic_io import atomic_write_bytes as _atomic_write_bytes

__all__ = ["RunDir", "package_versions"]

logger = logging.getLogger(__name__)

_VERSIONED = ("bbt-mp2", "numpy", "cma", "botorch", "gpytorch", "torch", "transformers")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a run's numbers depend on (``"missing"`` if absent)."""
    out = {}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out




class RunDir:
    """Reads and writes the files of one run directory (see module docstring)."""

    CONFIG = "config.json"
    HISTORY = "history.jsonl"
    STATE = "state.pkl"
    RESULT = "result.json"
    CURVE = "curve.png"
    BEST = "best_params.npy"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    def has_run(self) -> bool:
        """True when the directory already holds a run (a config or a state)."""
        return self.file(self.CONFIG).exists() or self.file(self.STATE).exists()

    def write_json(self, name: str, data: Mapping[str, Any]) -> None:
        _atomic_write_bytes(self.file(name), (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())

    def read_json(self, name: str) -> dict[str, Any]:
        return json.loads(self.file(name).read_text())

    def append_history(self, record: Mapping[str, Any]) -> None:
        with open(self.file(self.HISTORY), "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")
            fh.flush()

    def read_history(self) -> list[dict[str, Any]]:
        path = self.file(self.HISTORY)
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def truncate_history(self, n_lines: int) -> None:
        """Keep the first ``n_lines`` lines (drop lines written after the last saved state)."""
        lines = self.read_history()[:n_lines]
        _atomic_write_bytes(self.file(self.HISTORY), "".join(json.dumps(r, sort_keys=True) + "\n" for r in lines)
                            .encode())

    def save_state(self, state: Mapping[str, Any]) -> None:
        _atomic_write_bytes(self.file(self.STATE), pickle.dumps(dict(state), protocol=pickle.HIGHEST_PROTOCOL))

    def load_state(self) -> dict[str, Any] | None:
        path = self.file(self.STATE)
        if not path.exists():
            return None
        with open(path, "rb") as fh:
            return pickle.load(fh)

    def save_array(self, name: str, array: np.ndarray) -> None:
        buf = io.BytesIO()
        np.save(buf, np.asarray(array, dtype=np.float64))
        _atomic_write_bytes(self.file(name), buf.getvalue())

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
        tmp = path.with_name(path.name + ".tmp.png")
        fig.savefig(tmp, dpi=100)
        plt.close(fig)
        os.replace(tmp, path)
        return path
