"""The run loop shared by every method: budgets, dev selection, resume, history, result.

One API call = one candidate scored on the training set; a stage spends whole generations while they fit its
budget. Every ``eval_every`` stage calls (and at the end of each stage) a candidate is scored on dev and may replace
the selected parameters, by the method's ``selection`` rule (:mod:`bbt_mp2.methods.selection`: the incumbent
``optimizer.best`` with dev-loss tie-break by default; the untuned starting point is the first selection). Dev
and control calls are counted apart from the budget. After every generation the loop and
optimizer state are rewritten atomically, so a killed run resumes from its last generation and ends with the same
result as an uninterrupted one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from bbt_mp2.backend import Backend, PromptParam
from bbt_mp2.config import Config
from bbt_mp2.errors import ConfigError, ShapeError
from bbt_mp2.methods.base import MethodConfig, Stage, TuningMethod
from bbt_mp2.methods.controls import prediction_controls
from bbt_mp2.methods.registry import get_method
from bbt_mp2.methods.rundir import RunDir
from bbt_mp2.methods.selection import current_index, improves
from bbt_mp2.methods.session import RunResult, check_resume, describe_run, new_state

__all__ = ["RunConfig", "RunResult", "run_method", "plan_run", "ProgressCallback"]

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, kw_only=True)
class RunConfig(Config):
    """Everything that decides a tuning run (saved in ``config.json``; a resume must match it).

    On the project's one config base (:class:`bbt_mp2.config.Config`): validated, JSON round trip with the method
    config nested (rebuilt by ``method``), unknown keys rejected by name.

    Attributes:
        task: registered task name.
        method: registered method name.
        seed: run seed (few-shot split and every derived seed).
        method_config: the method's config (budgets, hyper-parameters); its class is the method's ``config_cls``.
        max_length: maximum encoded length of an example, placeholders included; None = resolved when the run
            starts to ``bbt_mp2.encoding.default_max_length(task type, Backend.info().max_positions)`` (512, 460
            for multiple choice, capped by the backbone) and recorded in ``config.json``.
        preset: preset the method config started from (recorded).
    """

    task: str  # registered task name (required)
    method: str  # registered method name (required)
    seed: int  # run seed (required)
    method_config: MethodConfig  # the method's config (required)
    max_length: int | None = None  # maximum encoded length; None = from the task type and the backbone
    preset: str = "reference"  # preset the method config started from

    def validate(self) -> None:
        super().validate()
        self._check_str("task")
        self._check_str("method")
        self._check_int("seed", minimum=0)
        entry = get_method(self.method)  # UnknownNameError lists the registered methods
        if not isinstance(self.method_config, entry.config_cls):
            raise ConfigError(
                f"method {self.method!r} needs a {entry.config_cls.__name__}, got {type(self.method_config).__name__}"
            )
        self._check_int("max_length", minimum=1, optional=True)
        self._check_str("preset")

    @classmethod
    def nested_config_class(cls, name: str, data: Mapping[str, Any]) -> type[Config] | None:
        """``method_config`` is rebuilt with the config class of ``data["method"]``."""
        if name == "method_config":
            return get_method(str(data["method"])).config_cls
        return super().nested_config_class(name, data)


class _Loop:
    """State and steps of one run (kept small; ``run_method`` drives it)."""

    def __init__(self, config: RunConfig, backend: Backend, method: TuningMethod, rundir: RunDir,
                 callbacks: Sequence[ProgressCallback]) -> None:
        self.config, self.backend, self.method, self.rundir = config, backend, method, rundir
        self.callbacks = list(callbacks)
        self.loss = getattr(config.method_config, "loss", "auto")
        self.selection = getattr(config.method_config, "selection", "metric")
        self.budget = sum(b for _, b, _ in method.stage_plan())
        self.state: dict[str, Any] = {}
        self.t0 = time.perf_counter()
        self.elapsed0 = 0.0

    # -- bookkeeping ---------------------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return self.elapsed0 + time.perf_counter() - self.t0

    def save(self, optimizer: Any | None) -> None:
        self.state["optimizer"] = None if optimizer is None else optimizer.state_dict()
        self.state["elapsed"] = self.elapsed()
        self.rundir.save_state(self.state)

    def emit(self, record: Mapping[str, Any]) -> None:
        self.rundir.append_history(record)
        self.state["history_lines"] += 1
        for cb in self.callbacks:
            cb(dict(record, budget=self.budget, best_dev=self.state["selection"]["dev_metric"]))

    # -- evaluations ---------------------------------------------------------------------------------------------
    def dev_eval(self, stage: Stage, x: np.ndarray) -> tuple[float, float]:
        """Score candidate ``x`` (``D``) on dev; select it when the run's rule says it improves
        (:mod:`bbt_mp2.methods.selection`). Returns its dev metric and dev loss."""
        s = self.state
        if s["last_dev_x"] is not None and np.array_equal(s["last_dev_x"], x):
            return s["last_dev_metric"], s.get("last_dev_loss", float("nan"))
        cand = stage.decode(x[None])[0]
        res = self.backend.evaluate(self.ids["dev"], stage.param, cand[None], loss=self.loss)
        metric, loss = float(np.asarray(res.metric)[0]), float(np.asarray(res.loss)[0])
        s["dev_calls"] += 1
        s["last_dev_x"], s["last_dev_metric"], s["last_dev_loss"] = np.array(x, copy=True), metric, loss
        sel = s["selection"]
        if improves(self.selection, metric, loss, sel["dev_metric"], sel.get("dev_loss")):
            extras = {k: np.asarray(v, dtype=np.float64) for k, v in stage.extras(x).items()}
            s["selection"] = {"dev_metric": metric, "dev_loss": loss, "candidate": cand, "extras": extras,
                              "stage": stage.name, "calls": s["calls"], "param": stage.param.to_dict()}
            self.rundir.save_params(cand, extras)
            logger.info("dev %.4f (loss %.4f) at %d calls (stage %s): selected (rule %s)", metric, loss, s["calls"],
                        stage.name, self.selection)
        return metric, loss

    def start(self, param: PromptParam, cand: np.ndarray, extras: dict[str, np.ndarray]) -> None:
        """Score the untuned starting point on train and dev; it is the first selection."""
        s = self.state
        train = self.backend.evaluate(self.ids["train"], param, cand[None], loss=self.loss)
        dev = self.backend.evaluate(self.ids["dev"], param, cand[None], loss=self.loss)
        s["control_calls"] += 1
        s["dev_calls"] += 1
        s["start"] = {"train_loss": float(train.loss[0]), "train_metric": float(train.metric[0]),
                      "dev_metric": float(dev.metric[0]), "dev_loss": float(dev.loss[0]), "candidate": cand,
                      "extras": extras, "param": param.to_dict()}
        s["best_train_loss"] = float(train.loss[0])
        s["selection"] = {"dev_metric": float(dev.metric[0]), "dev_loss": float(dev.loss[0]), "candidate": cand,
                          "extras": extras, "stage": "start", "calls": 0, "param": param.to_dict()}
        self.rundir.save_params(cand, extras)
        logger.info("untuned start: train loss %.4f, dev %.4f", train.loss[0], dev.metric[0])

    # -- the stage loop ------------------------------------------------------------------------------------------
    def generation(self, stage: Stage, opt: Any, X: np.ndarray) -> None:
        s = self.state
        res = self.backend.evaluate(self.ids["train"], stage.param, stage.decode(X), loss=self.loss)
        losses = np.asarray(res.loss, dtype=np.float64).reshape(-1)
        if losses.shape != (len(X),):
            raise ShapeError(f"backend returned {losses.shape} losses for a population of {len(X)}")
        opt.tell(X, losses)
        before = s["stage_calls"]
        s["calls"] += len(X)
        s["stage_calls"] += len(X)
        s["generation"] += 1
        s["best_train_loss"] = min(s["best_train_loss"], float(losses.min()))
        x_inc, loss_inc = opt.best
        dev_metric = dev_loss = None
        s["current_x"] = np.array(X[-1], dtype=np.float64)
        if self.selection == "current":
            row = current_index(before, len(X), stage.eval_every)
            if row is not None:
                dev_metric, dev_loss = self.dev_eval(stage, np.asarray(X[row], dtype=np.float64))
        elif s["stage_calls"] // stage.eval_every > s["last_dev_block"]:
            s["last_dev_block"] = s["stage_calls"] // stage.eval_every
            dev_metric, dev_loss = self.dev_eval(stage, np.asarray(x_inc, dtype=np.float64))
        self.emit({"stage": stage.name, "generation": s["generation"], "calls": s["calls"],
                   "stage_calls": s["stage_calls"], "dev_calls": s["dev_calls"],
                   "loss_min": float(losses.min()), "loss_mean": float(losses.mean()),
                   "best_loss": float(loss_inc), "train_metric_max": float(np.max(res.metric)),
                   "dev_metric": dev_metric, "dev_loss": dev_loss, "best_dev": s["selection"]["dev_metric"],
                   "wall_time": round(self.elapsed(), 3)})
        self.save(opt)

    def ask(self, stage: Stage, opt: Any, given: np.ndarray | None = None) -> np.ndarray:
        X = np.asarray(opt.ask() if given is None else given, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != stage.dim or len(X) == 0:
            raise ShapeError(
                f"optimizer {type(opt).__name__}.ask() returned shape {X.shape}; stage {stage.name!r} of "
                f"{self.method.name} needs P x {stage.dim} (P >= 1)"
            )
        if not np.all(np.isfinite(X)):
            raise ShapeError(f"optimizer {type(opt).__name__}.ask() returned NaN/inf")
        return X

    def run_stage(self, stage: Stage, opt: Any, first: np.ndarray | None) -> None:
        s = self.state
        while True:
            if s["stage_calls"] + s["last_generation"] > stage.budget:
                break  # the next generation (assumed as large as the last one) would not fit: no wasted ask
            if first is None and opt.stop():
                logger.info("stage %s: optimizer stopped (%s)", stage.name, opt.stop())
                break
            X, first = self.ask(stage, opt, first), None
            if s["stage_calls"] + len(X) > stage.budget:
                break
            s["last_generation"] = len(X)
            self.generation(stage, opt, X)
        try:
            x_inc, _ = opt.best
        except Exception:  # noqa: BLE001 - an optimizer told nothing has no incumbent
            x_inc = None
        if self.selection == "current":  # the reference: the candidate scored last
            x_inc = s.get("current_x")
        if x_inc is not None:
            dev_metric, _ = self.dev_eval(stage, np.asarray(x_inc, dtype=np.float64))
            logger.info("stage %s done: %d calls, dev %.4f of its %s", stage.name, s["stage_calls"], dev_metric,
                        "last candidate" if self.selection == "current" else "incumbent")

    def next_stage(self, index: int) -> None:
        s = self.state
        s.update(stage_index=index, stage_calls=0, last_dev_x=None, last_dev_metric=None, last_dev_loss=None,
                 last_dev_block=0, last_generation=1, current_x=None)
        if index < len(self.method.stage_plan()):
            s["stage_context"] = self.method.stage_context(index, s["selection"]["extras"])
        self.save(None)

    # -- end -----------------------------------------------------------------------------------------------------
    def finish(self, metric_name: str) -> RunResult:
        s = self.state
        out = {}
        for key, entry in (("start", s["start"]), ("tuned", s["selection"])):
            out[key] = {"dev_metric": entry["dev_metric"], "dev_loss": entry.get("dev_loss"),
                        "test": None}  # None: the task has no test set
            if "test" in self.ids:
                param = PromptParam.from_dict(entry["param"])
                pred = self.backend.predict(self.ids["test"], param, entry["candidate"], loss=self.loss)
                s["control_calls"] += 1
                out[key]["test"] = prediction_controls(pred)
        out["start"]["train_loss"] = s["start"]["train_loss"]
        out["tuned"].update(stage=s["selection"]["stage"], selected_at_calls=s["selection"]["calls"])
        result = RunResult(
            out_dir=str(self.rundir.path), task=self.config.task, method=self.config.method, seed=self.config.seed,
            metric=metric_name, budget=self.budget, calls=s["calls"], dev_calls=s["dev_calls"],
            control_calls=s["control_calls"], best_train_loss=s["best_train_loss"], start=out["start"],
            tuned=out["tuned"], wall_time=round(self.elapsed(), 3), selection=self.selection,
            encoding=dict(getattr(self, "encoding", {})), head=self.method.head,
            scoring=getattr(self.config.method_config, "scoring", "sum"),
            prompt_mode=getattr(self.config.method_config, "prompt_mode", "add"),
        )
        self.rundir.write_json(RunDir.RESULT, result.to_dict())
        self.rundir.plot_curve(self.rundir.read_history(), title=f"{self.config.method} on {self.config.task} "
                                                                 f"(seed {self.config.seed})")
        s["done"] = True
        self.save(None)
        return result


def _encoding_report(backend: Backend, task: str, split: str, dataset_id: str,
                     max_length: int | None) -> dict[str, Any] | None:
    """What registration truncated (``Backend.dataset_stats``, plain data), logged; None when the backend cannot
    tell (a backend without ``dataset_stats``)."""
    stats_fn = getattr(backend, "dataset_stats", None)
    if stats_fn is None:
        logger.info("%s %s: the backend reports no truncation statistics", task, split)
        return None
    stats = dict(stats_fn(dataset_id))
    logger.info("%s %s: %d examples, length %s (max_length %s), truncated the input text of %d of %d, %d span "
                "answers lost", task, split, stats["n"], stats.get("length"), max_length, stats["n_truncated"],
                stats["n"], stats["n_answer_lost"])
    if stats["n_answer_lost"]:
        logger.warning("%s %s: %d of %d examples lost every gold answer to truncation at max_length=%s",
                       task, split, stats["n_answer_lost"], stats["n"], max_length)
    return stats


def plan_run(config: RunConfig) -> TuningMethod:
    """The method of ``config``, with every stage budget checked against one generation (no model needed).

    Raises:
        ConfigError: a stage whose budget is smaller than one generation (the message gives the minimum).
    """
    method = get_method(config.method).method_cls(config.method_config, seed=config.seed)
    for name, budget, generation in method.stage_plan():
        if budget < generation:
            raise ConfigError(
                f"{config.method}: stage {name!r} has a budget of {budget} API calls, smaller than one generation "
                f"({generation} calls: {'n_init random points' if name == 'router' else 'popsize'}); raise the "
                f"budget to at least {generation}"
            )
    return method


def run_method(
    config: RunConfig,
    backend: Backend,
    data: Any,
    out_dir: str,
    resume: bool = False,
    *,
    optimizer: Any | None = None,
    callbacks: Sequence[ProgressCallback] = (),
    task_spec: Any | None = None,
) -> RunResult:
    """Tune ``config.method`` on ``data`` through ``backend``, writing the run directory ``out_dir``.

    Args:
        config: the run config.
        backend: any :class:`bbt_mp2.backend.Backend` (local evaluator or remote service).
        data: the few-shot split, with ``train``, ``dev`` and ``test`` lists of :class:`Example`.
        out_dir: run directory (created).
        resume: continue the run in ``out_dir`` from its last generation (its config must match).
        optimizer: a user optimizer following the ``optimizers.Optimizer`` protocol (``ask/tell/stop/best/
            state_dict/load_state_dict``) replacing the method's own; single-stage methods only.
        callbacks: called with a dict after every generation (stage, calls, budget, best_loss, dev_metric, ...).
        task_spec: the task's :class:`TaskSpec`; default ``bbt_mp2.tasks.get_task(config.task)``.

    Returns:
        The :class:`RunResult` (also written to ``result.json``).

    Raises:
        ConfigError: a stage budget smaller than one generation, or a user optimizer for a two-stage method;
            CheckpointError: an incompatible checkpoint; ResumeError: a resume with another config; all before
            any API call.
    """
    if task_spec is None:
        from bbt_mp2.tasks import get_task

        task_spec = get_task(config.task)
    if config.max_length is None:
        from bbt_mp2.encoding import default_max_length

        config = replace(config, max_length=default_max_length(task_spec.type, backend.info().max_positions))
        logger.info("max_length=%d (task type %s, backbone positions %s)", config.max_length,
                    task_spec.type.value, backend.info().max_positions)
    method = plan_run(config)
    method.check(backend.info())
    method.attach(backend)
    plan = method.stage_plan()
    if optimizer is not None and len(plan) != 1:
        raise ConfigError(f"a user optimizer replaces the optimizer of single-stage methods (bbt, bbtv2, mp2-router); "
                          f"{config.method} has {len(plan)} stages")
    rundir = RunDir(out_dir)
    description = describe_run(config, method, backend.info(), data)
    state = check_resume(rundir, description, resume)
    first = None
    if optimizer is not None and state is None:  # the user's first generation, checked before any API call
        dim = method.build_stage(0, method.stage_context(0, {})).dim
        first = np.asarray(optimizer.ask(), dtype=np.float64)
        if first.ndim != 2 or first.shape[1] != dim:
            raise ShapeError(f"optimizer {type(optimizer).__name__}.ask() returned shape {first.shape}; stage "
                             f"{plan[0][0]!r} of {config.method} needs P x {dim} (P >= 1)")
        if len(first) > plan[0][1]:
            raise ConfigError(f"{config.method}: the optimizer's first generation has {len(first)} candidates, more "
                              f"than the budget of {plan[0][1]} calls; raise the budget")
    if state is not None and state.get("done"):
        return RunResult.from_dict(rundir.read_json(RunDir.RESULT))
    return _drive(config, backend, method, rundir, data, task_spec, state, description, optimizer, first, callbacks)


def _drive(config, backend, method, rundir, data, task_spec, state, description, optimizer, first, callbacks):
    loop = _Loop(config, backend, method, rundir, callbacks)
    n_tokens = method.n_tokens
    head = {"head": method.head} if method.head != "mrc" else {}  # the cloze format (head=mlm) is asked by name
    loop.ids = {split: backend.register(task_spec, getattr(data, split), n_tokens=n_tokens,
                                        max_length=config.max_length, **head) for split in ("train", "dev", "test")
                if split != "test" or len(data.test)}  # a user task without test file: dev only
    loop.encoding = {split: _encoding_report(backend, task_spec.name, split, ds_id, config.max_length)
                     for split, ds_id in loop.ids.items()}
    param, cand, extras = method.start(loop.ids["train"])
    if state is None:
        rundir.path.mkdir(parents=True, exist_ok=True)
        rundir.write_json(RunDir.CONFIG, description)
        rundir.truncate_history(0)
        loop.state = new_state()
        loop.start(param, np.asarray(cand, dtype=np.float64), extras)
        loop.next_stage(0)
    else:
        loop.state, loop.elapsed0 = state, float(state["elapsed"])
        rundir.truncate_history(state["history_lines"])
        logger.info("resuming %s at %d calls (stage %d)", rundir.path, state["calls"], state["stage_index"])
    plan = method.stage_plan()
    while loop.state["stage_index"] < len(plan):
        index = loop.state["stage_index"]
        stage = method.build_stage(index, loop.state["stage_context"])
        opt = optimizer if optimizer is not None else stage.build_optimizer(method.seeds[f"stage{index}"])
        if loop.state["optimizer"] is not None:
            opt.load_state_dict(loop.state["optimizer"])
        loop.run_stage(stage, opt, first)
        first = None
        loop.next_stage(index + 1)
    return loop.finish(task_spec.metric.value if hasattr(task_spec.metric, "value") else str(task_spec.metric))
