"""BO-UCB at the router sizes of MP2: wall time and quality against random search, side by side.

Usage::

    python -m benchmarks.bo_speed [--dims 8 48 192] [--budget 200] [--threads 1]

For each dimension D (8 = shallow router, 8 x L = deep router; 192 = CPT-large's 24 layers) both optimizers get the
same budget of evaluations of a shifted, rotated ellipsoid on the box [-5, 5]^D. Prints, per D: total wall time of
BO-UCB, its mean time per model-based ask, and the best loss of BO-UCB and of random search (the ratio < 1 means
BO-UCB finds lower losses with the same budget).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from optimizers import make_optimizer


def ellipsoid(dim: int, seed: int = 0):
    """``f(x) = sum_i 10^(2 i / (D - 1)) ((R (x - c))_i)^2 / D`` with a random rotation R and centre c in [-2, 2]^D."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    c = rng.uniform(-2, 2, size=dim)
    w = 10.0 ** (2 * np.arange(dim) / max(dim - 1, 1))

    def f(X: np.ndarray) -> np.ndarray:
        return (((X - c) @ q.T) ** 2 * w).sum(axis=1) / dim

    return f


def run(name: str, dim: int, budget: int, seed: int) -> tuple[float, float, list[float]]:
    """(best loss, wall seconds, seconds of each ask) of one optimizer on the ellipsoid."""
    f = ellipsoid(dim, seed)
    opt = make_optimizer(name, dim=dim, seed=seed, bounds=5.0)
    used, asks, best = 0, [], np.inf
    t0 = time.perf_counter()
    while used < budget:
        t = time.perf_counter()
        X = opt.ask()
        asks.append(time.perf_counter() - t)
        y = f(X)
        opt.tell(X, y)  # the whole population is told; only the budget's share counts
        best = min(best, float(y[: budget - used].min()))
        used += len(X)
    return best, time.perf_counter() - t0, asks


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dims", type=int, nargs="+", default=[8, 48, 192])
    p.add_argument("--budget", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"budget {args.budget} evaluations, {args.threads} thread(s)")
    print("| D | BO-UCB wall s | s per model-based ask | BO-UCB best | random best | BO / random |")
    print("|---|---|---|---|---|---|")
    for dim in args.dims:
        bo, wall, asks = run("bo-ucb", dim, args.budget, args.seed)
        rs, _, _ = run("random", dim, args.budget, args.seed)
        model_asks = [a for a in asks if a > 1e-3] or [0.0]
        print(f"| {dim} | {wall:.1f} | {np.mean(model_asks):.2f} | {bo:.3g} | {rs:.3g} | {bo / rs:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
