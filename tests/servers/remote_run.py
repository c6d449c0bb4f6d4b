"""A tuning client in its own process (what ``bbt-mp2 tune --server`` runs, on a small split), for the kill test.

Usage: ``python remote_run.py URL KEY OUT BUDGET [--resume]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bbt_mp2.methods import tune
from bbt_mp2.tasks import fewshot
from servers.client import RemoteBackend

MAX_LENGTH = 64


def small_sst2():  # noqa: ANN201
    """16 train, 16 dev and 16 test examples of the SST-2 few-shot split of seed 13 (both classes in each)."""
    split = fewshot("sst2", 13)
    return type(split)(train=split.train[8:24], dev=split.dev[8:24], test=split.test[:16])


def main(argv: list[str]) -> int:
    url, key, out, budget = argv[0], argv[1], Path(argv[2]), int(argv[3])
    backend = RemoteBackend(url, key, retries=3, backoff=0.2, journal=out / "remote_request.json")
    tune("sst2", "bbt", 13, budget, backend=backend, out_dir=out, checkpoint="tiny", data=small_sst2(),
         max_length=MAX_LENGTH, overrides={"popsize": 8, "eval_every": 16, "d": 50}, resume="--resume" in argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
