"""Using a tuned prompt: what a run directory records for it, and :func:`load_tuned` to label new text with it.

After a tuning run (``bbt_mp2.methods.tune`` / ``bbt-mp2 tune``) the run directory holds ``tuned.json``: the
task (its whole :class:`TaskSpec` for a user task, so the spec file is not needed later), the backbone (name and
embedding hash), the checkpoint (id and sha256 of its tensors), the dev-selected :class:`PromptParam` (projection
spec, layers, d, n_tokens, head), max length and loss; the selected candidate itself is ``best_params.npy``.
A run that raised writes ``failure.json`` instead (error type and message), so ``bbt-mp2 runs`` can tell
finished, interrupted and failed runs apart.

Example:
    >>> from bbt_mp2 import load_tuned
    >>> tuned = load_tuned("runs/sst2-mp2-deep-seed42")  # doctest: +SKIP
    >>> tuned.predict(["a gorgeous, witty film", "dull and far too long"]).label_words  # doctest: +SKIP
    ['great', 'terrible']
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bbt_mp2.backend import Prediction, PromptParam
from bbt_mp2.errors import CheckpointError, ConfigError, DataError
from bbt_mp2.tasks.types import Example, Metric, TaskSpec, TaskType

__all__ = ["TUNED_FILE", "FAILURE_FILE", "TunedPrompt", "TunedPredictions", "load_tuned", "record_tuned",
           "record_failure", "clear_failure", "task_to_dict", "task_from_dict", "examples_from_inputs"]

logger = logging.getLogger(__name__)

TUNED_FILE = "tuned.json"
FAILURE_FILE = "failure.json"
TUNED_FORMAT = 1
_REQUIRED = ("config.json", "result.json", TUNED_FILE, "best_params.npy")


def task_to_dict(spec: TaskSpec) -> dict[str, Any]:
    """A :class:`TaskSpec` as plain JSON (enums by value)."""
    out = asdict(spec)
    out.update(type=spec.type.value, metric=spec.metric.value, label_words=list(spec.label_words),
               extra=json.loads(json.dumps(dict(spec.extra))))
    return out


def task_from_dict(data: Mapping[str, Any]) -> TaskSpec:
    """Inverse of :func:`task_to_dict`."""
    values = dict(data)
    values.update(type=TaskType(values["type"]), metric=Metric(values["metric"]),
                  label_words=tuple(values.get("label_words", ())))
    return TaskSpec(**values)


def _is_user_task(spec: TaskSpec) -> bool:
    return "spec_file" in spec.extra


def record_tuned(run_dir: str | os.PathLike[str], spec: TaskSpec) -> Path:
    """Write ``tuned.json`` of a finished run from its ``config.json`` and loop state (see module docstring).

    Returns:
        The path of ``tuned.json``.
    """
    from bbt_mp2.methods.rundir import RunDir

    rundir = RunDir(run_dir)
    config = rundir.read_json(RunDir.CONFIG)
    state = rundir.load_state() or {}
    selection = state.get("selection")
    if selection is None:
        raise DataError(f"{rundir.path}: the run has no selected prompt yet (no loop state); finish it first")
    run, backend = config["run"], config["backend"]
    param = PromptParam.from_dict(selection["param"])
    cid = param.head or (param.projection.checkpoint if param.projection else None) or backend.get(
        "default_checkpoint")
    served = (backend.get("checkpoints") or {}).get(cid) if cid else None
    record = {
        "format": TUNED_FORMAT,
        "task": task_to_dict(spec) if _is_user_task(spec) else {"name": spec.name},
        "method": run["method"],
        "seed": run["seed"],
        "backbone": {"name": backend["name"], "embedding_hash": backend["embedding_hash"]},
        "checkpoint": None if cid is None else {"id": cid, "sha256": (served or {}).get("sha256")},
        "param": param.to_dict(),
        "candidate": RunDir.BEST,
        "candidate_shape": list(np.asarray(selection["candidate"]).shape),
        "n_tokens": param.n_tokens,
        "max_length": run["max_length"],
        "loss": run["method_config"].get("loss", "auto"),
        "head": run["method_config"].get("head", "mrc"),
        "dev_metric": selection["dev_metric"],
        "stage": selection["stage"],
    }
    rundir.write_json(TUNED_FILE, record)
    return rundir.file(TUNED_FILE)


def record_failure(run_dir: str | os.PathLike[str], exc: BaseException) -> None:
    """Write ``failure.json`` (error type, message, time) into a run directory that holds a run; else nothing."""
    from bbt_mp2.methods.rundir import RunDir

    rundir = RunDir(run_dir)
    if not rundir.has_run():
        return
    rundir.write_json(FAILURE_FILE, {"error": type(exc).__name__, "message": str(exc),
                                     "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


def clear_failure(run_dir: str | os.PathLike[str]) -> None:
    """Remove ``failure.json`` (a resumed run that finished is no longer failed)."""
    Path(run_dir, FAILURE_FILE).unlink(missing_ok=True)


@dataclass
class TunedPredictions:
    """Predictions of a tuned prompt on a list of inputs.

    Attributes:
        labels: ``N`` predicted label (option) indices (-1 for span tasks).
        label_words: ``N`` predicted label words (the option text for multiple choice, the answer for spans).
        scores: ``N x C`` float64 per-option scores (``N x 0`` for span tasks).
        option_names: ``C`` names of the score columns (the label words; ``option1..`` for multiple choice).
        gold: ``N`` gold indices (-1 where unknown).
        metric: the task metric over the inputs with gold labels, or None when there are none.
        metric_name: e.g. ``acc``.
        prediction: the backend's raw :class:`~bbt_mp2.backend.Prediction`.
    """

    labels: np.ndarray
    label_words: list[str]
    scores: np.ndarray
    option_names: list[str]
    gold: np.ndarray
    metric: float | None
    metric_name: str
    prediction: Prediction = field(repr=False)

    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per input: ``label``, ``label_word``, ``scores`` (name -> score), ``gold`` if known."""
        out = []
        for i, word in enumerate(self.label_words):
            row: dict[str, Any] = {"label": int(self.labels[i]), "label_word": word,
                                   "scores": {n: float(s) for n, s in zip(self.option_names, self.scores[i])
                                              if np.isfinite(s)}}
            if self.gold[i] >= 0:
                row["gold"] = int(self.gold[i])
            out.append(row)
        return out


