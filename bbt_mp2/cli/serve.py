"""``bbt-mp2 serve``: the model as a service (FastAPI + uvicorn), and ``bbt-mp2 serve keys add|list|revoke``.

The server and the key commands open the same storage (``--state-dir``, ``--database``): SQLite under the state
directory by default, PostgreSQL by URL when several replicas share keys, datasets and usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from bbt_mp2.errors import ConfigError

__all__ = ["add_parser", "run"]

logger = logging.getLogger(__name__)


def _storage_args(p: argparse.ArgumentParser, default: Any = None) -> None:
    p.add_argument("--state-dir", type=Path, default=default,
                   help="server state: datasets and the SQLite database (required)")
    p.add_argument("--database", default=default, help="SQLAlchemy URL, e.g. postgresql+psycopg2://user@host/db "
                                                       "(default: SQLite in --state-dir)")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``serve`` (and ``serve keys ...``) on the top-level sub-parsers."""
    p = subparsers.add_parser("serve", help="serve the frozen model over HTTP (and manage API keys)",
                              description="Start a server replica (FastAPI + uvicorn, OpenAPI at /docs), or manage "
                                          "its API keys with `bbt-mp2 serve keys add|list|revoke`.")
    p.add_argument("--backbone", default="minilm", help="backbone name or path (default minilm)")
    p.add_argument("--checkpoint", action="append", default=[], metavar="NAME=DIR",
                   help="serve an MP2 checkpoint under id NAME (repeatable; the first is the default head); "
                        "a bare shipped name serves it under its own name")
    _storage_args(p)
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1)")
    p.add_argument("--dtype", default="float32", help="backbone dtype: float32 or bfloat16")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    p.add_argument("--queue-size", type=int, default=64, help="most waiting evaluate requests (503 above)")
    p.add_argument("--max-population", type=int, default=512, help="most candidates per request (413 above)")
    p.add_argument("--token-budget", type=int, default=2_000_000, help="most tokens merged into one forward")
    keys = p.add_subparsers(dest="serve_command")
    k = keys.add_parser("keys", help="API keys: add, list, revoke").add_subparsers(dest="keys_command", required=True)
    add = k.add_parser("add", help="make a key (printed once, stored hashed)")
    add.add_argument("--tenant", required=True, help="tenant name (datasets are per tenant)")
    add.add_argument("--budget", type=int, required=True, help="API calls the key may spend")
    add.add_argument("--rate", type=float, default=50.0, help="requests per second (default 50)")
    _storage_args(add, argparse.SUPPRESS)
    lst = k.add_parser("list", help="keys with tenant, budget, used (never the keys)")
    _storage_args(lst, argparse.SUPPRESS)
    rev = k.add_parser("revoke", help="revoke a key by its id (see list)")
    rev.add_argument("key_id", type=int)
    _storage_args(rev, argparse.SUPPRESS)
    return p


def _checkpoints(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, where = item.partition("=")
        name, where = (name.strip(), where.strip()) if sep else (item.strip(), item.strip())
        if not name or not where:
            raise ConfigError(f"--checkpoint {item!r} is not NAME=DIR (or a shipped name)")
        if name in out:
            raise ConfigError(f"--checkpoint id {name!r} given twice")
        out[name] = where
    return out


def _settings(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from servers.settings import ServerSettings

    if args.state_dir is None:
        raise ConfigError("--state-dir DIR is required (datasets and the SQLite database live there)")
    values: dict[str, Any] = {"state_dir": args.state_dir, "database_url": args.database}
    if getattr(args, "serve_command", None) is None:
        values.update(backbone=args.backbone, checkpoints=_checkpoints(args.checkpoint), device=args.device,
                      dtype=args.dtype, queue_size=args.queue_size, max_population=args.max_population,
                      token_budget=args.token_budget)
    try:
        return ServerSettings(**values)
    except ValidationError as exc:
        raise ConfigError(f"bad server setting: {exc}") from None


def _keys(args: argparse.Namespace) -> int:
    from servers.storage import Storage

    settings = _settings(args)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    storage = Storage(settings.database())
    try:
        if args.keys_command == "add":
            key, rec = storage.create_key(args.tenant, args.budget, args.rate)
            print(key)
            print(f"key id {rec.id} for tenant {rec.tenant!r}: budget {rec.budget} calls, rate {rec.rate:g}/s "
                  "(the key is shown once; it is stored hashed)", file=sys.stderr)
        elif args.keys_command == "list":
            for rec in storage.list_keys():
                print(json.dumps(rec.to_dict(), sort_keys=True))
        else:
            rec = storage.revoke_key(args.key_id)
            print(f"revoked key id {rec.id} ({rec.prefix}..., tenant {rec.tenant!r})", file=sys.stderr)
    finally:
        storage.close()
    return 0


def run(args: argparse.Namespace) -> int:
    """Start the server, or run a key command."""
    if getattr(args, "serve_command", None) == "keys":
        return _keys(args)
    from bbt_mp2.cli import set_threads

    set_threads(args.threads)
    settings = _settings(args)
    import uvicorn

    from servers.app import create_app

    app = create_app(settings)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info" if args.verbose else "warning",
                access_log=bool(args.verbose))
    return 0
