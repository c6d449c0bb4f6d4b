"""Fixtures shared by the whole suite, loaded once per test run, and the ``slow`` / ``gpu`` markers.

* ``minilm``: the real MiniLM backbone (fp32, CPU), session-scoped; a test that asks for it is marked ``slow``
  automatically, so ``pytest -m "not slow"`` is the quick inner loop (tiny random backbone from
  ``bbt_mp2.testing``), while the README's test command (``pytest``) runs everything.
* ``root``: the real data folder (``BBT_MP2_DATA`` or ``<repo>/../shared/data``); CI has it, never skipped there.
* ``one_thread``: torch at one intra-op thread for the test, restored afterwards (small tensors on a shared 2-core
  machine are fastest single-threaded).
* ``@pytest.mark.gpu`` tests are skipped cleanly without a CUDA device.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    has_cuda = False
    if gpu_items:
        import torch

        has_cuda = torch.cuda.is_available()
    for item in items:
        if "minilm" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
    for item in gpu_items:
        if not has_cuda:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device (none here)"))


@pytest.fixture(scope="session")
def minilm():
    """The default real backbone (MiniLM-L6 from its package), fp32 CPU, loaded once per run."""
    from bbt_mp2.backbones import load_backbone

    return load_backbone("minilm")


@pytest.fixture(scope="session")
def root() -> Path:
    """The real data folder (BBT_MP2_DATA or <repo>/../shared/data); CI has it, so it is never skipped."""
    from bbt_mp2.tasks import data_root

    return data_root()


@pytest.fixture()
def one_thread():
    """Torch at one intra-op thread during the test; the previous setting is restored."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
