"""Start and stop real ``bbt-mp2 serve`` processes on free loopback ports (for the end-to-end tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli() -> list[str]:
    """The ``bbt-mp2`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "bbt-mp2"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from bbt_mp2.cli import main; sys.exit(main())"]


def cli_env() -> dict[str, str]:
    return dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO))


class ServerProcess:
    """``bbt-mp2 serve ...`` on a free port; ``url`` once healthy. ``kill()`` is SIGKILL, ``stop()`` SIGTERM."""

    def __init__(self, state_dir: Path, *extra: str, database: str | None = None) -> None:
        self.state_dir, self.extra, self.database = Path(state_dir), extra, database
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def storage_args(self) -> list[str]:
        return ["--state-dir", str(self.state_dir)] + (["--database", self.database] if self.database else [])

    def start(self, timeout: float = 180.0) -> ServerProcess:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = open(self.state_dir.parent / f"server-{port}.log", "wb")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(
            [*cli(), "serve", "--backbone", "minilm", "--port", str(port),
             "--threads", "1", *self.storage_args(), *self.extra],
            env=cli_env(), cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {log.name}")
            try:
                if httpx.get(self.url + "/v1/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        self.kill()
        raise RuntimeError(f"server did not become healthy in {timeout:.0f}s; see {log.name}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def add_key(self, tenant: str, budget: int, rate: float = 1000.0) -> str:
        """A key made with ``bbt-mp2 serve keys add`` on this server's storage."""
        out = subprocess.run(
            [*cli(), "serve", "keys", "add", "--tenant", tenant, "--budget", str(budget),
             "--rate", str(rate), *self.storage_args()],
            env=cli_env(), cwd=REPO, capture_output=True, text=True, check=True)
        return out.stdout.strip().splitlines()[0]
