"""Tests for bbt_mp2/checkpoint.py: round trip, shape validation, compatibility checks, shipped copies."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from safetensors.torch import load_file

import bbt_mp2.checkpoint as checkpoint_module
from bbt_mp2.checkpoint import (
    CheckpointConfig,
    MP2Checkpoint,
    export_checkpoint,
    load_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
    shipped_checkpoints,
)
from bbt_mp2.errors import CheckpointError


def make_ckpt(layers=(0, 1), n_tasks=3, K=4, d=6, n=5, h=8, seed=0) -> MP2Checkpoint:
    g = torch.Generator().manual_seed(seed)
    cfg = CheckpointConfig(
        backbone="tiny", embedding_hash="abc123", n_tokens=n, n_modules=K, d=d, hidden=h,
        layers=tuple(layers), task_names=tuple(f"t{i}" for i in range(n_tasks)),
    )
    L = len(layers)
    return MP2Checkpoint(
        cfg,
        router=torch.randn(n_tasks, L, K, generator=g),
        z=torch.randn(L, K, d, generator=g),
        A=torch.randn(L, d, n * h, generator=g),
        head_weight=torch.randn(2, h, generator=g),
        head_bias=torch.zeros(2),
    )


def test_round_trip_is_exact(tmp_path):
    ckpt = make_ckpt()
    path = save_checkpoint(ckpt, tmp_path / "ck")
    back = load_checkpoint(path)
    assert back.config == ckpt.config
    for name in ("router", "z", "A", "head_weight", "head_bias"):
        assert torch.equal(getattr(back, name), getattr(ckpt, name)), name
    # overwriting an existing checkpoint works and keeps one directory
    ckpt2 = make_ckpt(seed=1)
    save_checkpoint(ckpt2, path)
    assert torch.equal(load_checkpoint(path).z, ckpt2.z)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def test_wrong_shapes_are_refused():
    ckpt = make_ckpt()
    with pytest.raises(CheckpointError, match=r"tensor 'z' has shape"):
        MP2Checkpoint(ckpt.config, ckpt.router, ckpt.z[:, :2], ckpt.A, ckpt.head_weight, ckpt.head_bias)


def test_compatibility_checks():
    ckpt = make_ckpt()
    ckpt.check_compatible(backbone_hash="abc123", hidden=8, n_layers=2, n_tokens=5)
    with pytest.raises(CheckpointError, match="embedding hash"):
        ckpt.check_compatible(backbone_hash="zzz", hidden=8, n_layers=2)
    with pytest.raises(CheckpointError, match="hidden size"):
        ckpt.check_compatible(backbone_hash="abc123", hidden=16, n_layers=2)
    with pytest.raises(CheckpointError, match="has 1 layers"):
        ckpt.check_compatible(backbone_hash="abc123", hidden=8, n_layers=1)
    with pytest.raises(CheckpointError, match="n_tokens=5"):
        ckpt.check_compatible(backbone_hash="abc123", hidden=8, n_layers=2, n_tokens=7)


def test_lookup_errors_name_the_valid_values():
    ckpt = make_ckpt()
    assert ckpt.task_index("t2") == 2 and ckpt.layer_index(1) == 1
    with pytest.raises(CheckpointError, match="tasks: \\('t0', 't1', 't2'\\)"):
        ckpt.task_index("nope")
    with pytest.raises(CheckpointError, match="layer 5 is not prompted"):
        ckpt.layer_index(5)


def test_load_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not an MP2 checkpoint directory"):
        load_checkpoint(tmp_path)
    path = save_checkpoint(make_ckpt(), tmp_path / "ck")
    cfg = json.loads((path / "config.json").read_text())
    cfg["surprise"] = 1
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="unknown keys \\['surprise'\\]"):
        load_checkpoint(path)


# ---------------------------------------------------------------- shipped checkpoints: export, sha256, names
@pytest.fixture
def shipped_root(tmp_path, monkeypatch):
    root = tmp_path / "shipped"
    monkeypatch.setattr(checkpoint_module, "SHIPPED_DIR", root)
    return root


def test_export_writes_a_float16_copy_listed_in_sha256sums(tmp_path, shipped_root):
    ckpt = make_ckpt()
    run = tmp_path / "run"
    save_checkpoint(ckpt, run / "checkpoint")  # a pre-training run directory holds checkpoint/
    path = export_checkpoint(run, "tiny-deep")
    assert path == shipped_root / "tiny-deep"
    raw = load_file(str(path / "tensors.safetensors"))
    assert {t.dtype for t in raw.values()} == {torch.float16}
    sums = (shipped_root / "SHA256SUMS").read_text().splitlines()
    assert sums == [f"{hashlib.sha256((path / 'tensors.safetensors').read_bytes()).hexdigest()}  "
                    "tiny-deep/tensors.safetensors"]
    assert shipped_checkpoints() == ["tiny-deep"]
    back = load_checkpoint("tiny-deep")  # by name
    assert back.z.dtype == torch.float32
    assert torch.allclose(back.A, ckpt.A, rtol=1e-3, atol=1e-4) and not torch.equal(back.A, ckpt.A)
    assert back.config.meta["shipped"]["dtype"] == "float16"
    assert resolve_checkpoint("tiny-deep") == path
    # a second export adds its line and keeps the first
    export_checkpoint(run / "checkpoint", "tiny-shallow")
    assert [line.split("  ")[1] for line in (shipped_root / "SHA256SUMS").read_text().splitlines()] == [
        "tiny-deep/tensors.safetensors", "tiny-shallow/tensors.safetensors"]


def test_a_changed_shipped_copy_is_refused(tmp_path, shipped_root):
    path = export_checkpoint(save_checkpoint(make_ckpt(), tmp_path / "ck"), "tiny")
    tensors = path / "tensors.safetensors"
    data = bytearray(tensors.read_bytes())
    data[-3] ^= 0xFF
    tensors.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="has sha256 .* but .*SHA256SUMS lists .* corrupt or was replaced"):
        load_checkpoint("tiny")
    (shipped_root / "SHA256SUMS").unlink()  # a shipped checkpoint without its list is refused too
    with pytest.raises(CheckpointError, match="does not list tiny/tensors.safetensors"):
        load_checkpoint("tiny")


def test_unknown_checkpoint_name_lists_the_shipped_ones(tmp_path, shipped_root):
    export_checkpoint(save_checkpoint(make_ckpt(), tmp_path / "ck"), "english-deep")
    with pytest.raises(CheckpointError, match=r"'englsh-deep' is neither .* shipped: \['english-deep'\]"):
        load_checkpoint("englsh-deep")


def test_export_errors(tmp_path, shipped_root):
    path = save_checkpoint(make_ckpt(), tmp_path / "ck")
    with pytest.raises(CheckpointError, match="must be lowercase"):
        export_checkpoint(path, "English Deep")
    big = make_ckpt()
    big.A[0, 0, 0] = 1e6
    with pytest.raises(CheckpointError, match="'A' has values beyond the float16 range"):
        export_checkpoint(save_checkpoint(big, tmp_path / "big"), "big")
    assert not (shipped_root / "big").exists()


def test_cli_export(tmp_path, capsys):
    from bbt_mp2.cli import main

    src = save_checkpoint(make_ckpt(), tmp_path / "ck")
    root = tmp_path / "ship"
    assert main(["pretrain", "--export", str(src), "--name", "tiny", "--export-root", str(root)]) == 0
    assert "float16" in capsys.readouterr().out
    assert (root / "tiny" / "tensors.safetensors").is_file() and (root / "SHA256SUMS").is_file()
    assert main(["pretrain", "--export", str(src), "--export-root", str(root)]) == 2
    assert "--export needs --name" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("name", ["english-deep", "english-zero-head"])
def test_shipped_float16_copy_predicts_as_float32_on_sst2_test(name):
    # the shipped copy must be there (the package ships it): a missing one is a failure, never a skip
    from bbt_mp2.shipped import check_reference

    if name not in shipped_checkpoints():
        pytest.fail(f"shipped checkpoint {name!r} is missing from {checkpoint_module.SHIPPED_DIR} (found "
                    f"{shipped_checkpoints()}); export it with `bbt-mp2 pretrain --export RUN_DIR --name {name}`")
    # zero-shot on all 872 SST-2 test examples, modules routed by mr's router: float16 copy vs float32 source
    assert check_reference(name) >= 0.995
