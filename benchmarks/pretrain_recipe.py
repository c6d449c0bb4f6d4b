"""Evaluate an MP2 pre-training checkpoint: upstream dev metrics before/after, zero-shot transfer with controls.

Usage::

    .venv/bin/python -m benchmarks.pretrain_recipe --run runs/pretrain-deep [--limit 500] [--out DIR]
    .venv/bin/python -m benchmarks.pretrain_recipe --run english-deep --zero-head english-zero-head --out DIR

``--run`` takes a pre-training run directory, a checkpoint directory or a shipped checkpoint name (the shipped
float16 copies are scored as loaded, in float32 arithmetic). ``--zero-head`` adds the baseline head of BBT/BBTv2
(a checkpoint pre-trained with prompt dropout 1): its upstream dev metric and zero-shot transfer with the zero
prompt, the start of BBT/BBTv2 with that head.

Reports (JSON + markdown, printed and written to ``--out``, default ``<run>/recipe_eval``):

- upstream: per task, dev metric of the checkpoint (routing of its config), of the untrained model (the run's
  step-0 initialisation: init prompts + N(0, 0.02) head) and of a zero prompt with the trained head;
- zero-shot on unseen tasks (sst2, yelp_polarity, rte by default, their test splits): the checkpoint's prompts
  routed by a seen task's router (``--routers``, default mr, sst5 and ``uniform`` = all modules equal), with the
  controls of the design: zero prompt (trained head), untrained head (trained prompts, fresh head), the
  predicted-class distribution and the AUC (binary tasks).

Agreement with the pre-training curve: the upstream numbers are scored by the same scorer (the evaluator, through
``score_dataset``), with each task's own metric (MRPC: F1) and on the same dev examples the trainer evaluated
(``bbt_mp2.pretrain.data.load_task_part``: the subsample is a function of the run seed, the task's router row and
the split), so ``after`` equals the curve's dev value of the checkpoint's step (test:
``tests/bbt_mp2/pretrain/test_pretrain_recipe_report.py``). Reports made before this fix drew the dev subsample
from another random stream (keyed by the task name's length instead of its router row): different 300 examples
per task, hence step 9,250 of the deep run showed a mean of 0.752 in the curve and 0.744 in the report; both also
reported MRPC as accuracy.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bbt_mp2.checkpoint import TENSORS_FILE, file_sha256, load_checkpoint, resolve_checkpoint
from bbt_mp2.pretrain import PretrainConfig, PretrainModel, score_dataset
from bbt_mp2.pretrain.data import _STREAM_SUBSAMPLE, child_rng, encode_examples, load_task_part
from bbt_mp2.pretrain.model import freeze_backbone

logger = logging.getLogger("benchmarks.pretrain_recipe")

UNSEEN = ("sst2", "yelp_polarity", "rte")


def _controls(scores: Any) -> dict[str, Any]:
    from bbt_mp2.pretrain.evaluation import prediction_controls

    return prediction_controls(scores)


def _upstream_dev(cfg: PretrainConfig, index: int, backbone: Any, dev_size: int | None) -> Any:
    """The dev part of upstream task ``index`` exactly as pre-training evaluated it."""
    from bbt_mp2.tasks import get_task

    return load_task_part(get_task(cfg.tasks[index]), index, "dev", backbone, n_tokens=cfg.n_tokens,
                          max_length=cfg.max_length, seed=cfg.seed, size=cfg.dev_size if dev_size is None else dev_size,
                          data_root=cfg.data_root)


def _encode(task: str, split: str, backbone: Any, n_tokens: int, max_length: int, limit: int, seed: int,
            data_root: str | None) -> Any:
    from bbt_mp2.tasks import get_task, load_split

    spec = get_task(task)
    examples = [ex for ex in load_split(task, split, data_root=data_root) if ex.label is not None or ex.answers]
    if limit and len(examples) > limit:
        keep = np.sort(child_rng(seed, _STREAM_SUBSAMPLE, 999, len(task)).choice(len(examples), limit, replace=False))
        examples = [examples[i] for i in keep]
    return encode_examples(spec, examples, backbone, n_tokens=n_tokens, max_length=max_length)


def _checkpoint_dir(run: str | Path) -> Path:
    """A run directory (its ``checkpoint/``), a checkpoint directory or a shipped name -> the checkpoint folder."""
    path = Path(run)
    if (path / "checkpoint").is_dir():
        return path / "checkpoint"
    return resolve_checkpoint(run)


def evaluate_checkpoint(run_dir: str | Path, *, unseen: tuple[str, ...], routers: tuple[str, ...], limit: int,
                        dev_size: int | None, batch_size: int = 64, device: str = "cpu",
                        backbone: Any | None = None, zero_head: str | Path | None = None) -> dict[str, Any]:
    """All numbers of the report (see module docstring); the forward passes run on ``device``.

    ``run_dir``: run directory, checkpoint directory or shipped name. ``backbone``: the run's backbone already
    loaded (default: ``load_backbone`` of the run's config). ``zero_head``: a zero-prompt head checkpoint (prompt
    dropout 1) scored beside, with the zero prompt.
    """
    from bbt_mp2.backbones import load_backbone
    from bbt_mp2.heads import MRCHead

    ckpt_dir = _checkpoint_dir(run_dir)
    ckpt = load_checkpoint(ckpt_dir)
    cfg = PretrainConfig.from_dict(ckpt.config.meta["pretrain_config"])
    if backbone is None:
        backbone = load_backbone(cfg.backbone, device=device)
    backbone = freeze_backbone(backbone)
    trained = PretrainModel.from_checkpoint(ckpt, backbone).to(device)
    untrained = PretrainModel.build(n_tasks=len(cfg.tasks), layers=ckpt.config.layers, n_modules=cfg.n_modules,
                                    d=cfg.d, n_tokens=cfg.n_tokens, hidden=backbone.hidden, seed=cfg.seed).to(device)
    layers, n = ckpt.config.layers, cfg.n_tokens
    zero = torch.zeros(len(layers), n, backbone.hidden, device=device)
    routing = ckpt.config.routing
    missing = [r for r in routers if r != "uniform" and r not in cfg.tasks]
    if missing:
        logger.warning("routers %s are not in the checkpoint's tasks %s; skipped", missing, cfg.tasks)
    zero_head_model = None
    out: dict[str, Any] = {"checkpoint": Path(run_dir).name, "sha256": file_sha256(ckpt_dir / TENSORS_FILE),
                           "step": ckpt.config.meta.get("step"), "routing": routing, "upstream": {}, "zero_shot": {}}
    if zero_head is not None:
        zdir = _checkpoint_dir(zero_head)
        zckpt = load_checkpoint(zdir)
        zckpt.check_compatible(backbone_hash=backbone.embedding_hash(), hidden=backbone.hidden,
                               n_layers=backbone.n_layers)
        if not zckpt.config.head_only:
            logger.warning("--zero-head %s was not pre-trained with prompt dropout 1", zero_head)
        zero_head_model = MRCHead.from_checkpoint(zckpt).to(device)
        out["zero_head"] = {"checkpoint": Path(zero_head).name, "sha256": file_sha256(zdir / TENSORS_FILE),
                            "step": zckpt.config.meta.get("step")}

    def score(head: Any, ds: Any, prompts: torch.Tensor) -> Any:
        return score_dataset(backbone, head, ds, prompts.detach(), layers, batch_size=batch_size, device=device)

    from bbt_mp2.tasks import get_task

    with torch.no_grad():
        for t, task in enumerate(cfg.tasks):
            ds = _upstream_dev(cfg, t, backbone, dev_size)
            out["upstream"][task] = {
                "after": score(trained.head, ds, trained.layer_prompts(t, routing)).metric,
                "untrained": score(untrained.head, ds, untrained.layer_prompts(t, routing)).metric,
                "zero_prompt_trained_head": score(trained.head, ds, zero).metric,
                "n": len(ds), "metric": get_task(task).metric.value}
            if zero_head_model is not None:
                out["upstream"][task]["zero_prompt_zero_head"] = score(zero_head_model, ds, zero).metric
        for task in unseen:
            ds = _encode(task, "test", backbone, n, cfg.max_length, limit, cfg.seed, cfg.data_root)
            rows: dict[str, Any] = {"zero_prompt": _controls(score(trained.head, ds, zero))}
            if zero_head_model is not None:
                rows["zero_prompt, zero-prompt head"] = _controls(score(zero_head_model, ds, zero))
            for name in [r for r in routers if r == "uniform" or r in cfg.tasks]:
                prompts = _router_prompts(trained, cfg, name, routing)
                rows[f"router={name}"] = _controls(score(trained.head, ds, prompts))
                rows[f"router={name}, untrained head"] = _controls(score(untrained.head, ds, prompts))
            out["zero_shot"][task] = rows
    return out


def _router_prompts(model: PretrainModel, cfg: PretrainConfig, name: str, routing: str) -> torch.Tensor:
    if name == "uniform":
        w = torch.full(model.prompt.z.shape[:2], 1.0 / model.prompt.z.shape[1], device=model.prompt.z.device)
        zc = torch.einsum("lk,lkd->ld", w, model.prompt.z)
        return torch.bmm(zc.unsqueeze(1), model.prompt.A).reshape(len(model.layers), cfg.n_tokens, -1)
    return model.layer_prompts(cfg.tasks.index(name), routing)


def to_markdown(report: dict[str, Any]) -> str:
    zh = "zero_head" in report
    lines = [f"checkpoint `{report['checkpoint']}` (step {report['step']}, routing {report['routing']}, "
             f"sha256 {report['sha256'][:12]})", ""]
    if zh:
        z = report["zero_head"]
        lines += [f"zero-prompt head `{z['checkpoint']}` (step {z['step']}, sha256 {z['sha256'][:12]})", ""]
    keys = ["untrained", "zero_prompt_trained_head"] + (["zero_prompt_zero_head"] if zh else []) + ["after"]
    titles = {"untrained": "untrained", "zero_prompt_trained_head": "zero prompt + trained head",
              "zero_prompt_zero_head": "zero prompt + zero-prompt head", "after": "pre-trained"}
    lines += ["| upstream task | metric | " + " | ".join(titles[k] for k in keys) + " | n dev |",
              "|---|---|" + "---|" * len(keys) + "---|"]
    for task, r in report["upstream"].items():
        lines.append(f"| {task} | {r.get('metric', 'acc')} | " + " | ".join(f"{r[k]:.3f}" for k in keys)
                     + f" | {r['n']} |")
    ups = list(report["upstream"].values())
    if ups:
        lines.append("| **mean** | | " + " | ".join(f"{np.mean([r[k] for r in ups]):.3f}" for k in keys) + " | |")
    lines += ["", "| unseen task | prompt / head | acc | AUC | predicted distribution | n |",
              "|---|---|---|---|---|---|"]
    for task, rows in report["zero_shot"].items():
        for name, c in rows.items():
            auc = "-" if c["auc"] is None else f"{c['auc']:.3f}"
            lines.append(f"| {task} | {name} | {c['metric']:.3f} | {auc} | {c['predicted_distribution']} | {c['n']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True,
                   help="pre-training run directory, checkpoint directory or shipped checkpoint name")
    p.add_argument("--zero-head", default=None, help="a zero-prompt head checkpoint to score beside (name or dir)")
    p.add_argument("--unseen", nargs="+", default=list(UNSEEN))
    p.add_argument("--routers", nargs="+", default=["mr", "sst5", "uniform"])
    p.add_argument("--limit", type=int, default=0, help="at most this many test examples per unseen task (0 = all)")
    p.add_argument("--dev-size", type=int, default=None, help="dev examples per upstream task (default: the run's)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cpu", help="torch device of the forward passes (cpu, cuda)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    report = evaluate_checkpoint(args.run, unseen=tuple(args.unseen), routers=tuple(args.routers), limit=args.limit,
                                 dev_size=args.dev_size, device=args.device, zero_head=args.zero_head)
    report["eval_wall_s"] = round(time.perf_counter() - t0, 1)
    if args.out is None and not (Path(args.run) / "checkpoint").is_dir():
        p.error("--out is needed when --run is not a pre-training run directory")
    out = args.out or (Path(args.run) / "recipe_eval")
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    md = to_markdown(report)
    (out / "report.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
