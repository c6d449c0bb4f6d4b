"""Identity of a run (what ``config.json`` records and a resume must match), its loop state and its result."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from bbt_mp2.backend import ModelInfo
from bbt_mp2.errors import ResumeError
from bbt_mp2.methods.base import TuningMethod
from bbt_mp2.methods.rundir import RunDir, package_versions

__all__ = ["RunResult", "describe_run", "check_resume", "new_state"]

STATE_FORMAT = 1


@dataclass
class RunResult:
    """Outcome of a tuning run (``result.json``).

    Attributes:
        out_dir: the run directory.
        task, method, seed: what was run.
        metric: name of the task metric (``acc``, ``f1``, ``span_f1``, ...), in [0, 1].
        budget: API calls on the training set the run could spend; ``calls``: spent (whole generations).
        dev_calls: dev evaluations (not in the budget); ``control_calls``: train/test control evaluations.
        best_train_loss: lowest training loss of any evaluated candidate.
        start: the untuned starting point: ``dev_metric``, ``train_loss``, ``test`` (see ``tuned``).
        tuned: the dev-selected parameters: ``dev_metric``, ``stage``, ``selected_at_calls`` and ``test`` =
            ``{metric, loss, n, predicted_distribution, majority_fraction, auc}``.
        wall_time: seconds spent (summed over resumed sessions).
        selection: the dev-selection rule that chose ``tuned`` (:mod:`bbt_mp2.methods.selection`); ``start`` and
            ``tuned`` also carry their ``dev_loss``.
        encoding: per split (train/dev/test) what registration did: ``{"n", "max_length", "length",
            "n_truncated", "n_answer_lost"}`` (None when the backend does not report it).
        head: the head that scored the run (``mrc`` span head, or ``mlm``: the backbone's MLM head, cloze format).
        scoring: how the MRC head scored an option (``sum`` or ``product`` of its start and end logits).
        prompt_mode: how the layer-0 prompt entered (``add`` or ``cat``).
    """

    out_dir: str
    task: str
    method: str
    seed: int
    metric: str
    budget: int
    calls: int
    dev_calls: int
    control_calls: int
    best_train_loss: float
    start: dict[str, Any] = field(default_factory=dict)
    tuned: dict[str, Any] = field(default_factory=dict)
    wall_time: float = 0.0
    selection: str = "metric"
    encoding: dict[str, Any] = field(default_factory=dict)
    head: str = "mrc"
    scoring: str = "sum"
    prompt_mode: str = "add"

    @property
    def dev_before(self) -> float:
        return float(self.start["dev_metric"])

    @property
    def dev_after(self) -> float:
        return float(self.tuned["dev_metric"])

    @property
    def test_before(self) -> float | None:
        """Test metric of the untuned start; None when the task has no test set (dev only)."""
        return None if self.start.get("test") is None else float(self.start["test"]["metric"])

    @property
    def test_after(self) -> float | None:
        """Test metric of the selected prompt; None when the task has no test set (dev only)."""
        return None if self.tuned.get("test") is None else float(self.tuned["test"]["metric"])

    def summary(self) -> str:
        """One line: method, task, calls, dev and test metric before -> after."""
        return (
            f"{self.method} on {self.task} (seed {self.seed}): {self.calls}/{self.budget} calls, "
            f"best train loss {self.best_train_loss:.4f} (start {self.start['train_loss']:.4f}); "
            f"dev {self.metric} {self.dev_before:.4f} -> {self.dev_after:.4f}; "
            + (f"test {self.metric} {self.test_before:.4f} -> {self.test_after:.4f}; " if self.test_after is not None
               else "test: none (the task has no test file); ")
            + f"{self.wall_time:.1f}s; "
            f"run dir {self.out_dir}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunResult:
        return cls(**dict(data))


def _data_digest(data: Any) -> dict[str, Any]:
    out = {}
    for split in ("train", "dev", "test"):
        examples = list(getattr(data, split))
        h = hashlib.sha256()
        for ex in examples:
            h.update(json.dumps([ex.uid, ex.label, dict(ex.fields)], sort_keys=True, ensure_ascii=False).encode())
        out[split] = {"n": len(examples), "sha256": h.hexdigest()[:16]}
    return out


def describe_run(config: Any, method: TuningMethod, info: ModelInfo, data: Any) -> dict[str, Any]:
    """The content of ``config.json``: run config, derived seeds, package versions, backend and data identity."""
    return {
        "run": config.to_dict(),
        "seeds": dict(method.seeds),
        "versions": package_versions(),
        "backend": asdict(info),
        "checkpoint": _checkpoint_record(config, info),
        "data": _data_digest(data),
        "stages": [list(s) for s in method.stage_plan()],
    }


def _checkpoint_record(config: Any, info: ModelInfo) -> dict[str, Any] | None:
    """``{"id", "sha256"}`` of the served checkpoint the run uses (``method_config.checkpoint``), or None."""
    cid = getattr(config.method_config, "checkpoint", None)
    if not cid:
        return None
    return {"id": cid, "sha256": (info.checkpoints.get(cid) or {}).get("sha256")}


def check_resume(rundir: RunDir, description: Mapping[str, Any], resume: bool) -> dict[str, Any] | None:
    """The saved loop state to resume from, or None for a fresh run.

    Raises:
        ResumeError: the directory holds a run and ``resume`` is False; or it holds a run with another config,
            other package versions, another backend or other data (the differing keys are named).
    """
    if not rundir.has_run():
        return None
    if not resume:
        raise ResumeError(
            f"{rundir.path} already holds a run; pass resume=True (CLI --resume) to continue it, or choose another "
            "output directory"
        )
    if not rundir.file(RunDir.CONFIG).exists():
        return None
    saved = json.loads(json.dumps(rundir.read_json(RunDir.CONFIG)))
    current = json.loads(json.dumps(description, sort_keys=True))
    diffs = _differences(saved, current)
    if diffs:
        raise ResumeError(
            f"cannot resume {rundir.path}: the run differs from the saved one ({'; '.join(diffs)}); resume with the "
            "same settings, or start a new run in another directory"
        )
    state = rundir.load_state()
    if state is not None and state.get("format") != STATE_FORMAT:
        raise ResumeError(f"{rundir.path / RunDir.STATE} has state format {state.get('format')}, "
                          f"expected {STATE_FORMAT}; start a new run")
    return state


def _differences(saved: Any, current: Any, prefix: str = "") -> list[str]:
    """``"a.b: saved X, now Y"`` for every leaf where two JSON trees differ."""
    if isinstance(saved, dict) and isinstance(current, dict):
        out = []
        for key in sorted(set(saved) | set(current)):
            out += _differences(saved.get(key), current.get(key), f"{prefix}{key}.")
        return out
    return [] if saved == current else [f"{prefix.rstrip('.')}: saved {saved!r}, now {current!r}"]


def new_state() -> dict[str, Any]:
    """The loop state of a fresh run (plain types and ndarrays; pickled to ``state.pkl``)."""
    return {
        "format": STATE_FORMAT, "stage_index": 0, "stage_context": {}, "stage_calls": 0, "calls": 0,
        "dev_calls": 0, "control_calls": 0, "generation": 0, "history_lines": 0, "elapsed": 0.0,
        "best_train_loss": float("inf"), "start": None, "selection": None, "last_dev_x": None,
        "last_dev_metric": None, "last_dev_block": 0, "last_generation": 1, "optimizer": None, "done": False,
    }
