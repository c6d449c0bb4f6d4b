"""Import direction and weight, each checked in a fresh interpreter (DESIGN: dependencies point one way).

``optimizers`` is numpy-only and knows nothing of ``bbt_mp2``: torch and BoTorch load only when ``bo-ucb`` is
asked for, nevergrad only for an ``ng:`` name. ``import bbt_mp2`` loads no torch; configs, checkpoint configs and
the task registry are plain data.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "botorch", "gpytorch", "nevergrad", "transformers")


def _loaded(code: str) -> dict[str, bool]:
    """Run ``code`` in a fresh interpreter; which of the heavy modules (and bbt_mp2) it loaded."""
    names = list(HEAVY) + ["bbt_mp2"]
    probe = f"{code}\nimport sys, json\nprint(json.dumps({{m: m in sys.modules for m in {names!r}}}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_optimizers_alone_load_neither_bbt_mp2_nor_torch():
    got = _loaded("import optimizers\nopt = optimizers.make_optimizer('cma', dim=3, seed=0)\nopt.ask()\n"
                  "optimizers.make_optimizer('random', dim=3, seed=0).ask()")
    assert not any(got.values()), got


def test_bo_ucb_and_nevergrad_load_their_dependencies_only_when_asked_for():
    got = _loaded("import optimizers\noptimizers.make_optimizer('bo-ucb', dim=2, seed=0).ask()")
    assert got["torch"] and got["botorch"] and not got["nevergrad"] and not got["bbt_mp2"]
    got = _loaded("import optimizers\noptimizers.make_optimizer('ng:TBPSA', dim=2, seed=0).ask()")
    assert got["nevergrad"] and not got["torch"] and not got["bbt_mp2"]


def test_import_bbt_mp2_and_its_plain_data_parts_load_no_torch():
    got = _loaded("import bbt_mp2\nfrom bbt_mp2 import CheckpointConfig, Config, get_task\n"
                  "from bbt_mp2.rundir import RunDir\n"
                  "import bbt_mp2.checkpoint\nget_task('sst2')")
    assert not any(got[m] for m in HEAVY), got


def test_import_bbt_mp2_methods_loads_no_torch():
    got = _loaded("import bbt_mp2.methods\nfrom bbt_mp2.methods import build_config\nbuild_config('bbt')")
    assert not got["torch"], got


def test_the_task_registry_has_no_import_cycle():
    # the built-in tables import first, alone: they must not need the registry half-initialised
    got = _loaded("import bbt_mp2.tasks.specs_en, bbt_mp2.tasks.specs_zh\nfrom bbt_mp2.tasks.builtin import BUILTIN\n"
                  "assert len(BUILTIN) == 35, len(BUILTIN)\nfrom bbt_mp2.tasks.registry import get_task\n"
                  "assert get_task('sst2').lang == 'en'")
    assert not got["torch"]
