"""``bbt-mp2 pretrain``: gradient multi-task pre-training of modular prompts, router analysis, shipping a copy.

Examples::

    bbt-mp2 pretrain --recipe english --deep --steps 4000 --out runs/pretrain-deep      # the English recipe
    bbt-mp2 pretrain --tasks ag_news trec mr --shallow --steps 300 --out runs/small --weights mr=2
    bbt-mp2 pretrain --out runs/pretrain-deep --resume --steps 6000                    # continue a run
    torchrun --nproc_per_node 2 -m bbt_mp2.cli pretrain --recipe english --out runs/ddp   # several processes
    bbt-mp2 pretrain --analyze runs/pretrain-deep                                        # dendrogram + table
    bbt-mp2 pretrain --export runs/pretrain-deep --name english-deep                    # ship a float16 copy
    bbt-mp2 pretrain --downstream prompt-tuning --task sst2 --checkpoint runs/pretrain-deep/checkpoint \
        --seed 13 --steps 200 --out runs/pt-sst2-13                                      # gradient baseline
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from bbt_mp2.errors import ConfigError

logger = logging.getLogger(__name__)

# flag -> PretrainConfig field (None values mean "not given")
_FIELDS = {"steps": "steps", "batch_size": "batch_size", "n_tokens": "n_tokens", "max_length": "max_length",
           "n_modules": "n_modules", "d": "d", "lr_router": "lr_router", "lr_prompt": "lr_prompt",
           "weight_decay": "weight_decay", "schedule": "schedule", "warmup_steps": "warmup_steps",
           "grad_clip": "grad_clip", "tau": "tau", "prompt_dropout": "prompt_dropout",
           "eval_routing": "eval_routing", "eval_every": "eval_every",
           "save_every": "save_every", "dev_size": "dev_size", "train_size": "train_size", "backbone": "backbone",
           "data_root": "data_root", "seed": "seed", "log_every": "log_every"}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("pretrain", help="gradient multi-task pre-training of modular prompts (MP2)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", help="upstream task names (router-row order)")
    p.add_argument("--recipe", choices=["english"], help="start from a named recipe (flags override it)")
    depth = p.add_mutually_exclusive_group()
    depth.add_argument("--deep", dest="deep", action="store_true", default=None, help="prompt every layer")
    depth.add_argument("--shallow", dest="deep", action="store_false", help="prompt layer 0 only")
    p.add_argument("--out", type=Path, help="run directory (config, state, history, checkpoint/)")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="continue the run in --out if it has one (default); --no-resume refuses to")
    p.add_argument("--weights", nargs="+", default=None, metavar="TASK=W", help="per-task sampling weights")
    p.add_argument("--config", type=Path, help="a PretrainConfig JSON (flags override it)")
    for flag, typ in (("steps", int), ("batch-size", int), ("n-tokens", int), ("max-length", int),
                      ("n-modules", int), ("d", int), ("lr-router", float), ("lr-prompt", float),
                      ("weight-decay", float), ("warmup-steps", int), ("grad-clip", float), ("tau", float),
                      ("prompt-dropout", float),
                      ("eval-every", int), ("save-every", int), ("dev-size", int), ("train-size", int),
                      ("log-every", int), ("seed", int)):
        p.add_argument(f"--{flag}", type=typ, default=None)
    p.add_argument("--schedule", choices=["constant", "linear", "cosine"], default=None)
    p.add_argument("--eval-routing", choices=["sigmoid", "binary"], default=None)
    p.add_argument("--backbone", default=None, help="backbone name (default minilm)")
    p.add_argument("--data-root", default=None, help="task data folder")
    p.add_argument("--device", default=None, help="cpu, cuda (default: cuda when available)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (torch.set_num_threads)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--analyze", type=Path, metavar="DIR", help="router analysis of a run or checkpoint directory")
    p.add_argument("--analysis-out", type=Path, default=None, help="where --analyze writes (default DIR/analysis)")
    p.add_argument("--export", type=Path, metavar="RUN_OR_CKPT_DIR",
                   help="write a float16 copy of this checkpoint into the repository's checkpoints/NAME and "
                        "list its sha256 in SHA256SUMS")
    p.add_argument("--name", help="shipped name for --export (e.g. english-deep, english-shallow)")
    p.add_argument("--reference", default="auto", metavar="TASK:ROUTER",
                   help="--export also stores the float32 zero-shot predictions on TASK's test set, modules routed "
                        "by ROUTER's row (default auto: sst2:mr when the checkpoint has mr; none to skip)")
    p.add_argument("--export-root", type=Path, default=None,
                   help="folder of shipped checkpoints for --export (default: checkpoints/ or $BBT_MP2_CHECKPOINTS)")
    p.add_argument("--downstream", choices=["mp2-grad", "prompt-tuning", "p-tuning-v2"],
                   help="run a gradient downstream method on a few-shot split (needs --task, --checkpoint, --out)")
    p.add_argument("--task", help="downstream task")
    p.add_argument("--checkpoint", help="MP2 checkpoint directory for --downstream")
    return p


def _weights(items: list[str] | None) -> dict[str, float] | None:
    if items is None:
        return None
    out = {}
    for item in items:
        task, sep, value = item.partition("=")
        try:
            out[task] = float(value)
        except ValueError:
            sep = ""
        if not sep or not task:
            raise ConfigError(f"--weights expects TASK=WEIGHT items like mr=2, got {item!r}")
    return out


def build_config(args: argparse.Namespace) -> Any:
    """The PretrainConfig of the command line: saved run config / --config / --recipe, then the flags."""
    from bbt_mp2.pretrain import PretrainConfig, english_recipe

    saved = args.out / "config.json" if args.out is not None else None
    base: dict[str, Any] = {}
    if args.config is not None:
        base = json.loads(args.config.read_text())
    elif args.recipe == "english":
        base = english_recipe(seed=0).to_dict()
    elif args.resume and saved is not None and saved.is_file() and not args.tasks:
        base = json.loads(saved.read_text())
    base.setdefault("seed", 0)
    if args.tasks:
        base["tasks"] = list(args.tasks)
    if args.deep is not None:
        base["deep"] = args.deep
    weights = _weights(args.weights)
    if weights is not None:
        base["task_weights"] = weights
    for attr, field in _FIELDS.items():
        value = getattr(args, attr, None)
        if value is not None:
            base[field] = value
    if "tasks" not in base:
        raise ConfigError("bbt-mp2 pretrain needs --tasks, --recipe english, --config FILE, or --out DIR of a run "
                          "to resume")
    return PretrainConfig.from_dict(base)


def run(args: argparse.Namespace) -> int:
    from bbt_mp2.cli import set_threads

    set_threads(args.threads)
    if args.analyze is not None:
        from bbt_mp2.pretrain import analyze_routers

        out = analyze_routers(args.analyze, args.analysis_out)
        print(f"dendrogram: {out['dendrogram']}\ntable: {out['table']}\n")
        print(Path(out["table"]).read_text())
        return 0
    if args.export is not None:
        return _export(args)
    if args.out is None:
        raise ConfigError("bbt-mp2 pretrain needs --out DIR (the run directory)")
    if args.downstream:
        return _downstream(args)
    from bbt_mp2.pretrain import pretrain

    config = build_config(args)
    best = pretrain(config, args.out, resume=args.resume, device=args.device, progress=not args.no_progress)
    result = args.out / "result.json"
    if result.is_file():
        print(result.read_text())
    print(f"best checkpoint: {best}")
    return 0


def _downstream(args: argparse.Namespace) -> int:
    from bbt_mp2.pretrain import DownstreamConfig, run_gradient_downstream

    if not args.task or not args.checkpoint:
        raise ConfigError("--downstream needs --task TASK and --checkpoint DIR (an MP2 checkpoint)")
    extra = {k: v for k, v in (("steps", args.steps), ("max_length", args.max_length), ("n_tokens", args.n_tokens),
                               ("lr_router", args.lr_router), ("lr_prompt", args.lr_prompt),
                               ("eval_every", args.eval_every), ("data_root", args.data_root)) if v is not None}
    cfg = DownstreamConfig(method=args.downstream, task=args.task, seed=args.seed if args.seed is not None else 13,
                           checkpoint=args.checkpoint, **extra)
    result = run_gradient_downstream(cfg, args.out, device=args.device or "cpu")
    print(json.dumps({k: result[k] for k in ("task", "method", "seed", "start", "tuned")}, indent=2))
    return 0


def _export(args: argparse.Namespace) -> int:
    from bbt_mp2.checkpoint import TENSORS_FILE, checkpoint_dir_of, export_checkpoint, load_checkpoint

    if not args.name:
        raise ConfigError("--export needs --name NAME, the shipped name (e.g. --name english-deep)")
    path = export_checkpoint(args.export, args.name, root=args.export_root)
    config = load_checkpoint(path).config
    size = (path / TENSORS_FILE).stat().st_size / 2**20
    print(f"exported {args.export} -> {path} (float16, {size:.1f} MB, step {config.meta.get('step', '?')}); "
          f"sha256 listed in {path.parent / 'SHA256SUMS'}")
    reference = args.reference
    if reference == "auto":
        reference = "sst2:mr" if "mr" in config.task_names else "none"
    if reference != "none":
        from bbt_mp2.shipped import REFERENCE_FILE, write_reference

        task, sep, router = reference.partition(":")
        if not sep or not task or not router:
            raise ConfigError(f"--reference expects TASK:ROUTER (e.g. sst2:mr) or none, got {reference!r}")
        got = write_reference(checkpoint_dir_of(args.export), path, task=task, router=router,
                              data_root=args.data_root)
        print(f"{REFERENCE_FILE}: float32 zero-shot predictions on {task} test ({len(got['predicted'])} examples, "
              f"router {router}); the float16 copy agrees on {got['agreement']:.4f}")
    return 0
