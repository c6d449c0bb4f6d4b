"""The service against the in-process backend, measured side by side in one run (``benchmarks.perf --service``).

Starts a real ``bbt-mp2 serve`` process (MiniLM) on a free loopback port and prints:

1. HTTP evaluate time / in-process ``LocalBackend.evaluate`` time for one population (P candidates x d on N
   examples), medians over the same number of calls made alternately (target <= 1.05);
2. aggregate throughput (candidates/s) of 4 concurrent tuning clients (4 tenants, their own keys) / one saturating
   client, windows of equal length alternating over ``--rounds`` rounds (target >= 0.90), with the error count and
   the call accounting (calls the clients were charged == the keys' usage).

Results go to ``benchmarks/results/service-cpu/service.json`` (no machine paths).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run_service_benchmark"]

RESULTS = Path(__file__).resolve().parent / "results" / "service-cpu"


def _start_server(state: Path, threads: int) -> tuple[subprocess.Popen, str]:
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "bbt-mp2"
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-c", "import sys; from bbt_mp2.cli import main; "
                                                               "sys.exit(main())"]
    proc = subprocess.Popen([*cmd, "serve", "--backbone", "minilm", "--state-dir", str(state), "--port", str(port),
                             "--threads", str(threads)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, HF_HUB_OFFLINE="1"))
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/v1/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the benchmark server did not start")


def _paired_medians(fa: Any, fb: Any, repeats: int) -> tuple[float, float]:
    """Median wall times of ``fa`` and ``fb``, called alternately (after one warm-up each), so that drifting load
    on the machine hits both alike."""
    fa()
    fb()
    ta, tb = [], []
    for _ in range(repeats):
        for fn, times in ((fa, ta), (fb, tb)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(ta), statistics.median(tb)


def _throughput(clients: list, did: str, param: Any, pop: np.ndarray, seconds: float) -> tuple[float, int, int]:
    """Candidates/s of ``clients`` sending populations back to back for ``seconds``; (rate, errors, charged)."""
    counts, errors = [0] * len(clients), [0]
    stop = time.perf_counter() + seconds

    def work(i: int) -> None:
        while time.perf_counter() < stop:
            try:
                clients[i].evaluate(did, param, pop)
                counts[i] += len(pop)
            except Exception:  # noqa: BLE001 - counted and reported
                errors[0] += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0), errors[0], sum(counts)


def run_service_benchmark(args: Any) -> dict[str, Any]:
    """Measure and print the two ratios; returns (and writes) the results."""
    import torch

    from bbt_mp2.backbones import load_backbone
    from bbt_mp2.backend import ProjectionSpec, PromptParam
    from bbt_mp2.heads import MRCHead
    from bbt_mp2.local_backend import LocalBackend
    from bbt_mp2.tasks import fewshot, get_task
    from servers.client import RemoteBackend
    from servers.storage import Storage

    torch.set_num_threads(args.threads)
    split = fewshot(args.task, args.seed)
    examples, task = (split.train + split.dev)[: args.examples], get_task(args.task)
    param = PromptParam(layers=(0,), d=500, n_tokens=args.n_tokens, projection=ProjectionSpec(seed=0))
    pop = np.random.default_rng(0).normal(size=(args.population, 1, 500))
    local = LocalBackend(load_backbone(args.backbone), MRCHead(384, seed=0))
    local_id = local.register(task, examples, n_tokens=args.n_tokens, max_length=args.max_length)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = _start_server(Path(tmp) / "state", args.threads)
        try:
            storage = Storage(f"sqlite:///{Path(tmp) / 'state' / 'server.db'}")
            keys = [storage.create_key(f"bench-{i}", 10**9, 10_000.0)[0] for i in range(5)]
            storage.close()
            clients = [RemoteBackend(url, k, retries=8) for k in keys]
            ids = {c.register(task, examples, n_tokens=args.n_tokens, max_length=args.max_length) for c in clients}
            if ids != {local_id}:
                raise RuntimeError("the server and the local backend encode the dataset differently")
            t_local, t_http = _paired_medians(lambda: local.evaluate(local_id, param, pop),
                                              lambda: clients[0].evaluate(local_id, param, pop), args.repeats)
            rounds = [(_throughput(clients[:1], local_id, param, pop, args.seconds),
                       _throughput(clients[1:], local_id, param, pop, args.seconds)) for _ in range(args.rounds)]
            one = statistics.mean(r[0][0] for r in rounds)
            four = statistics.mean(r[1][0] for r in rounds)
            err1, err4 = sum(r[0][1] for r in rounds), sum(r[1][1] for r in rounds)
            charged = sum(c.n_calls for c in clients)
            used = sum(c.usage()["used"] for c in clients)
        finally:
            proc.terminate()
            proc.wait(30)
    result = {
        "backbone": args.backbone, "task": args.task, "population": args.population, "examples": len(examples),
        "n_tokens": args.n_tokens, "max_length": args.max_length, "threads": args.threads, "repeats": args.repeats,
        "seconds": args.seconds, "rounds": args.rounds, "in_process_s": round(t_local, 4), "http_s": round(t_http, 4),
        "http_over_in_process": round(t_http / t_local, 3), "one_client_cands_per_s": round(one, 2),
        "four_clients_cands_per_s": round(four, 2), "four_over_one": round(four / one, 3), "errors": err1 + err4,
        "calls_charged": charged, "calls_used": used, "accounting_exact": charged == used,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
                    "system": platform.system()},
    }
    print(f"# bbt-mp2 perf --service: {args.backbone}, {args.task}, P={args.population}, N={len(examples)}, "
          f"d=500, {args.threads} threads")
    print(f"HTTP evaluate / in-process: {t_http:.3f}s / {t_local:.3f}s = {t_http / t_local:.3f} (target <= 1.05)")
    print(f"4 clients / 1 saturating client: {four:.1f} / {one:.1f} candidates/s = {four / one:.3f} "
          f"(target >= 0.90); errors {err1 + err4}; calls charged {charged}, keys' usage {used}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "service.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return result
