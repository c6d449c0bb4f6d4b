"""Benchmark sweeps: a YAML config of axes -> cells (ordinary run directories) run by local processes or Ray.

Example:
    >>> from benchmarks.sweep import load_sweep_config, plan_cells, run_sweep
    >>> config = load_sweep_config("benchmarks/configs/cpu-small.yaml")          # doctest: +SKIP
    >>> outcome = run_sweep(config, "runs/bench/cpu-small", jobs=2)               # doctest: +SKIP
"""

from benchmarks.sweep.config import SweepConfig, load_sweep_config
from benchmarks.sweep.executors import (
    LocalExecutor,
    RayExecutor,
    SweepOutcome,
    dry_run_table,
    machine_info,
    run_sweep,
)
from benchmarks.sweep.plan import Cell, estimate_seconds, plan_cells
from benchmarks.sweep.progress import SweepProgress
from benchmarks.sweep.worker import cell_status, run_cell

__all__ = [
    "Cell",
    "LocalExecutor",
    "RayExecutor",
    "SweepConfig",
    "SweepOutcome",
    "SweepProgress",
    "cell_status",
    "dry_run_table",
    "estimate_seconds",
    "load_sweep_config",
    "machine_info",
    "plan_cells",
    "run_cell",
    "run_sweep",
]
