"""Router analysis of a pre-trained checkpoint: hierarchical clustering of task routers (the paper's task-partition
figure, as a dendrogram PNG) and a table of which modules each task activates."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from bbt_mp2.checkpoint import MP2Checkpoint, load_checkpoint
from bbt_mp2.errors import CheckpointError, ConfigError

__all__ = ["router_features", "cluster_routers", "activation_table", "plot_dendrogram", "analyze_routers"]

logger = logging.getLogger(__name__)

LINKAGES = ("average", "complete", "single", "ward")


def _as_checkpoint(ckpt: MP2Checkpoint | str | os.PathLike[str]) -> MP2Checkpoint:
    if isinstance(ckpt, MP2Checkpoint):
        return ckpt
    path = Path(ckpt)
    if (path / "checkpoint").is_dir():  # a pre-training run directory
        path = path / "checkpoint"
    return load_checkpoint(path)


def router_features(ckpt: MP2Checkpoint) -> np.ndarray:
    """``T x (L' * K)`` float64: sigmoid of each task's router logits, flattened over layers and modules."""
    r = ckpt.router.detach().double().numpy()
    return (1.0 / (1.0 + np.exp(-r))).reshape(r.shape[0], -1)


def cluster_routers(ckpt: MP2Checkpoint, method: str = "average") -> np.ndarray:
    """Agglomerative clustering of the task routers (euclidean distance on :func:`router_features`).

    Returns:
        The scipy linkage matrix, ``(T - 1) x 4`` float64.

    Raises:
        CheckpointError: fewer than two tasks. ConfigError: unknown linkage method.
    """
    from scipy.cluster.hierarchy import linkage

    if method not in LINKAGES:
        raise ConfigError(f"linkage method {method!r} is unknown; choose one of {LINKAGES}")
    if len(ckpt.config.task_names) < 2:
        raise CheckpointError(f"clustering needs at least two task routers; the checkpoint has "
                              f"{list(ckpt.config.task_names)}")
    return linkage(router_features(ckpt), method=method, metric="euclidean")


def active_modules(ckpt: MP2Checkpoint) -> dict[str, list[list[int]]]:
    """Per task, per prompted layer, the modules with a positive router logit (binary routing's selection)."""
    r = ckpt.router.detach().numpy()
    return {task: [np.flatnonzero(r[t, j] > 0).tolist() for j in range(r.shape[1])]
            for t, task in enumerate(ckpt.config.task_names)}


def activation_table(ckpt: MP2Checkpoint) -> str:
    """Markdown table: one row per task, one column per prompted layer, cells = active module ids (logit > 0)."""
    act = active_modules(ckpt)
    layers = ckpt.config.layers
    head = "| task | " + " | ".join(f"layer {la}" for la in layers) + " | active / total |"
    sep = "|---|" + "---|" * len(layers) + "---|"
    total = len(layers) * ckpt.config.n_modules
    rows = []
    for task, per_layer in act.items():
        cells = [",".join(map(str, mods)) or "-" for mods in per_layer]
        rows.append(f"| {task} | " + " | ".join(cells) + f" | {sum(map(len, per_layer))}/{total} |")
    return "\n".join([head, sep, *rows]) + "\n"


def plot_dendrogram(ckpt: MP2Checkpoint, path: str | os.PathLike[str], method: str = "average") -> Path:
    """Write the dendrogram of the task routers as a PNG (matplotlib Agg); returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.cluster.hierarchy import dendrogram

    z = cluster_routers(ckpt, method)
    names = list(ckpt.config.task_names)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.5 * len(names) + 2), 4))
    dendrogram(z, labels=names, ax=ax, leaf_rotation=60)
    kind = "deep" if len(ckpt.config.layers) > 1 else "shallow"
    ax.set_title(f"task routers ({kind}, {method} linkage, sigmoid(router) euclidean)")
    ax.set_ylabel("distance")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def analyze_routers(source: MP2Checkpoint | str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None,
                    method: str = "average") -> dict[str, Any]:
    """Dendrogram PNG, activation table (markdown) and active-module JSON of a checkpoint or run directory.

    Args:
        source: an :class:`MP2Checkpoint`, a checkpoint directory, or a pre-training run directory.
        out_dir: where to write ``routers_dendrogram.png``, ``routers_table.md``, ``routers.json``
            (default: the run / checkpoint directory's parent ``analysis/`` folder).
        method: scipy linkage method.

    Returns:
        ``{"dendrogram": Path, "table": Path, "json": Path, "active": {task: [[module, ...] per layer]}}``.
    """
    ckpt = _as_checkpoint(source)
    if out_dir is None:
        if isinstance(source, MP2Checkpoint):
            raise ConfigError("analyze_routers needs out_dir when given an in-memory checkpoint")
        base = Path(source)
        out_dir = (base if (base / "checkpoint").is_dir() else base.parent) / "analysis"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = plot_dendrogram(ckpt, out / "routers_dendrogram.png", method)
    table = out / "routers_table.md"
    table.write_text(activation_table(ckpt))
    act = active_modules(ckpt)
    js = out / "routers.json"
    js.write_text(json.dumps({"tasks": list(ckpt.config.task_names), "layers": list(ckpt.config.layers),
                              "active": act, "linkage": cluster_routers(ckpt, method).tolist()}, indent=2))
    logger.info("router analysis written to %s", out)
    return {"dendrogram": png, "table": table, "json": js, "active": act}
