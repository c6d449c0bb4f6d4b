"""The sweep config: a YAML file of axes whose product is the set of cells (one tuning run each).

Example (``benchmarks/configs/cpu-small.yaml`` is a full one)::

    name: smoke
    out: runs/bench/smoke            # default --out
    checkpoints:                     # label -> shipped checkpoint name or directory
      deep: english-deep
      shallow: english-shallow
    fixed:                           # the same for every cell
      max_length: 96
      set: ["popsize=10"]            # --set-style overrides: KEY=VALUE (every method having KEY) or METHOD:KEY=VALUE
    axes:
      methods: [bbt, mp2-deep, grad:prompt-tuning]
      tasks: [sst2, my_task.yaml]    # registered names or user task spec files (relative to this file)
      seeds: [13, 42]
      budgets: [200, {"*": 1000, mp2-router: 100}]     # API calls; a mapping gives per-method values
      presets: [reference]
      settings: {default: [], binary: ["mp2-deep:routing=binary"]}   # named variants of --set overrides
      optimizers: [null, "ng:NGOpt"]                   # null = the method's own; else swaps its tuning stage
      backbones: [minilm]
      checkpoints: [{"*": deep, mp2-shallow: shallow}] # checkpoint label per method
      shots: [null, 4]                                 # k per class; null = the task's protocol k
      labels: [null]                                   # N: a seeded subset of N labels of a many-label task

Every axis is optional (its default is one value: the method's/preset's own). ``tracks`` (optional) names several
products in one config, each overriding some axes, e.g. a labels track on one many-label task beside the main
table::

    tracks:
      main: {}
      labels: {tasks: [iflytek], labels: [10, 20, 30], methods: [bbt, mp2-deep]}

The report makes one table per track (and budget); a cell planned by two tracks runs once and shows in both.

``grad:<method>`` runs a gradient baseline of :mod:`bbt_mp2.pretrain.downstream` (``prompt-tuning``,
``p-tuning-v2``, ``mp2-grad``) as a cell; its settings are :class:`~bbt_mp2.pretrain.DownstreamConfig` fields
(e.g. ``grad:prompt-tuning:steps=100``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from bbt_mp2.config import Config
from bbt_mp2.errors import ConfigError

__all__ = ["SweepConfig", "load_sweep_config", "per_method", "entry_label", "GRAD_PREFIX"]

logger = logging.getLogger(__name__)

GRAD_PREFIX = "grad:"

_AXES = ("methods", "tasks", "seeds", "budgets", "presets", "settings", "optimizers", "backbones", "checkpoints",
         "shots", "labels")
_FIXED = ("max_length", "device", "dtype", "data_root", "threads", "jobs", "set", "backend_factory", "server",
          "eval_every", "test_limit")


def per_method(value: Any, method: str) -> Any:
    """The value of an axis entry for ``method``: a scalar is for every method; a mapping gives per-method values
    with ``"*"`` as the default (a method that is neither named nor covered by ``"*"`` gets None)."""
    if isinstance(value, Mapping):
        return value.get(method, value.get("*"))
    return value


def entry_label(value: Any) -> str:
    """A short stable label of an axis entry (``1000``; ``1000,mp2-router=100``; ``-`` for None)."""
    if value is None:
        return "-"
    if isinstance(value, Mapping):
        default = [str(value["*"])] if "*" in value else []
        return ",".join(default + [f"{k}={v}" for k, v in sorted(value.items()) if k != "*"])
    return str(value)


@dataclass(frozen=True, kw_only=True)
class SweepConfig(Config):
    """A parsed sweep config (see the module docstring for the YAML layout), on the project's one config base
    (:class:`bbt_mp2.config.Config`: validated, JSON round trip, unknown keys rejected by name).

    Attributes:
        name: sweep name (report title).
        path: the YAML file (relative task spec files resolve against its folder); None for an in-memory config.
        out: default output directory.
        description: free text for the report header.
        checkpoints: checkpoint label -> shipped checkpoint name or directory.
        fixed: values shared by every cell (``max_length``, ``device``, ``dtype``, ``data_root``, ``threads``,
            ``jobs``, ``set``, ``backend_factory``, ``server``, ``eval_every``, ``test_limit``: score the test
            predictions on a seeded subset of that many test examples, the same for every cell of a task).
        axes: axis name -> list of values (see ``_AXES``); ``settings`` is a mapping name -> list of ``--set``.
        tracks: track name -> axis overrides (several products in one config).
    """

    label: ClassVar[str] = "sweep config"

    name: str  # sweep name (report title; required)
    path: str | None = None  # the YAML file; None = in memory
    out: str = "runs/bench"  # default output directory
    description: str = ""  # free text for the report header
    checkpoints: dict[str, str] = field(default_factory=dict)  # label -> shipped name or directory
    fixed: dict[str, Any] = field(default_factory=dict)  # values shared by every cell (see _FIXED)
    axes: dict[str, Any] = field(default_factory=dict)  # axis name -> list of values (see _AXES)
    tracks: dict[str, Any] = field(default_factory=dict)  # track name -> axis overrides

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError("sweep config needs a non-empty `name`")
        self._check_str("path", optional=True)
        for name in ("checkpoints", "fixed", "axes", "tracks"):
            if not isinstance(getattr(self, name), Mapping):
                self._fail(name, "a mapping", f"Write `{name}:` as a YAML mapping.")
        for track, overrides in self.tracks.items():
            if not isinstance(overrides, Mapping):
                raise ConfigError(f"sweep {self.name!r}: track {track!r} must map axis names to values, got "
                                  f"{overrides!r}")
            unknown = sorted(set(overrides) - set(_AXES))
            if unknown:
                raise ConfigError(f"sweep {self.name!r}: track {track!r} has unknown axes {unknown}; valid axes: "
                                  f"{list(_AXES)}")
        unknown = sorted(set(self.axes) - set(_AXES))
        if unknown:
            raise ConfigError(f"sweep {self.name!r}: unknown axes {unknown}; valid axes: {list(_AXES)}")
        unknown = sorted(set(self.fixed) - set(_FIXED))
        if unknown:
            raise ConfigError(f"sweep {self.name!r}: unknown keys {unknown} under `fixed`; valid keys: {list(_FIXED)}")
        for name, values in [*self.axes.items(), *(i for t in self.tracks.values() for i in t.items())]:
            if name == "settings":
                if not isinstance(values, Mapping) or not values:
                    raise ConfigError(f"sweep {self.name!r}: axis `settings` must map a variant name to a list of "
                                      f"[METHOD:]KEY=VALUE strings, e.g. {{default: [], binary: [routing=binary]}}")
                for variant, items in values.items():
                    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
                        raise ConfigError(f"sweep {self.name!r}: settings variant {variant!r} must be a list of "
                                          f"[METHOD:]KEY=VALUE strings, got {items!r}")
            elif not isinstance(values, list) or not values:
                raise ConfigError(f"sweep {self.name!r}: axis {name!r} must be a non-empty list, got {values!r}")
        for required in ("methods", "tasks", "seeds"):
            for track in self.track_names():
                if required not in {**self.axes, **self.tracks.get(track, {})}:
                    raise ConfigError(f"sweep {self.name!r}: axis {required!r} is required (a list)"
                                      + (f" in track {track!r}" if self.tracks else ""))
        if not isinstance(self.fixed.get("set", []), list):
            raise ConfigError(f"sweep {self.name!r}: fixed.set must be a list of [METHOD:]KEY=VALUE strings")
        for label, target in self.checkpoints.items():
            if not isinstance(target, str) or not target:
                raise ConfigError(f"sweep {self.name!r}: checkpoint {label!r} must name a shipped checkpoint or "
                                  f"a directory, got {target!r}")

    def track_names(self) -> list[str]:
        """The tracks of the sweep (``["main"]`` when the config names none)."""
        return list(self.tracks) or ["main"]

    def axis(self, name: str, track: str = "main") -> list[Any]:
        """The values of axis ``name`` in ``track`` (its default single value when the config leaves it out)."""
        defaults: dict[str, list[Any]] = {"budgets": [None], "presets": ["reference"], "optimizers": [None],
                                          "backbones": ["minilm"], "checkpoints": [None], "shots": [None],
                                          "labels": [None]}
        axes = {**self.axes, **self.tracks.get(track, {})}
        if name == "settings":
            return list(dict(axes.get("settings", {"default": []})).items())
        return list(axes.get(name, defaults.get(name, [])))

    @property
    def base_dir(self) -> Path:
        """Folder relative task spec files and checkpoint directories resolve against."""
        return Path(self.path).resolve().parent if self.path else Path.cwd()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str | None = None) -> SweepConfig:
        """Build from a parsed YAML mapping (``path``: the file it came from); unknown keys are rejected by name.

        Raises:
            ConfigError: not a mapping, an unknown key, or an invalid value (the message names it).
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"sweep config {path or ''}: expected a mapping at the top level, got "
                              f"{type(data).__name__}")
        return super().from_dict({**data, "path": path} if path is not None else data)


def load_sweep_config(path: str | Path) -> SweepConfig:
    """Read and validate a sweep YAML file.

    Raises:
        ConfigError: a missing file, malformed YAML or an invalid config (the message names the key).
    """
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"sweep config {str(p)!r} does not exist; shipped configs are in benchmarks/configs/")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"sweep config {p}: malformed YAML ({err})") from None
    return SweepConfig.from_dict(data or {}, path=str(p))