def examples_from_inputs(spec: TaskSpec, inputs: Sequence[Any]) -> list[Example]:
    """Texts, text pairs, role dicts or :class:`Example` objects -> examples of ``spec``.

    A ``str`` is the text of a single-text task; a 2-tuple is ``(text_a, text_b)`` of a pair/NLI task; a dict maps
    roles (``text``, ``text_a``, ``context``, ``question``, ...) to texts, with an optional ``options`` list.

    Raises:
        DataError: an empty list, or an input whose form does not fit the task type (its position named).
    """
    if not inputs:
        raise DataError("nothing to predict: the list of inputs is empty")
    out = []
    for i, item in enumerate(inputs):
        if isinstance(item, Example):
            out.append(item)
        elif isinstance(item, str) and spec.type == TaskType.SINGLE:
            out.append(Example(f"input#{i + 1}", {"text": item}))
        elif isinstance(item, (tuple, list)) and len(item) == 2 and spec.type in (TaskType.PAIR, TaskType.NLI):
            out.append(Example(f"input#{i + 1}", {"text_a": str(item[0]), "text_b": str(item[1])}))
        elif isinstance(item, Mapping):
            fields = {k: str(v) for k, v in item.items() if k != "options"}
            options = tuple(str(o) for o in item["options"]) if "options" in item else None
            out.append(Example(f"input#{i + 1}", fields, options=options))
        else:
            raise DataError(f"input {i + 1} ({type(item).__name__}) does not fit task {spec.name!r} "
                            f"({spec.type.value}); give a text, a (text_a, text_b) pair, a dict of roles or an "
                            "Example")
    return out


class TunedPrompt:
    """A tuned prompt ready to label new inputs (build it with :func:`load_tuned`).

    Attributes:
        run_dir: the run directory. spec: the task. record: ``tuned.json``. param: the selected
            :class:`PromptParam`. candidate: ``len(layers) x d`` float64 selected vectors. backend: the Backend.
    """

    def __init__(self, run_dir: Path, spec: TaskSpec, record: dict[str, Any], candidate: np.ndarray,
                 backend: Any) -> None:
        self.run_dir, self.spec, self.record, self.candidate, self.backend = run_dir, spec, record, candidate, backend
        self.param = PromptParam.from_dict(record["param"])

    def register(self, examples: Sequence[Example]) -> str:
        """Register ``examples`` with the backend as the run did (n_tokens, max length); returns the dataset id."""
        head = {"head": "mlm"} if self.record.get("head") == "mlm" else {}  # the cloze format of head=mlm
        return self.backend.register(self.spec, list(examples), n_tokens=int(self.record["n_tokens"]),
                                     max_length=int(self.record["max_length"]), **head)

    def predict(self, inputs: Sequence[Any]) -> TunedPredictions:
        """Label ``inputs`` (see :func:`examples_from_inputs`) with the selected prompt.

        Returns:
            :class:`TunedPredictions`; ``metric`` is computed over the inputs that carry a gold label.
        """
        from bbt_mp2.tasks.metrics import compute_metric

        examples = examples_from_inputs(self.spec, inputs)
        pred = self.backend.predict(self.register(examples), self.param, self.candidate, loss=self.record["loss"])
        spec = self.spec
        labels = np.asarray(pred.predicted, dtype=np.int64)
        scores = np.asarray(pred.scores, dtype=np.float64)
        if spec.type == TaskType.MULTIPLE_CHOICE:
            names = [f"option{j + 1}" for j in range(scores.shape[1])]
            words = [ex.options[j] if ex.options and 0 <= j < len(ex.options) else "" for ex, j in
                     zip(examples, labels)]
        elif spec.is_option_task:
            names, words = list(spec.label_words), [spec.label_words[j] for j in labels]
        else:
            names, words = [], list(pred.texts)
        gold = np.array([-1 if ex.label is None else ex.label for ex in examples], dtype=np.int64)
        known = [i for i, ex in enumerate(examples) if ex.label is not None or ex.answers is not None]
        metric = None
        if known:
            if spec.is_option_task:
                metric = float(compute_metric(spec.metric, labels[known], gold[known]))
            else:
                metric = float(compute_metric(spec.metric, [words[i] for i in known],
                                              [[a.text for a in examples[i].answers] for i in known]))
        return TunedPredictions(labels, words, scores, names, gold, metric, spec.metric.value, pred)


