"""The one storage layer of the service (SQLAlchemy 2): keys, budgets, usage, datasets, answered requests.

SQLite in WAL mode under the state directory by default; PostgreSQL by URL so several replicas share one registry.
Every charge is one transaction: a conditional ``UPDATE ... SET used = used + P WHERE used + P <= budget`` and the
insert of the answered request under its (key, request id) primary key. So a concurrent replica can neither pass a
budget nor count a retried request twice: the second insert of a request id fails and its stored answer is
returned instead. Keys are stored as sha256 hashes (the key itself is shown once, never stored or logged).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, Integer, String, Text, create_engine, event, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from bbt_mp2.errors import BudgetExceededError, ConfigError, UnknownNameError

__all__ = ["Storage", "KeyRecord", "hash_key"]

logger = logging.getLogger(__name__)

KEY_PREFIX = "bbt_"


class _Base(DeclarativeBase):
    pass


class _Key(_Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    budget: Mapped[int] = mapped_column(BigInteger)
    used: Mapped[int] = mapped_column(BigInteger, default=0)
    rate: Mapped[float] = mapped_column(Float)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[float] = mapped_column(Float)


class _Dataset(_Base):
    __tablename__ = "datasets"
    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    meta: Mapped[str] = mapped_column(Text)  # JSON: task, n_examples, n_tokens, max_length, n_options
    source: Mapped[str] = mapped_column(Text)  # JSON: task spec + examples + encoding settings (re-encodable)
    created: Mapped[float] = mapped_column(Float)


class _Request(_Base):
    __tablename__ = "answered_requests"
    key_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    calls: Mapped[int] = mapped_column(Integer)
    response: Mapped[str] = mapped_column(Text)
    created: Mapped[float] = mapped_column(Float)


def hash_key(key: str) -> str:
    """sha256 hex digest of an API key (what is stored)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class KeyRecord:
    """A key as the server sees it (never the key itself)."""

    id: int
    tenant: str
    prefix: str
    budget: int
    used: int
    rate: float
    revoked: bool

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "tenant": self.tenant, "prefix": self.prefix, "budget": self.budget,
                "used": self.used, "remaining": max(self.budget - self.used, 0), "rate": self.rate,
                "revoked": self.revoked}


def _record(row: _Key) -> KeyRecord:
    return KeyRecord(id=row.id, tenant=row.tenant, prefix=row.prefix, budget=int(row.budget), used=int(row.used),
                     rate=float(row.rate), revoked=bool(row.revoked))


