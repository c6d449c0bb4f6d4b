"""Black-box tuning methods (BBT, BBTv2, MP2 shallow/deep/router-only) and their run loop.

Methods talk to a :class:`bbt_mp2.backend.Backend` (in-process evaluator or remote service), never to torch
modules, and drive optimizers from ``optimizers`` through ask/tell only.

Example:
    >>> from bbt_mp2.methods import tune
    >>> result = tune("sst2", "bbt", seed=13, budget=400, backend=backend, checkpoint="ckpt/")  # doctest: +SKIP
    >>> print(result.summary())  # doctest: +SKIP
"""

from __future__ import annotations

from bbt_mp2.methods.api import default_out_dir, tune
from bbt_mp2.methods.base import MethodConfig, Stage, TuningMethod, derive_seeds, parse_value
from bbt_mp2.methods.bbt import BBTConfig, BBTMethod
from bbt_mp2.methods.bbtv2 import BBTv2Config, BBTv2Method
from bbt_mp2.methods.controls import class_distribution, prediction_controls
from bbt_mp2.methods.mp2 import (
    MP2DeepConfig,
    MP2DeepMethod,
    MP2RouterConfig,
    MP2RouterMethod,
    MP2ShallowConfig,
    MP2ShallowMethod,
    route,
)
from bbt_mp2.methods.registry import (
    MethodEntry,
    build_config,
    config_from_dict,
    get_method,
    get_preset,
    method_names,
    preset_names,
    register_method,
    register_preset,
)
from bbt_mp2.methods.rundir import RunDir, package_versions
from bbt_mp2.methods.runner import ProgressCallback, RunConfig, plan_run, run_method
from bbt_mp2.methods.session import RunResult

__all__ = [
    "tune",
    "run_method",
    "plan_run",
    "RunConfig",
    "RunResult",
    "RunDir",
    "ProgressCallback",
    "default_out_dir",
    "get_method",
    "method_names",
    "preset_names",
    "get_preset",
    "build_config",
    "config_from_dict",
    "register_method",
    "register_preset",
    "MethodEntry",
    "MethodConfig",
    "TuningMethod",
    "Stage",
    "parse_value",
    "derive_seeds",
    "BBTConfig",
    "BBTMethod",
    "BBTv2Config",
    "BBTv2Method",
    "MP2ShallowConfig",
    "MP2DeepConfig",
    "MP2RouterConfig",
    "MP2ShallowMethod",
    "MP2DeepMethod",
    "MP2RouterMethod",
    "route",
    "prediction_controls",
    "class_distribution",
    "package_versions",
]
