"""``bbt-mp2 tune``: black-box tuning of one task with one method and seed, writing a run directory.

Names (method, preset, task, ``--set`` keys), the budget and the checkpoint are checked before the backbone is
loaded; checkpoint compatibility with the loaded backbone is checked before any API call.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from bbt_mp2.errors import ConfigError

__all__ = ["add_parser", "run", "ProgressBar"]

logger = logging.getLogger(__name__)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``tune`` on the top-level sub-parsers."""
    p = subparsers.add_parser(
        "tune", help="black-box tuning of a task (BBT, BBTv2, MP2)",
        description="Tune a frozen model on a few-shot task with a gradient-free method; writes config.json, "
                    "history.jsonl, state, best parameters, result.json and curve.png to the run directory.",
    )
    p.add_argument("--task", required=True,
                   help="task name (see `bbt-mp2 data list`) or a task spec file (YAML/JSON, see `bbt-mp2 data check`)")
    p.add_argument("--method", required=True, help="bbt, bbtv2, mp2-shallow, mp2-deep or mp2-router")
    p.add_argument("--seed", type=int, default=42, help="run seed: few-shot split and every derived seed")
    p.add_argument("--budget", type=int, default=None, help="API calls on the training set (default: the preset's)")
    p.add_argument("--checkpoint", default=None,
                   help="MP2 checkpoint: shipped name (english-deep, english-shallow) or directory (MP2: modules and "
                        "A; every method: the MRC head); default english-deep for English tasks on MiniLM")
    p.add_argument("--preset", default="reference", help="hyper-parameter preset: reference (code) or paper")
    p.add_argument("--out", type=Path, default=None, help="run directory (default runs/<task>-<method>-seed<S>)")
    p.add_argument("--backbone", default="minilm", help="backbone name or path (default minilm)")
    p.add_argument("--n-tokens", type=int, default=None, help="prompt length for BBT/BBTv2 (default: checkpoint's)")
    p.add_argument("--max-length", type=int, default=None,
                   help="maximum encoded length (tokens); default 512 (460 multiple choice) capped by the backbone")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last generation")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="override a method setting, e.g. --set popsize=10 --set sigma=0.5 (repeatable)")
    p.add_argument("--data-root", default=None, help="task data folder (default: $BBT_MP2_DATA or ../shared/data)")
    p.add_argument("--device", default="cpu", help="torch device of the local backend")
    p.add_argument("--server", default=None, metavar="URL",
                   help="tune against a `bbt-mp2 serve` server instead of a local model (checkpoint = a served id)")
    p.add_argument("--api-key", default=None, help="API key for --server (default: $BBT_MP2_API_KEY)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def parse_settings(method: str, settings: list[str]) -> dict[str, Any]:
    """``["key=value", ...]`` -> typed overrides of ``method``'s config (unknown keys named)."""
    from bbt_mp2.methods import get_method, parse_value

    cls = get_method(method).config_cls
    out: dict[str, Any] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r} is not KEY=VALUE; e.g. --set popsize=10")
        out[key.strip()] = parse_value(cls, key.strip(), value.strip())
    return out


class ProgressBar:
    """A tqdm bar over API calls: calls, best loss, dev metric, calls/s (tqdm's rate)."""

    def __init__(self, disable: bool = False) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=None, unit="call", disable=disable, dynamic_ncols=True)

    def __call__(self, event: dict[str, Any]) -> None:
        if self.bar.total != event["budget"]:
            self.bar.total = event["budget"]
        self.bar.update(event["calls"] - self.bar.n)
        dev = event.get("best_dev")
        self.bar.set_postfix(stage=event["stage"], best_loss=f"{event['best_loss']:.4f}",
                             dev=None if dev is None else f"{dev:.4f}", refresh=False)

    def close(self) -> None:
        self.bar.close()


def _validate(args: argparse.Namespace) -> dict[str, Any]:
    """Every check that needs no model: names, settings, budget, checkpoint directory."""
    from bbt_mp2.checkpoint import default_checkpoint
    from bbt_mp2.methods import RunConfig, build_config, get_method, get_preset
    from bbt_mp2.methods.compat import read_checkpoint_config
    from bbt_mp2.methods.runner import plan_run
    from bbt_mp2.tasks.user import resolve_task

    get_method(args.method)
    get_preset(args.preset, args.method)
    spec = resolve_task(args.task)
    overrides = parse_settings(args.method, args.settings)
    if args.budget is not None:
        overrides["budget"] = args.budget
    mlm = overrides.get("head") == "mlm"  # classic BBT: the backbone's MLM head, no MP2 checkpoint
    if args.server is None and not (mlm and args.checkpoint is None):  # a server checks its ids (GET /v1/model)
        if args.checkpoint is None:  # MP2 takes its modules, projections and head from it, BBT/BBTv2 its MRC head
            args.checkpoint = default_checkpoint(args.backbone, spec.lang)
        read_checkpoint_config(args.checkpoint)
    # values and stage budgets checked now, before the backbone loads (n_tokens only matters for registration)
    plan_run(RunConfig(task=spec.name, method=args.method, seed=args.seed, preset=args.preset,
                       method_config=build_config(args.method, args.preset, overrides)))
    return {"spec": spec, "overrides": overrides}


def run(args: argparse.Namespace) -> int:
    """Validate, load the backbone and backend, tune, print the summary line."""
    checked = _validate(args)
    from bbt_mp2.backbones import load_backbone
    from bbt_mp2.local_backend import LocalBackend
    from bbt_mp2.methods import tune

    if args.server is not None:
        from bbt_mp2.methods.api import default_out_dir
        from servers.client import RemoteBackend

        if args.out is None:
            args.out = default_out_dir(checked["spec"].name, args.method, args.seed)
        backend = RemoteBackend(args.server, args.api_key, journal=Path(args.out) / "remote_request.json")
        if args.checkpoint is None and checked["overrides"].get("head") != "mlm":
            args.checkpoint = backend.info().default_checkpoint
    else:
        backbone = load_backbone(args.backbone, device=args.device)
        if args.checkpoint is None:  # head=mlm (checked above): scored by the backbone's own MLM head
            backend = LocalBackend(backbone, None)
        else:
            backend = LocalBackend.from_checkpoint(backbone, args.checkpoint)
    bar = ProgressBar(disable=args.no_progress)
    try:
        result = tune(
            checked["spec"], args.method, args.seed, backend=backend, checkpoint=args.checkpoint, out_dir=args.out,
            preset=args.preset, overrides=checked["overrides"], data_root=args.data_root, n_tokens=args.n_tokens,
            max_length=args.max_length, resume=args.resume, callbacks=[bar],
        )
    finally:
        bar.close()
    print(result.summary())
    return 0
