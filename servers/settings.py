"""Server settings: pydantic-settings, from arguments or ``BBT_MP2_SERVE_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ServerSettings"]


class ServerSettings(BaseSettings):
    """Everything a server replica needs; every field has a safe default except the state directory.

    Attributes:
        backbone: backbone name or path (``bbt_mp2.backbones.load_backbone``).
        checkpoints: checkpoint id -> shipped name or directory; the first is the default head.
        state_dir: where datasets (content-addressed) and the SQLite database live.
        database_url: SQLAlchemy URL; None = SQLite (WAL) at ``state_dir/server.db``. PostgreSQL
            (``postgresql+psycopg2://...``) lets several replicas share datasets, keys and usage.
        device, dtype: where and in which dtype the backbone runs (``float32``/``bfloat16``).
        max_population: most candidates in one evaluate request (413 above).
        max_body_bytes: most request body bytes (413 above).
        max_examples: most examples in one dataset (413 above).
        max_length_limit: largest ``max_length`` a dataset may ask for (422 above the backbone's positions too).
        queue_size: most evaluate requests waiting for the model (503 + Retry-After above).
        token_budget: most tokens (candidates x examples x length) merged into one evaluator call.
        batch_wait_ms: how long the batcher waits for more requests to merge after the first arrives.
        default_rate: requests per second a key may make when it names no rate.
    """

    model_config = SettingsConfigDict(env_prefix="BBT_MP2_SERVE_", extra="forbid")

    backbone: str = "minilm"
    checkpoints: dict[str, str] = Field(default_factory=dict)
    state_dir: Path
    database_url: str | None = None
    device: str = "cpu"
    dtype: str = "float32"
    max_population: int = 512
    max_body_bytes: int = 16 * 1024 * 1024
    max_examples: int = 4096
    max_length_limit: int = 512
    queue_size: int = 64
    token_budget: int = 2_000_000
    batch_wait_ms: float = 2.0
    default_rate: float = 50.0

    @field_validator("max_population", "max_body_bytes", "max_examples", "max_length_limit", "queue_size",
                     "token_budget")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be >= 1, got {value}")
        return value

    @field_validator("default_rate")
    @classmethod
    def _positive_rate(cls, value: float) -> float:
        if not value > 0:
            raise ValueError(f"must be > 0, got {value}")
        return value

    def database(self) -> str:
        """The SQLAlchemy URL in use (the SQLite default under ``state_dir`` when none is set)."""
        return self.database_url or f"sqlite:///{Path(self.state_dir) / 'server.db'}"
