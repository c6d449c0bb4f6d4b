"""``bbt-mp2 bench``: benchmark sweeps (``sweep``) and their paper-style reports (``report``).

A thin wrapper: the work lives in :mod:`benchmarks.sweep` and :mod:`benchmarks.report`.

    bbt-mp2 bench sweep benchmarks/configs/cpu-small.yaml --jobs 2          # resumable: rerun after a kill
    bbt-mp2 bench sweep benchmarks/configs/paper.yaml --dry-run             # cells, calls, estimated wall time
    bbt-mp2 bench report runs/bench/cpu-small                               # report.md, CSV, PNG curves
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``bench`` and its sub-commands ``sweep`` and ``report``."""
    p = subparsers.add_parser("bench", help="benchmark sweeps and paper-style reports",
                              description="Run a sweep of tuning runs from a YAML config of axes, or report one.")
    sub = p.add_subparsers(dest="bench_command", required=True)
    s = sub.add_parser("sweep", help="run (or resume) every cell of a sweep config")
    s.add_argument("config", type=Path, help="sweep YAML (see benchmarks/configs/)")
    s.add_argument("--out", type=Path, default=None, help="output directory (default: the config's `out`)")
    s.add_argument("--jobs", type=int, default=None, help="cells in parallel (local executor; default fixed.jobs or 1)")
    s.add_argument("--threads", type=int, default=None, help="torch threads per cell (default: cores / jobs)")
    s.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local worker processes (default) or Ray tasks on an existing cluster")
    s.add_argument("--address", default=None, help="Ray cluster address (default: auto)")
    s.add_argument("--server", default=None, help="run the cells against this bbt-mp2 service URL "
                                                   "(API key from $BBT_MP2_API_KEY)")
    s.add_argument("--dry-run", action="store_true", help="list the cells with calls and estimated wall time")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    r = sub.add_parser("report", help="Markdown + CSV tables, curves and plots of a sweep directory")
    r.add_argument("dir", type=Path, help="the sweep's output directory (holds sweep.json)")
    r.add_argument("--out", type=Path, default=None, help="report directory (default: DIR/report)")
    r.add_argument("--fraction", type=float, default=0.9,
                   help="report the calls needed to reach this fraction of each method's final dev score")
    return p


def run(args: argparse.Namespace) -> int:
    """Dispatch to the sweep or the report; returns 1 when cells failed or are unfinished."""
    if args.bench_command == "report":
        from benchmarks.report import write_report

        paths = write_report(args.dir, args.out, fraction=args.fraction)
        print(f"report: {paths['markdown']} ({len(paths['csv'])} CSV, {len(paths['png'])} PNG)")
        return 0
    from benchmarks.sweep import dry_run_table, load_sweep_config, plan_cells, run_sweep

    config = load_sweep_config(args.config)
    out = args.out or Path(config.out)
    if args.dry_run:
        print(dry_run_table(plan_cells(config, out), jobs=int(args.jobs or config.fixed.get("jobs", 1))), end="")
        return 0
    outcome = run_sweep(config, out, jobs=args.jobs, executor=args.executor, address=args.address,
                        server=args.server, threads=args.threads, show_progress=not args.no_progress)
    done, failed = outcome.count("done"), outcome.count("failed")
    print(f"sweep {config.name}: {done}/{len(outcome.cells)} cells done, {failed} failed, "
          f"{len(outcome.cells) - done - failed} unfinished; {outcome.wall_s:.0f} s; results in {out}")
    return 0 if done == len(outcome.cells) else 1
