"""Command-line entry point: ``bbt-mp2 {data,tune,demo,pretrain,bench} ...``.

Each sub-command lives in its own module of this package and exposes ``add_parser(subparsers)`` (argparse set-up)
and ``run(args) -> int`` (the work, through the library API). argparse lives only in this package.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

__all__ = ["main", "build_parser", "set_threads"]

# sub-command name -> module (relative to this package)
COMMANDS = {
    "data": ".data",
    "tune": ".tune",
    "demo": ".demo",
    "pretrain": ".pretrain",
    "predict": ".predict",
    "runs": ".runs",
    "serve": ".serve",
    "bench": ".bench",
}


def set_threads(n: int | None) -> None:
    """Apply a sub-command's ``--threads N`` (torch intra-op threads); None leaves torch's default.

    Raises:
        ConfigError: ``n`` is not a positive integer.
    """
    if n is None:
        return
    if n < 1:
        from bbt_mp2.errors import ConfigError

        raise ConfigError(f"--threads must be a positive number of threads, got {n}")
    import torch

    torch.set_num_threads(n)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bbt-mp2", description="Black-box tuning of frozen language models: BBT, BBTv2, MP2."
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-v INFO, -vv DEBUG)")
    sub = parser.add_subparsers(dest="command", required=True)
    for mod in COMMANDS.values():
        try:
            module = importlib.import_module(mod, __name__)
        except ModuleNotFoundError as exc:  # a sub-command whose module is not there yet
            if exc.name and exc.name.startswith(__name__):
                continue
            raise
        p = module.add_parser(sub)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from bbt_mp2.errors import BbtError
    from optimizers.errors import OptimizerError  # the optimizers' own hierarchy (they import nothing of bbt_mp2)

    try:
        return int(args._run(args) or 0)
    except (BbtError, OptimizerError) as exc:
        print(f"bbt-mp2 {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
