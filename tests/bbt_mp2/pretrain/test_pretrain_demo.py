"""Tests for bbt_mp2/pretrain/demo.py: the demo checkpoint is made once, cached, and safe under concurrency.

Pre-training itself is replaced by a fake that writes a small checkpoint (the real demo run takes minutes; the
trainer has its own tests)."""

from __future__ import annotations

import threading
import time

import torch

from bbt_mp2.checkpoint import CheckpointConfig, MP2Checkpoint, load_checkpoint, save_checkpoint
from bbt_mp2.pretrain import demo
from bbt_mp2.pretrain import trainer as trainer_module


def _fake_pretrain(calls):
    def fake(config, out_dir, resume=True, **kw):
        calls.append(config)
        time.sleep(0.3)
        cfg = CheckpointConfig(backbone="minilm", embedding_hash="h", n_tokens=config.n_tokens, n_modules=2, d=3,
                               hidden=4, layers=(0,), task_names=config.tasks)
        ck = MP2Checkpoint(cfg, torch.zeros(len(config.tasks), 1, 2), torch.zeros(1, 2, 3),
                           torch.zeros(1, 3, 4 * config.n_tokens), torch.zeros(2, 4), torch.zeros(2))
        path = save_checkpoint(ck, out_dir / "checkpoint")
        (out_dir / "history.jsonl").write_text("{}\n")
        return path

    return fake


def test_demo_checkpoint_is_made_once_and_cached(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(trainer_module, "pretrain", _fake_pretrain(calls))
    paths = []
    threads = [threading.Thread(target=lambda: paths.append(demo.ensure_demo_checkpoint(tmp_path)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(set(paths)) == 1
    path = paths[0]
    assert path == tmp_path / demo.DEMO_NAME
    assert load_checkpoint(path).config.task_names == demo.demo_config().tasks
    t0 = time.perf_counter()
    assert demo.ensure_demo_checkpoint(tmp_path) == path
    assert time.perf_counter() - t0 < 0.1 and len(calls) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [demo.DEMO_NAME, f"{demo.DEMO_NAME}.lock"]


def test_cache_location_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("BBT_MP2_CACHE", str(tmp_path / "c"))
    assert demo.cache_root() == tmp_path / "c"
    assert demo.cache_root(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv("BBT_MP2_CACHE")
    assert demo.cache_root().name == "bbt-mp2"


def test_demo_recipe_is_small():
    cfg = demo.demo_config()
    assert cfg.steps * cfg.batch_size <= 8000 and cfg.n_tokens <= 10 and cfg.max_length <= 64
    assert len(cfg.tasks) >= 2 and cfg.train_size <= 2000 and cfg.dev_size <= 200


def test_demo_recipe_keeps_the_head_usable_unprompted():
    """BBT starts from the zero prompt: the head must also be trained unprompted (prompt dropout), at a rate that
    moves it within the few hundred steps of the recipe, and the demo's task must be one it never saw."""
    from bbt_mp2.cli.demo import DEMO_MAX_LENGTH, DEMO_TASK

    cfg = demo.demo_config()
    assert 0.3 <= cfg.prompt_dropout <= 0.5
    assert cfg.prompt_lr >= 1e-2
    assert cfg.steps * cfg.prompt_dropout >= 150  # expected unprompted steps
    assert DEMO_TASK not in cfg.tasks
    assert DEMO_MAX_LENGTH == cfg.max_length
    assert demo.DEMO_NAME not in ("demo-minilm-v1", "demo-minilm-v2")  # stale caches of older recipes are not reused
