"""Run-directory files of a pre-training run: config, resumable state (atomic), JSONL history, result.

Layout of ``out_dir``::

    config.json      the PretrainConfig
    state.pt         resumable training state (model, optimizer, scheduler, sampler cursors, step, best, log window)
    history.jsonl    one JSON record per log / eval event ({"event": "train"|"eval", "step": ...})
    checkpoint/      best-mean-dev MP2 checkpoint (bbt_mp2.checkpoint format)
    last/            MP2 checkpoint of the final step
    result.json      summary written at the end
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

from bbt_mp2.atomic_io import atomic_write
from bbt_mp2.errors import ResumeError
from bbt_mp2.pretrain.config import PretrainConfig
from bbt_mp2.rundir import RunDir, check_versions, package_versions

__all__ = ["RunFiles", "package_versions", "RESUMABLE_CHANGES"]

logger = logging.getLogger(__name__)

# config keys a resumed run may change (steps only with a constant schedule: the schedule depends on it)
RESUMABLE_CHANGES = frozenset({"steps", "save_every", "eval_batch_size"})


class RunFiles(RunDir):
    """The run directory of a pre-training run: :class:`bbt_mp2.rundir.RunDir` plus the torch training state.

    Args:
        out_dir: the run directory (created if missing).
        write: False on non-main DDP ranks (every write becomes a no-op).
    """

    def __init__(self, out_dir: str | os.PathLike[str], *, write: bool = True) -> None:
        super().__init__(out_dir, write=write)
        if write:
            self.path.mkdir(parents=True, exist_ok=True)

    @property
    def dir(self) -> Path:
        return self.path

    @property
    def state_path(self) -> Path:
        return self.path / "state.pt"

    @property
    def best_path(self) -> Path:
        return self.path / "checkpoint"

    @property
    def last_path(self) -> Path:
        return self.path / "last"

    @property
    def history_path(self) -> Path:
        return self.file(self.HISTORY)

    def has_state(self) -> bool:
        return self.state_path.is_file()

    def write_config(self, config: PretrainConfig) -> None:
        self.write_text(self.CONFIG, config.to_json())

    def save_state(self, state: dict[str, Any]) -> None:
        """Write ``state.pt`` (tensors and plain types, read back with ``weights_only=True``) atomically: a kill
        leaves the previous state intact."""
        if self.write:
            atomic_write(self.state_path, lambda fh: torch.save(state, fh))

    def load_state(self, config: PretrainConfig) -> dict[str, Any]:  # type: ignore[override]
        """Load ``state.pt`` and check it belongs to ``config`` and these package versions.

        Raises:
            ResumeError: the saved config differs (beyond :data:`RESUMABLE_CHANGES`), or versions differ.
        """
        try:
            state = torch.load(self.state_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a truncated or foreign file
            raise ResumeError(f"cannot read training state {self.state_path}: {exc}; delete it to start over") from exc
        saved, now = dict(state["config"]), config.to_dict()
        allowed = set(RESUMABLE_CHANGES) if config.schedule == "constant" else set(RESUMABLE_CHANGES) - {"steps"}
        diff = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k) and k not in allowed)
        if diff:
            detail = ", ".join(f"{k}: saved {saved.get(k)!r} vs now {now.get(k)!r}" for k in diff)
            raise ResumeError(f"{self.path} holds a run with another config ({detail}); resume with the saved config "
                              "(its config.json) or use another output directory")
        check_versions(state["versions"], str(self.state_path))
        if state["step"] > config.steps:
            raise ResumeError(f"saved run is at step {state['step']} > steps={config.steps}; raise steps to resume")
        return state

    def truncate_history(self, step: int) -> None:  # type: ignore[override]
        """Drop history records after ``step`` (written after the last saved state, before a kill)."""
        if self.history_path.is_file():
            super().truncate_history(lambda record: record.get("step", 0) <= step)

    def log(self, record: dict[str, Any]) -> None:
        self.append_history(record)

    def history(self) -> list[dict[str, Any]]:
        return self.read_history()

    def write_result(self, result: dict[str, Any]) -> None:
        self.write_text(self.RESULT, json.dumps(result, indent=2, sort_keys=True))
