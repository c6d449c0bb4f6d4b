"""Cells of a sweep: the product of its axes, each checked before any work, with calls and a wall-time estimate.

A cell is plain JSON (it travels to worker processes and Ray tasks) and names its own run directory
``<out>/cells/<backbone>/<task>[@k<shots>][@labels<N>]/<method>[@<optimizer>][@<settings>][@<preset>][@<ckpt>]
@b<budget>-seed<S>``; only axis values other than the default appear, so extending a config keeps old paths.

Wall-time estimate (``--dry-run``): a documented constant table, not a measurement of this run: example forwards
per second of one single-threaded worker per backbone and device (:data:`FORWARDS_PER_S`), applied to the forwards a
cell needs: calls x training-set size (gradient steps x 3), the dev evaluations (every ``eval_every`` calls, of a
dev set as large as train), and the test predictions of the untuned and the tuned prompt (``fixed.test_limit``
examples, else :data:`TEST_SIZE_GUESS`), plus :data:`CELL_OVERHEAD_S` for loading.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bbt_mp2.errors import ConfigError, UnknownNameError
from benchmarks.sweep.config import GRAD_PREFIX, SweepConfig, entry_label, per_method

__all__ = ["Cell", "plan_cells", "parse_settings", "FORWARDS_PER_S", "CELL_OVERHEAD_S", "TEST_SIZE_GUESS",
           "estimate_seconds"]

logger = logging.getLogger(__name__)

# Example forwards per second of one worker (fp32, n = 20 prompt tokens, max length 96).
# ("minilm", "cpu"): measured by benchmarks/configs/smoke.yaml on the 2-core CI CPU, 1 torch thread per cell, two
#   cells side by side while the machine was shared (load ~6): 40 calls + dev + 2 x 872 test examples of SST-2 at
#   ~15 forwards/s per cell; an idle machine is up to ~2x faster.
# ("minilm", "cuda"): the H200 sweep of benchmarks/results/compare-h200 (1,000 calls x 32 examples + test in 18-36 s).
# cpt-large / cpt-base: MiniLM's rates divided by the ratio of forward FLOPs (~18x / ~5x); not measured here.
FORWARDS_PER_S: dict[tuple[str, str], float] = {
    ("minilm", "cpu"): 15.0,
    ("minilm", "cuda"): 1500.0,
    ("cpt-large", "cpu"): 0.8,
    ("cpt-large", "cuda"): 400.0,
    ("cpt-base", "cpu"): 3.0,
    ("cpt-base", "cuda"): 800.0,
}
CELL_OVERHEAD_S = 5.0  # dataset encoding and bookkeeping (a worker loads its backbone once, for many cells)
TEST_SIZE_GUESS = 1000  # test examples per cell when fixed.test_limit is not set (the data caps most at 2,000)
GRAD_STEP_FACTOR = 3.0  # one gradient step (forward + backward) ~ 3 forwards


@dataclass
class Cell:
    """One tuning run of a sweep (all plain data).

    Attributes:
        id: path of the run directory relative to the sweep's ``out/cells``.
        out_dir: the run directory.
        method: method name (``grad:<m>`` = gradient baseline ``<m>``).
        task: registered task name (a label-subset task once ``labels`` is set; see ``source_task``).
        source_task: the task as the config names it (a name, or a user task spec file).
        seed: run seed. budget: API calls (None = the preset's); steps for gradient cells.
        budget_labels: labels of the ``budgets`` entries this cell belongs to (report tables are per label).
        preset, settings_name, overrides: hyper-parameters (``overrides`` = parsed ``--set`` values).
        optimizer: the tuning stage's optimizer by name (None = the method's own).
        backbone, checkpoint_label, checkpoint: model and checkpoint (shipped name or directory).
        shots: k per class (None = the task's). labels: N labels subset (None = all).
        tracks: the config tracks that plan this cell (the report makes tables per track).
        task_label: the registered name of the source task (the report's column).
        checkpoint_entry: label of the ``checkpoints`` axis entry (the report groups by it).
        calls: API calls the cell spends (gradient cells: steps). n_train: few-shot training-set size.
        fixed: ``max_length``, ``device``, ``dtype``, ``data_root``, ``server``, ``backend_factory``, ``threads``.
    """

    id: str
    out_dir: str
    method: str
    task: str
    source_task: str
    seed: int
    budget: int | None
    budget_labels: list[str]
    preset: str
    settings_name: str
    overrides: dict[str, Any]
    optimizer: str | None
    backbone: str
    checkpoint_label: str | None
    checkpoint: str | None
    shots: int | None
    labels: int | None
    tracks: list[str] = field(default_factory=lambda: ["main"])
    task_label: str = ""
    checkpoint_entry: str = "-"
    calls: int = 0
    n_train: int = 0
    fixed: dict[str, Any] = field(default_factory=dict)

    @property
    def is_gradient(self) -> bool:
        return self.method.startswith(GRAD_PREFIX)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cell:
        return cls(**data)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=+@-]+", "-", str(text)).strip("-")


def parse_settings(items: list[str], methods: list[str], where: str,
                   other_methods: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """``[METHOD:]KEY=VALUE`` strings -> typed overrides per method.

    An unqualified key goes to every method whose config has it (at least one must); ``METHOD:`` limits it. A
    setting of a method in ``other_methods`` (another track's) but not in ``methods`` is skipped.

    Raises:
        ConfigError: malformed item, unknown method, or a key no method (or not the named one) has.
    """
    from bbt_mp2.methods import get_method, parse_value
    from bbt_mp2.pretrain import DownstreamConfig

    out: dict[str, dict[str, Any]] = {m: {} for m in methods}
    for item in items:
        key, sep, text = item.partition("=")
        target, colon, key = key.strip().rpartition(":")
        if not sep or not key:
            raise ConfigError(f"{where}: setting {item!r} is not [METHOD:]KEY=VALUE, e.g. popsize=10")
        if colon and target not in methods and target in other_methods:
            continue
        if colon and target not in methods:
            raise ConfigError(f"{where}: setting {item!r} names method {target!r}, not in this sweep's methods "
                              f"{methods}")
        applied = []
        for m in [target] if colon else methods:
            if m.startswith(GRAD_PREFIX):
                if key not in DownstreamConfig.field_names() or key in ("method", "task", "seed"):
                    continue
                out[m][key] = DownstreamConfig.parse_value(key, text.strip())
            else:
                cls = get_method(m).config_cls
                if key not in cls.field_names():
                    continue
                out[m][key] = parse_value(cls, key, text.strip())
            applied.append(m)
        if not applied:
            raise ConfigError(f"{where}: setting {item!r}: no method of {[target] if colon else methods} has a "
                              f"setting {key!r}")
    return out


def _resolve_task(task: str, base: Path) -> tuple[str, str]:
    """``(registered name, source)``: a name as is; a spec file (``.yaml``/``.yml``/``.json``, relative to the
    config's folder) is loaded and registered, its source the absolute path (workers register it again)."""
    from bbt_mp2.tasks import get_task, load_user_task

    if str(task).endswith((".yaml", ".yml", ".json")):
        path = (Path(task) if Path(task).is_absolute() else base / task).resolve()
        return load_user_task(path).name, str(path)
    name = get_task(task).name
    return name, name


def _checkpoint(config: SweepConfig, label: str | None) -> str | None:
    if label is None:
        return None
    target = config.checkpoints.get(label, label)
    local = Path(target) if Path(target).is_absolute() else config.base_dir / target
    return str(local.resolve()) if local.is_dir() else target


def estimate_seconds(cell: Cell) -> float:
    """Estimated wall seconds of ``cell`` on this machine class (see the module docstring)."""
    device = "cuda" if str(cell.fixed.get("device", "cpu")).startswith("cuda") else "cpu"
    rate = FORWARDS_PER_S.get((cell.backbone, device), FORWARDS_PER_S[("minilm", device)])
    factor = GRAD_STEP_FACTOR if cell.is_gradient else 1.0
    eval_every = int(cell.overrides.get("eval_every", cell.fixed.get("eval_every", 100)) or 100)
    n_train = max(cell.n_train, 1)
    forwards = factor * cell.calls * n_train + (cell.calls / eval_every + 2) * n_train
    forwards += 2 * int(cell.fixed.get("test_limit") or TEST_SIZE_GUESS)
    return CELL_OVERHEAD_S + forwards / rate


def _validate(cell: Cell) -> None:
    """Check names, values and stage budgets without a model; fill ``calls`` and ``n_train``."""
    from bbt_mp2.tasks import get_task

    spec = get_task(cell.task)
    k = cell.shots or spec.k_shot
    cell.n_train = k * spec.n_classes if spec.n_classes else k
    if cell.is_gradient:
        from bbt_mp2.pretrain import DownstreamConfig

        cfg = DownstreamConfig(method=cell.method[len(GRAD_PREFIX):], task=cell.task, seed=cell.seed,
                               checkpoint=cell.checkpoint or "", **cell.overrides)
        cell.calls = cfg.steps
        return
    from bbt_mp2.methods import RunConfig, build_config
    from bbt_mp2.methods.runner import plan_run

    values = dict(cell.overrides)
    if cell.budget is not None:
        values["budget"] = cell.budget
    if cell.optimizer is not None:
        import optimizers

        try:  # unknown names fail now, listing the registered ones
            optimizers.get_optimizer_class(cell.optimizer)
        except KeyError as exc:  # optimizers' own UnknownNameError, re-raised as the project's
            raise UnknownNameError(exc.args[0] if exc.args else str(exc)) from None
        values["optimizer"] = cell.optimizer
    method = plan_run(RunConfig(task=cell.task, method=cell.method, seed=cell.seed, preset=cell.preset,
                                method_config=build_config(cell.method, cell.preset, values)))
    cell.calls = sum(b for _, b, _ in method.stage_plan())


def plan_cells(config: SweepConfig, out: str | Path) -> list[Cell]:
    """Every cell of ``config`` under ``out``, validated (no model is loaded, no data read).

    Gradient methods take no ``optimizer`` and no budget (their length is ``steps``): they are planned once per
    other axis value. A cell reached by several ``budgets`` entries or tracks is planned once and carries every
    budget label and track.

    Raises:
        ConfigError / UnknownNameError: the first invalid cell, named.
    """
    cells: dict[str, Cell] = {}
    for track in config.track_names():
        _plan_track(config, track, Path(out), cells)
    return list(cells.values())


def _plan_track(config: SweepConfig, track: str, out: Path, cells: dict[str, Cell]) -> None:
    from bbt_mp2.tasks.subsets import subset_task

    methods = [str(m) for m in config.axis("methods", track)]
    every = [str(m) for t in config.track_names() for m in config.axis("methods", t)]
    fixed_sets = parse_settings(list(config.fixed.get("set", [])), methods, "fixed.set", every)
    variants = {name: parse_settings(items, methods, f"settings.{name}", every)
                for name, items in config.axis("settings", track)}
    fixed = {k: v for k, v in config.fixed.items() if k not in ("set", "jobs")}
    product = itertools.product(*(config.axis(a, track) for a in ("backbones", "tasks", "shots", "labels")), methods,
                                config.axis("optimizers", track), list(variants),
                                *(config.axis(a, track) for a in ("presets", "checkpoints", "budgets", "seeds")))
    for backbone, task, shots, labels, method, optimizer, variant, preset, ckpt_entry, budget_entry, seed in product:
        grad = method.startswith(GRAD_PREFIX)
        if grad and optimizer is not None:
            continue
        variant = next(v for v in variants if variants[v][method] == variants[variant][method])  # same run, one cell
        source, source_path = _resolve_task(str(task), config.base_dir)
        ckpt_label = per_method(ckpt_entry, method)
        budget = None if grad else per_method(budget_entry, method)
        parts = [method] + [f"{k}{_safe(v)}" for k, v in (("opt-", optimizer), ("set-", variant if variant !=
                            "default" else None), ("preset-", preset if preset != "reference" else None),
                            ("ckpt-", ckpt_label)) if v is not None]
        leaf = "@".join(parts) + f"@b{budget if budget is not None else 'preset'}-seed{seed}"
        folder = source + (f"@k{shots}" if shots is not None else "") + (f"@labels{labels}" if labels else "")
        cid = "/".join((_safe(backbone), _safe(folder), _safe(leaf)))
        label = "grad" if grad else entry_label(budget_entry)
        if cid in cells:
            for values, new in ((cells[cid].budget_labels, label), (cells[cid].tracks, track)):
                if new not in values:
                    values.append(new)
            continue
        overrides = {**fixed_sets[method], **variants[variant][method]}
        if not grad and "eval_every" in config.fixed and "eval_every" not in overrides:
            overrides["eval_every"] = int(config.fixed["eval_every"])
        cell = Cell(id=cid, out_dir=str(out / "cells" / cid), method=method, source_task=source_path,
                    task=subset_task(source, int(labels), int(seed)).name if labels is not None else source,
                    seed=int(seed), budget=None if budget is None else int(budget), budget_labels=[label],
                    preset=str(preset), settings_name=str(variant), overrides=overrides, optimizer=optimizer,
                    backbone=str(backbone), checkpoint_label=ckpt_label,
                    checkpoint=_checkpoint(config, ckpt_label), shots=None if shots is None else int(shots),
                    labels=None if labels is None else int(labels), fixed=dict(fixed), tracks=[track],
                    task_label=source, checkpoint_entry=entry_label(ckpt_entry))
        try:
            _validate(cell)
        except Exception as exc:
            raise type(exc)(f"sweep {config.name!r}, cell {cid}: {exc}") from None
        cells[cid] = cell