def _read_record(run: Path) -> dict[str, Any]:
    if not run.is_dir():
        raise DataError(f"run directory {str(run)!r} does not exist")
    missing = [name for name in _REQUIRED if not (run / name).is_file()]
    if missing:
        failed = " (the run failed: see failure.json)" if (run / FAILURE_FILE).is_file() else ""
        raise DataError(f"run directory {run} is incomplete{failed}: missing {', '.join(missing)}; finish the run "
                        f"(`bbt-mp2 tune ... --out {run} --resume`) or point at a finished one")
    try:
        record = json.loads((run / TUNED_FILE).read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"{run / TUNED_FILE}:{err.lineno}: malformed JSON ({err.msg})") from None
    if record.get("format") != TUNED_FORMAT:
        raise DataError(f"{run / TUNED_FILE} has format {record.get('format')}, expected {TUNED_FORMAT}")
    return record


def _task(record: dict[str, Any]) -> TaskSpec:
    from bbt_mp2.tasks import get_task, register_task

    data = record["task"]
    if "type" not in data:
        return get_task(data["name"])
    from bbt_mp2.tasks.user import _user_reader

    spec = task_from_dict(data)
    register_task(spec, _user_reader, overwrite=True)
    return spec


def _check_checkpoint(record: dict[str, Any]) -> str | None:
    """The recorded checkpoint's id after checking its tensors' sha256 against the run's record."""
    from bbt_mp2.checkpoint import TENSORS_FILE, file_sha256, resolve_checkpoint

    ckpt = record.get("checkpoint")
    if ckpt is None:
        return None
    directory = resolve_checkpoint(ckpt["id"])
    sha = file_sha256(directory / TENSORS_FILE)
    if ckpt.get("sha256") and sha != ckpt["sha256"]:
        raise CheckpointError(
            f"checkpoint {ckpt['id']!r} has changed since the run was tuned (tensors sha256 {sha[:16]}..., the run "
            f"recorded {ckpt['sha256'][:16]}...); the tuned prompt only works with the checkpoint it was tuned on: "
            "restore that checkpoint or tune again"
        )
    return ckpt["id"]


def load_tuned(run_dir: str | os.PathLike[str], *, backbone: Any = None, device: str = "cpu") -> TunedPrompt:
    """The tuned prompt of a finished run directory, with a backend serving the run's backbone and checkpoint.

    Args:
        run_dir: a run directory written by ``bbt_mp2.methods.tune`` / ``bbt-mp2 tune``.
        backbone: a loaded backbone to use (default: load the one the run recorded, by name).
        device: torch device for a backbone loaded here.

    Raises:
        DataError: the directory is missing or incomplete (the missing files named).
        CheckpointError: the checkpoint changed since the run (sha256), or the backbone is another one than the
            run's (embedding hash).
    """
    run = Path(run_dir)
    record = _read_record(run)
    spec = _task(record)
    cid = _check_checkpoint(record)
    if backbone is None:
        from bbt_mp2.backbones import load_backbone

        backbone = load_backbone(record["backbone"]["name"], device=device)
    want = record["backbone"]
    if backbone.embedding_hash() != want["embedding_hash"]:
        raise CheckpointError(
            f"run {run} was tuned on backbone {want['name']!r} (embedding hash {want['embedding_hash']}); the given "
            f"backbone {getattr(backbone, 'name', '?')!r} has embedding hash {backbone.embedding_hash()}. Use the "
            "run's backbone"
        )
    from bbt_mp2.local_backend import LocalBackend

    if record.get("head") == "mlm":  # scored by the backbone's own MLM head: no checkpoint
        backend = LocalBackend(backbone, None)
    elif cid is None:
        raise ConfigError(f"run {run} records no checkpoint (its MRC head); it cannot be loaded for prediction")
    else:
        backend = LocalBackend.from_checkpoint(backbone, cid)
    candidate = np.load(run / record["candidate"])
    if list(candidate.shape) != record["candidate_shape"]:
        raise DataError(f"{run / record['candidate']} has shape {list(candidate.shape)}; {TUNED_FILE} records "
                        f"{record['candidate_shape']}: the run directory is inconsistent")
    return TunedPrompt(run, spec, record, candidate, backend)
