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

from bbt_mp2.atomic_io import atomic_write as _atomic_write_bytes
from bbt_mp2.errors import ResumeError
from bbt_mp2.pretrain.config import PretrainConfig

__all__ = ["RunFiles", "package_versions", "RESUMABLE_CHANGES"]

logger = logging.getLogger(__name__)

# config keys a resumed run may change (steps only with a constant schedule: the schedule depends on it)
RESUMABLE_CHANGES = frozenset({"steps", "save_every", "eval_batch_size"})


def package_versions() -> dict[str, str]:
    """Versions a resumable state must match."""
    import bbt_mp2

    return {"torch": torch.__version__.split("+")[0], "bbt_mp2": bbt_mp2.__version__}




class RunFiles:
    """Reads and writes the files of one run directory (only the main rank writes).

    Args:
        out_dir: the run directory (created if missing).
        write: False on non-main DDP ranks (every write becomes a no-op).
    """

    def __init__(self, out_dir: str | os.PathLike[str], *, write: bool = True) -> None:
        self.dir = Path(out_dir)
        self.write = write
        if write:
            self.dir.mkdir(parents=True, exist_ok=True)

    @property
    def state_path(self) -> Path:
        return self.dir / "state.pt"

    @property
    def best_path(self) -> Path:
        return self.dir / "checkpoint"

    @property
    def last_path(self) -> Path:
        return self.dir / "last"

    @property
    def history_path(self) -> Path:
        return self.dir / "history.jsonl"

    def has_state(self) -> bool:
        return self.state_path.is_file()

    def write_config(self, config: PretrainConfig) -> None:
        if self.write:
            _atomic_write_bytes(self.dir / "config.json", lambda fh: fh.write(config.to_json().encode()))

    def save_state(self, state: dict[str, Any]) -> None:
        """Write the training state atomically (temp file + rename): a kill leaves the previous state intact."""
        if self.write:
            _atomic_write_bytes(self.state_path, lambda fh: torch.save(state, fh))

    def load_state(self, config: PretrainConfig) -> dict[str, Any]:
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
            raise ResumeError(f"{self.dir} holds a run with another config ({detail}); resume with the saved config "
                              "(its config.json) or use another output directory")
        if state["versions"] != package_versions():
            raise ResumeError(f"{self.state_path} was written with {state['versions']}, this is "
                              f"{package_versions()}; resume with the same versions or start a new run")
        if state["step"] > config.steps:
            raise ResumeError(f"saved run is at step {state['step']} > steps={config.steps}; raise steps to resume")
        return state

    def truncate_history(self, step: int) -> None:
        """Drop history records after ``step`` (written after the last saved state, before a kill)."""
        if not self.write or not self.history_path.is_file():
            return
        keep = []
        for line in self.history_path.read_text().splitlines():
            if line.strip() and json.loads(line).get("step", 0) <= step:
                keep.append(line)
        text = "".join(line + "\n" for line in keep)
        _atomic_write_bytes(self.history_path, lambda fh: fh.write(text.encode()))

    def log(self, record: dict[str, Any]) -> None:
        if self.write:
            with open(self.history_path, "a") as fh:
                fh.write(json.dumps(record, sort_keys=True) + "\n")

    def history(self) -> list[dict[str, Any]]:
        if not self.history_path.is_file():
            return []
        return [json.loads(line) for line in self.history_path.read_text().splitlines() if line.strip()]

    def write_result(self, result: dict[str, Any]) -> None:
        if self.write:
            text = json.dumps(result, indent=2, sort_keys=True)
            _atomic_write_bytes(self.dir / "result.json", lambda fh: fh.write(text.encode()))