class Storage:
    """Keys, usage, datasets and answered requests behind one SQLAlchemy engine.

    Args:
        url: SQLAlchemy URL (``sqlite:///path/server.db`` or ``postgresql+psycopg2://user@host/db``).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):
            self.engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)
        _Base.metadata.create_all(self.engine)
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ keys
    def create_key(self, tenant: str, budget: int, rate: float) -> tuple[str, KeyRecord]:
        """A new key for ``tenant`` with a call ``budget`` and a ``rate`` (requests/s); returns (key, record).

        Raises:
            ConfigError: empty tenant, negative budget, non-positive rate.
        """
        if not tenant.strip() or len(tenant) > 128:
            raise ConfigError(f"tenant must be 1..128 characters, got {tenant!r}")
        if budget < 0 or not rate > 0:
            raise ConfigError(f"budget must be >= 0 and rate > 0, got budget={budget}, rate={rate}")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        row = _Key(tenant=tenant, key_hash=hash_key(key), prefix=key[:12], budget=int(budget), used=0,
                   rate=float(rate), revoked=False, created=time.time())
        with self._session.begin() as s:
            s.add(row)
        return key, _record(row)

    def list_keys(self) -> list[KeyRecord]:
        with self._session() as s:
            return [_record(r) for r in s.scalars(select(_Key).order_by(_Key.id))]

    def revoke_key(self, key_id: int) -> KeyRecord:
        """Revoke key ``key_id`` (see ``list_keys``). Raises UnknownNameError for an unknown id."""
        with self._session.begin() as s:
            row = s.get(_Key, key_id)
            if row is None:
                raise UnknownNameError(f"no key with id {key_id}; see `bbt-mp2 serve keys list`")
            row.revoked = True
            return _record(row)

    def authenticate(self, key: str) -> KeyRecord | None:
        """The active key record of ``key``, or None (unknown or revoked). Hashes compared in constant time."""
        digest = hash_key(key)
        with self._session() as s:
            row = s.scalars(select(_Key).where(_Key.key_hash == digest)).first()
            if row is None or not hmac.compare_digest(row.key_hash, digest) or row.revoked:
                return None
            return _record(row)

    def key(self, key_id: int) -> KeyRecord:
        with self._session() as s:
            row = s.get(_Key, key_id)
            if row is None:
                raise UnknownNameError(f"no key with id {key_id}")
            return _record(row)

    # ------------------------------------------------------------------ datasets
    def add_dataset(self, tenant: str, dataset_id: str, meta: dict[str, Any], source: dict[str, Any]) -> None:
        """Record that ``tenant`` owns ``dataset_id`` (idempotent: a second add is a no-op)."""
        try:
            with self._session.begin() as s:
                if s.get(_Dataset, (tenant, dataset_id)) is None:
                    s.add(_Dataset(tenant=tenant, dataset_id=dataset_id, meta=json.dumps(meta),
                                   source=json.dumps(source), created=time.time()))
        except IntegrityError:  # a concurrent replica added it first
            pass

    def dataset_meta(self, tenant: str, dataset_id: str) -> dict[str, Any] | None:
        with self._session() as s:
            row = s.get(_Dataset, (tenant, dataset_id))
            return None if row is None else dict(json.loads(row.meta), id=dataset_id)

    def dataset_source(self, tenant: str, dataset_id: str) -> dict[str, Any] | None:
        with self._session() as s:
            row = s.get(_Dataset, (tenant, dataset_id))
            return None if row is None else json.loads(row.source)

    def list_datasets(self, tenant: str) -> list[dict[str, Any]]:
        with self._session() as s:
            rows = s.scalars(select(_Dataset).where(_Dataset.tenant == tenant).order_by(_Dataset.created))
            return [dict(json.loads(r.meta), id=r.dataset_id) for r in rows]

    def delete_dataset(self, tenant: str, dataset_id: str) -> bool:
        with self._session.begin() as s:
            row = s.get(_Dataset, (tenant, dataset_id))
            if row is None:
                return False
            s.delete(row)
            return True

    # ------------------------------------------------------------------ usage
    def answered(self, key_id: int, request_id: str) -> dict[str, Any] | None:
        """The stored answer of an already charged request, or None."""
        with self._session() as s:
            row = s.get(_Request, (key_id, request_id))
            return None if row is None else json.loads(row.response)

    def check_budget(self, key_id: int, calls: int) -> KeyRecord:
        """Refuse (BudgetExceededError) a request of ``calls`` that would pass the key's budget; nothing counted."""
        rec = self.key(key_id)
        if rec.used + calls > rec.budget:
            raise BudgetExceededError(f"this request needs {calls} calls but the key has {rec.budget - rec.used} of "
                                      f"{rec.budget} left; ask for a larger budget")
        return rec

    def charge(self, key_id: int, request_id: str, calls: int, response: dict[str, Any]) -> dict[str, Any]:
        """Count ``calls`` against the key and store the answer, in one transaction; returns the answer to send.

        A request id already answered (a retry, maybe through another replica) is not charged again: its stored
        answer is returned.

        Raises:
            BudgetExceededError: the calls no longer fit (a concurrent request spent the budget); nothing counted.
        """
        try:
            with self._session.begin() as s:
                s.add(_Request(key_id=key_id, request_id=request_id, calls=calls, response=json.dumps(response),
                               created=time.time()))
                s.flush()  # the primary key conflict of a retried request id surfaces here
                done = s.execute(update(_Key).where(_Key.id == key_id, _Key.used + calls <= _Key.budget)
                                 .values(used=_Key.used + calls))
                if done.rowcount != 1:
                    raise BudgetExceededError(f"this request needs {calls} calls, more than the key has left")
        except IntegrityError:
            stored = self.answered(key_id, request_id)
            if stored is None:
                raise
            return stored
        return response


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
