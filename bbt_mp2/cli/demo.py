"""``bbt-mp2 demo``: MP2 deep beside BBT on a task the shipped checkpoint never saw, at equal small budgets.

Both methods start from the shipped ``english-deep`` checkpoint (MiniLM, pre-trained on ten English tasks; SST-2 is
not one of them; no pre-training on first use): MP2 deep takes its modular prompts (stage I: router search, stage
II: CMA-ES over the combined prompt of every layer), BBT its MRC head only (CMA-ES through a random projection
from the zero prompt). The table shows, per method, the zero-shot start (MP2: the modules with a uniform router;
BBT: the zero prompt), the tuned dev and test metric, the test AUC, the API calls and the wall time; then one plain
line per method saying whether tuning improved test.

Defaults (sized for about 5 minutes on a 2-core CPU): SST-2, seed 13, 100 API calls per method (MP2: 20 router
points, then 4 CMA-ES generations of 20; BBT: 5 generations of 20), max length 64, a seeded 200-example subsample
of the SST-2 test set (``--test-size 0`` scores all 872). The numbers in the README were measured with them.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["add_parser", "run", "change_line", "DEMO_TASK", "DEMO_BUDGET", "DEMO_MAX_LENGTH", "DEMO_METHODS"]

DEMO_TASK = "sst2"
DEMO_BUDGET = 100  # API calls per method
DEMO_MAX_LENGTH = 64  # SST-2 sentences fit with the query, 20 placeholders and the options
DEMO_TEST_SIZE = 200
DEMO_METHODS = ("mp2-deep", "bbt")
# per-method settings at a small budget: one generation of 20 router points, then CMA-ES generations of 20
DEMO_OVERRIDES = {
    "mp2-deep": lambda budget: {"budget_router": 20, "n_init": 20, "eval_every_router": 20, "eval_every": 20},
    "bbt": lambda budget: {"eval_every": 20},
}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``demo`` on the top-level sub-parsers."""
    p = subparsers.add_parser(
        "demo", help="MP2 deep beside BBT on SST-2 from the shipped checkpoint (about 5 minutes on CPU)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--task", default=DEMO_TASK, help=f"English task (default {DEMO_TASK})")
    p.add_argument("--budget", type=int, default=DEMO_BUDGET, help=f"API calls per method (default {DEMO_BUDGET})")
    p.add_argument("--seed", type=int, default=13, help="run seed (few-shot split, projection, optimizers)")
    p.add_argument("--checkpoint", default=None,
                   help="MP2 checkpoint, shipped name or directory (default: english-deep, shipped)")
    p.add_argument("--methods", nargs="+", default=list(DEMO_METHODS), help="methods side by side (default "
                                                                              f"{' '.join(DEMO_METHODS)})")
    p.add_argument("--out", type=Path, default=None, help="folder of the run directories (default: a temp folder)")
    p.add_argument("--max-length", type=int, default=DEMO_MAX_LENGTH,
                   help=f"maximum encoded length (tokens; default {DEMO_MAX_LENGTH})")
    p.add_argument("--test-size", type=int, default=DEMO_TEST_SIZE,
                   help=f"score a seeded subsample of this many test examples (default {DEMO_TEST_SIZE}; 0 = all)")
    p.add_argument("--data-root", default=None, help="task data folder")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (torch.set_num_threads); 1 is fastest on a busy 2-core machine")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


METRIC_NAMES = {"acc": "accuracy", "f1": "F1", "span_f1": "span F1"}


def change_line(split: str, metric: str, before: float, after: float) -> str:
    """One plain line: ``test accuracy 0.6100 -> 0.6800 (+0.0700): improved`` (or ``no change`` / ``worse``)."""
    delta = after - before
    verdict = "improved" if delta > 0 else "worse" if delta < 0 else "no change"
    return f"{split} {METRIC_NAMES.get(metric, metric)} {before:.4f} -> {after:.4f} ({delta:+.4f}): {verdict}"


def _auc(part: dict[str, Any]) -> str:
    auc = part["test"].get("auc")
    return "-" if auc is None else f"{auc:.3f}"


def side_by_side(results: list[Any], walls: list[float]) -> str:
    """The demo table: per method, zero-shot start and tuned dev/test, test AUC, calls, wall time."""
    rows = [("method", "start dev", "start test", "tuned dev", "tuned test", "test AUC", "calls", "wall")]
    for res, wall in zip(results, walls):
        rows.append((res.method, f"{res.dev_before:.4f}", f"{res.test_before:.4f}", f"{res.dev_after:.4f}",
                     f"{res.test_after:.4f}", f"{_auc(res.start)} -> {_auc(res.tuned)}", f"{res.calls}",
                     f"{wall:.0f}s"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _data(args: argparse.Namespace) -> tuple[Any, Any]:
    from bbt_mp2 import tasks
    from bbt_mp2.errors import ConfigError

    if args.test_size < 0:
        raise ConfigError(f"--test-size must be >= 0 (0 = the whole test set), got {args.test_size}")
    spec = tasks.get_task(args.task)
    data = tasks.fewshot(spec.name, args.seed, data_root=args.data_root)
    if 0 < args.test_size < len(data.test):  # seeded subsample (files may be sorted by label)
        keep = np.sort(np.random.default_rng(args.seed).choice(len(data.test), args.test_size, replace=False))
        data = type(data)(train=data.train, dev=data.dev, test=[data.test[i] for i in keep])
    return spec, data


def run(args: argparse.Namespace) -> int:
    """Load MiniLM and the shipped checkpoint, tune each method at the same budget, print the table."""
    from bbt_mp2.cli import set_threads

    set_threads(args.threads)
    from bbt_mp2.backbones import load_backbone
    from bbt_mp2.checkpoint import default_checkpoint, load_checkpoint
    from bbt_mp2.cli.tune import ProgressBar
    from bbt_mp2.local_backend import LocalBackend
    from bbt_mp2.methods import get_method, tune

    for method in args.methods:
        get_method(method)
    spec, data = _data(args)
    checkpoint = args.checkpoint or default_checkpoint("minilm", spec.lang)
    seen = load_checkpoint(checkpoint).config.task_names
    backend = LocalBackend.from_checkpoint(load_backbone("minilm"), checkpoint)
    out = args.out if args.out is not None else Path(tempfile.mkdtemp(prefix="bbt-mp2-demo-"))
    unseen = "unseen by" if spec.name not in seen else "SEEN in pre-training by"
    print(f"bbt-mp2 demo: {' vs '.join(args.methods)} on {spec.name} ({unseen} checkpoint {checkpoint}), seed "
          f"{args.seed}: {len(data.train)} train / {len(data.dev)} dev / {len(data.test)} test examples, MiniLM, "
          f"{args.budget} API calls per method, max length {args.max_length}")
    results, walls = [], []
    for method in args.methods:
        overrides = DEMO_OVERRIDES.get(method, lambda b: {})(args.budget)
        bar = ProgressBar(disable=args.no_progress)
        t0 = time.perf_counter()
        try:
            results.append(tune(spec, method, args.seed, args.budget, backend=backend, checkpoint=checkpoint,
                                out_dir=out / method, overrides=overrides, data=data, max_length=args.max_length,
                                callbacks=[bar]))
        finally:
            bar.close()
        walls.append(time.perf_counter() - t0)
    print(side_by_side(results, walls))
    for res in results:
        print(f"{res.method}: " + change_line("test", res.metric, res.test_before, res.test_after))
    print(f"run directories: {out}")
    return 0
