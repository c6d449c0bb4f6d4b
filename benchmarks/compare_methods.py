"""Methods x tasks x seeds from the command line: a thin front end of the sweep tool (``bbt-mp2 bench sweep``).

Usage::

    python -m benchmarks.compare_methods --checkpoint runs/pretrain-deep/checkpoint \\
        --shallow-checkpoint runs/pretrain-shallow/checkpoint --tasks sst2 yelp_polarity rte \\
        --methods bbt bbtv2 mp2-shallow mp2-deep mp2-router --seeds 13 42 --budget 1000 mp2-router=100 \\
        --set mp2-deep:budget_router=60 --jobs 2 --out runs/compare

The flags become a :class:`benchmarks.sweep.SweepConfig` (``mp2-shallow`` takes ``--shallow-checkpoint``, every
other method ``--checkpoint``); the sweep is resumable (run the same command again after a kill) and its report
(``<out>/report/report.md``, CSV, PNG) is written at the end. ``--summary-only`` reports what is there. For more
axes (optimizers, shots, labels, presets, settings variants, Ray) write a YAML config for ``bbt-mp2 bench sweep``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from bbt_mp2.errors import ConfigError
from benchmarks.sweep import SweepConfig

__all__ = ["sweep_config", "main"]

METHODS = ("bbt", "bbtv2", "mp2-shallow", "mp2-deep", "mp2-router")


def _budgets(items: list[str] | None) -> dict[str, int] | None:
    """``["1000", "mp2-router=80"]`` -> ``{"*": 1000, "mp2-router": 80}`` (None = the preset's budgets)."""
    if not items:
        return None
    out: dict[str, int] = {}
    for item in items:
        target, eq, value = item.rpartition("=")
        if (eq and target not in METHODS) or not value.isdigit():
            raise ConfigError(f"--budget expects N or METHOD=N (METHOD in {list(METHODS)}), got {item!r}")
        out[target if eq else "*"] = int(value)
    return out


def sweep_config(args: argparse.Namespace) -> SweepConfig:
    """The :class:`SweepConfig` of the command-line flags (checked when its cells are planned)."""
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        raise ConfigError(f"unknown method(s) {unknown}; choose from {list(METHODS)}")
    fixed: dict[str, Any] = {"max_length": args.max_length, "device": args.device, "jobs": args.jobs,
                             "threads": args.threads, "set": list(args.set or [])}
    axes: dict[str, Any] = {"methods": list(args.methods), "tasks": list(args.tasks), "seeds": list(args.seeds),
                            "presets": [args.preset], "backbones": [args.backbone],
                            "checkpoints": [{"*": "deep", "mp2-shallow": "shallow"}],
                            "budgets": [_budgets(args.budget)]}
    checkpoints = {"deep": str(args.checkpoint), "shallow": str(args.shallow_checkpoint or args.checkpoint)}
    return SweepConfig.from_dict({"name": "compare-methods", "out": str(args.out), "checkpoints": checkpoints,
                                  "fixed": fixed, "axes": axes})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, required=True, help="MP2 checkpoint (head for every method)")
    p.add_argument("--shallow-checkpoint", type=Path, default=None, help="shallow MP2 checkpoint for mp2-shallow")
    p.add_argument("--tasks", nargs="+", default=["sst2"])
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--seeds", nargs="+", type=int, default=[13])
    p.add_argument("--budget", nargs="+", default=None, metavar="[METHOD=]N",
                   help="API calls per run, for every method or METHOD only (default: the preset's)")
    p.add_argument("--preset", default="reference")
    p.add_argument("--set", action="append", metavar="[METHOD:]KEY=VALUE",
                   help="override a setting of every method having KEY, or of METHOD only (repeatable)")
    p.add_argument("--max-length", type=int, default=96)
    p.add_argument("--backbone", default="minilm")
    p.add_argument("--device", default="cpu")
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.add_argument("--out", type=Path, default=Path("runs/compare"))
    p.add_argument("--summary-only", action="store_true", help="report the finished runs in --out, run nothing")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from benchmarks.report import write_report
    from benchmarks.sweep import run_sweep

    config = sweep_config(args)
    if not args.summary_only:
        outcome = run_sweep(config, args.out, jobs=args.jobs, threads=args.threads)
        missing = [cid for cid, status in outcome.statuses.items() if status != "done"]
    paths = write_report(args.out)
    print(paths["markdown"].read_text())
    if not args.summary_only and missing:
        print(f"{len(missing)} run(s) unfinished or failed: {missing}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
