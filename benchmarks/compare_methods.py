"""Sweep black-box tuning methods over tasks and seeds and tabulate the test metric with its controls.

Usage::

    python -m benchmarks.compare_methods --checkpoint runs/pretrain-deep/checkpoint \\
        --shallow-checkpoint runs/pretrain-shallow/checkpoint --tasks sst2 yelp_polarity rte \\
        --methods bbt bbtv2 mp2-shallow mp2-deep mp2-router --seeds 13 42 --budget 1000 mp2-router=100 \\
        --set mp2-deep:budget_router=60 --jobs 2 --out runs/compare

Every run is an ordinary run directory (``<out>/<task>/<method>-seed<S>``, see ``bbt-mp2 tune``). The sweep is
resumable: finished runs are read back from their ``result.json``, unfinished ones continue from their last
generation, so a killed sweep is restarted with the same command. ``--summary-only`` tabulates what is there.

BBT, BBTv2, MP2-deep and the router-only method take the MRC head (and MP2 the modules) from ``--checkpoint``;
``mp2-shallow`` takes ``--shallow-checkpoint`` (default: ``--checkpoint``, which must then be shallow).
Writes ``summary.md`` and ``summary.json`` to ``--out`` and prints the table.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger("benchmarks.compare_methods")

METHODS = ("bbt", "bbtv2", "mp2-shallow", "mp2-deep", "mp2-router")


@functools.lru_cache(maxsize=4)
def _backend(backbone_name: str, checkpoint: str, device: str) -> Any:
    """One LocalBackend per (backbone, checkpoint, device) and worker process."""
    from bbt_mp2.backbones import load_backbone
    from bbt_mp2.local_backend import LocalBackend

    return LocalBackend.from_checkpoint(load_backbone(backbone_name, device=device), checkpoint, device=device)


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """Run (or resume, or read back) one tuning run; returns its ``result.json`` as a dict."""
    import torch

    from bbt_mp2.methods import tune

    out = Path(job["out_dir"])
    result_file = out / "result.json"
    if result_file.is_file():
        return json.loads(result_file.read_text())
    torch.set_num_threads(job["threads"])
    backend = _backend(job["backbone"], job["checkpoint"], job["device"])
    resume = (out / "config.json").is_file()
    res = tune(job["task"], job["method"], job["seed"], job["budget"], backend=backend, checkpoint=job["checkpoint"],
               out_dir=out, preset=job["preset"], overrides=job["overrides"], max_length=job["max_length"],
               resume=resume)
    return res.to_dict()


def plan_jobs(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One job per (task, method, seed), checked before any work starts."""
    from bbt_mp2.errors import ConfigError
    from bbt_mp2.tasks import get_task

    for task in args.tasks:
        get_task(task)  # unknown names fail here, with the list of known ones
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        raise ConfigError(f"unknown method(s) {unknown}; choose from {list(METHODS)}")
    overrides: dict[str, dict[str, Any]] = {m: {} for m in args.methods}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        target, colon, key = key.rpartition(":")
        if not sep or not key or (colon and target not in METHODS):
            raise ConfigError(f"--set expects KEY=VALUE or METHOD:KEY=VALUE (METHOD in {list(METHODS)}), got {item!r}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        for m in ([target] if colon else args.methods):
            if m in overrides:
                overrides[m][key] = parsed
    budgets: dict[str, int | None] = {m: None for m in args.methods}
    for item in args.budget or []:
        target, eq, value = item.rpartition("=")
        if (eq and target not in METHODS) or not value.isdigit():
            raise ConfigError(f"--budget expects N or METHOD=N (METHOD in {list(METHODS)}), got {item!r}")
        for m in ([target] if eq else args.methods):
            if m in budgets:
                budgets[m] = int(value)
    shallow = str(args.shallow_checkpoint or args.checkpoint)
    jobs = []
    for task in args.tasks:
        for method in args.methods:
            for seed in args.seeds:
                jobs.append(dict(task=task, method=method, seed=seed, budget=budgets[method], preset=args.preset,
                                 overrides=overrides[method], max_length=args.max_length, threads=args.threads,
                                 device=args.device, backbone=args.backbone,
                                 checkpoint=shallow if method == "mp2-shallow" else str(args.checkpoint),
                                 out_dir=str(args.out / task / f"{method}-seed{seed}")))
    return jobs


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per (task, method): seeds, test metric of the untuned start and of the tuned run (mean, std), dev, AUC."""
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        rows.setdefault((r["task"], r["method"]), []).append(r)
    table = []
    for (task, method), rs in sorted(rows.items()):
        def mean(values: list[float | None]) -> float | None:
            vals = [v for v in values if v is not None]
            return float(np.mean(vals)) if vals else None

        tuned = [r["tuned"]["test"]["metric"] for r in rs]
        table.append({
            "task": task, "method": method, "seeds": sorted(r["seed"] for r in rs), "metric": rs[0]["metric"],
            "start_test": mean([r["start"]["test"]["metric"] for r in rs]),
            "tuned_test": float(np.mean(tuned)), "tuned_test_std": float(np.std(tuned)),
            "start_dev": mean([r["start"]["dev_metric"] for r in rs]),
            "tuned_dev": mean([r["tuned"]["dev_metric"] for r in rs]),
            "tuned_auc": mean([r["tuned"]["test"].get("auc") for r in rs]),
            "tuned_majority": mean([r["tuned"]["test"].get("majority_fraction") for r in rs]),
            "calls": mean([r["calls"] for r in rs]), "wall_s": mean([r["wall_time"] for r in rs])})
    return {"rows": table}


def to_markdown(summary: dict[str, Any]) -> str:
    lines = ["| task | method | seeds | test: untuned -> tuned (std) | dev: untuned -> tuned | tuned AUC | "
             "tuned majority class | calls | wall s |", "|---|---|---|---|---|---|---|---|---|"]

    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    for r in summary["rows"]:
        lines.append(f"| {r['task']} | {r['method']} | {len(r['seeds'])} | {f(r['start_test'])} -> "
                     f"**{f(r['tuned_test'])}** ({f(r['tuned_test_std'])}) | {f(r['start_dev'])} -> "
                     f"{f(r['tuned_dev'])} | {f(r['tuned_auc'])} | {f(r['tuned_majority'])} | "
                     f"{r['calls']:.0f} | {r['wall_s']:.0f} |")
    return "\n".join(lines) + "\n"


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
                   help="override a setting of every method, or of METHOD only (repeatable)")
    p.add_argument("--max-length", type=int, default=96)
    p.add_argument("--backbone", default="minilm")
    p.add_argument("--device", default="cpu")
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.add_argument("--out", type=Path, default=Path("runs/compare"))
    p.add_argument("--summary-only", action="store_true", help="tabulate the finished runs in --out, run nothing")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    jobs = plan_jobs(args)
    results: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    if args.summary_only:
        for job in jobs:
            f = Path(job["out_dir"]) / "result.json"
            if f.is_file():
                results.append(json.loads(f.read_text()))
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=ctx) as pool:
            futures = {pool.submit(run_one, job): job for job in jobs}
            for fut in as_completed(futures):
                job = futures[fut]
                try:
                    results.append(fut.result())
                    logger.info("done %s %s seed %d (%.0f s into the sweep)", job["task"], job["method"],
                                job["seed"], time.perf_counter() - t0)
                except Exception:  # one failed run must not lose the others; it is reported and the sweep goes on
                    logger.exception("run %s failed", job["out_dir"])
    summary = summarize(results)
    summary["missing"] = [j["out_dir"] for j in jobs if not (Path(j["out_dir"]) / "result.json").is_file()]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    md = to_markdown(summary)
    (args.out / "summary.md").write_text(md)
    print(md)
    if summary["missing"]:
        print(f"{len(summary['missing'])} run(s) unfinished or failed: {summary['missing']}")
    return 0 if not summary["missing"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
