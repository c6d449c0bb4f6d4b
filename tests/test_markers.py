"""The suite's markers (tests/conftest.py, setup.cfg): ``slow`` for real-model tests, ``gpu`` skipped without CUDA.

The root conftest's collection hook is called on stand-in items: a test that asks for the ``minilm`` fixture gets
``slow`` (so ``pytest -m "not slow"`` deselects it), and a ``gpu`` test gets a skip marker exactly when torch sees no
CUDA device. The plain ``pytest`` command (the README's) selects no marker, so it runs everything.
"""

from __future__ import annotations

import configparser
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _root_conftest():
    spec = importlib.util.spec_from_file_location("_root_conftest_under_test", ROOT / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Item:
    """The part of ``pytest.Item`` the hook uses: fixture names and markers."""

    def __init__(self, fixturenames: tuple[str, ...] = (), markers: tuple[str, ...] = ()) -> None:
        self.fixturenames = fixturenames
        self.markers = [getattr(pytest.mark, name) for name in markers]

    def get_closest_marker(self, name: str):
        return next((m for m in self.markers if m.name == name), None)

    def add_marker(self, marker) -> None:
        self.markers.append(marker)

    def names(self) -> list[str]:
        return [m.name for m in self.markers]


@pytest.mark.parametrize("has_cuda", [False, True])
def test_minilm_tests_are_slow_and_gpu_tests_skip_without_cuda(has_cuda, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: has_cuda)
    quick, real, gpu, marked = _Item(("tmp_path",)), _Item(("minilm",)), _Item(markers=("gpu",)), _Item(
        ("minilm",), ("slow",))
    _root_conftest().pytest_collection_modifyitems(None, [quick, real, gpu, marked])
    assert quick.names() == [] and real.names() == ["slow"] and marked.names() == ["slow"]
    assert gpu.names() == (["gpu"] if has_cuda else ["gpu", "skip"])
    if not has_cuda:
        assert "CUDA" in gpu.markers[-1].kwargs["reason"]


def test_setup_cfg_declares_the_markers_and_the_full_run_is_the_default():
    cfg = configparser.ConfigParser(interpolation=None, strict=False)
    cfg.read(ROOT / "setup.cfg")
    pytest_cfg = cfg["tool:pytest"]
    assert "gpu:" in pytest_cfg["markers"] and "slow:" in pytest_cfg["markers"]
    assert "-m" not in pytest_cfg.get("addopts", "").split()  # plain `pytest` (the README's command) runs everything
