"""Throughput of the population evaluator, measured side by side with its baselines in ONE run.

Prints, for MiniLM on real SST-2 few-shot data (P candidates x N examples):

1. the fp32 GEMM ceiling of this machine (a large square matmul, measured in this run, before and after);
2. achieved FLOP/s of a population evaluation as a fraction of the ceiling (executed FLOPs = what the stock
   layers were asked to compute, cropped padding included; useful FLOPs = real tokens only), per token budget;
3. population-batched vs serial (one candidate per call);
4. shared-prefix vs plain for a divide-and-conquer generation at each layer l (candidates share the prompts of
   layers < l), cold (prefix computed in the call) and warm (prefix from the activation cache), against the ideal
   ratio L / (L - l);
5. bf16 vs fp32 throughput and the agreement of their predicted options.

``--service`` instead measures the HTTP service against the in-process backend (``benchmarks.perf_service``):
HTTP / in-process evaluate time, and 4 concurrent clients / 1 saturating client throughput.

Usage::

    python -m benchmarks.perf                 # full run (minutes on a 2-core CPU)
    python -m benchmarks.perf --quick         # fewer repeats, fewer budgets and layers
    python -m benchmarks.perf --service       # the service: HTTP vs in-process, 4 clients vs 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch

from bbt_mp2.evaluator import DEFAULT_TOKEN_BUDGET, Evaluator

SECTIONS = ("throughput", "serial", "prefix", "bf16")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbone", default="minilm", help="backbone name for bbt_mp2.backbones.load_backbone")
    p.add_argument("--task", default="sst2")
    p.add_argument("--seed", type=int, default=13, help="few-shot split seed")
    p.add_argument("--population", type=int, default=20, help="P, candidates per call")
    p.add_argument("--examples", type=int, default=32, help="N, training examples")
    p.add_argument("--n-tokens", type=int, default=20, help="prompt length n")
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per measurement (median reported)")
    p.add_argument("--budgets", type=int, nargs="*", default=[1024, 2048, 4096, 8192, 16384, 1 << 30])
    p.add_argument("--no-bf16", action="store_true", help="skip the bf16 section")
    p.add_argument("--quick", action="store_true", help="1 repeat, 3 budgets, layers 0, L/2, L-1")
    p.add_argument("--sections", nargs="*", default=list(SECTIONS), choices=SECTIONS, help="what to run")
    p.add_argument("--service", action="store_true", help="benchmark the HTTP service instead (starts a server)")
    p.add_argument("--seconds", type=float, default=20.0, help="--service: seconds per throughput window")
    p.add_argument("--rounds", type=int, default=3, help="--service: alternating 1-client / 4-client windows")
    return p.parse_args(argv)


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def gemm_ceiling(n: int = 2048, repeats: int = 5) -> float:
    """Best fp32 FLOP/s of an ``n x n @ n x n`` matmul."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t0))
    return best


def linear_weights_per_layer(backbone) -> int:  # noqa: ANN001
    """Sum of in*out over the Linear modules of one layer (2 FLOPs per weight per token)."""
    return sum(m.in_features * m.out_features for m in backbone.layers[0].modules() if isinstance(m, torch.nn.Linear))


def flops(backbone, tokens: int, pairs: int) -> float:  # noqa: ANN001
    """Model FLOPs for ``tokens`` token-layers and ``pairs`` attention pairs (QK^T and AV: 4*h per pair)."""
    return 2.0 * tokens * linear_weights_per_layer(backbone) + 4.0 * pairs * backbone.hidden


def load(args: argparse.Namespace):  # noqa: ANN201
    from bbt_mp2.backbones import load_backbone
    from bbt_mp2.heads import MRCHead
    from bbt_mp2.local_backend import LocalBackend
    from bbt_mp2.tasks import fewshot, get_task

    backbone = load_backbone(args.backbone)
    head = MRCHead(backbone.hidden, seed=0)
    split = fewshot(args.task, args.seed)
    examples = (split.train + split.dev)[: args.examples]
    backend = LocalBackend(backbone, head)
    data = backend.dataset(backend.register(get_task(args.task), examples, n_tokens=args.n_tokens,
                                            max_length=args.max_length))
    return backbone, head, data


def row(*cells: object) -> None:
    print("  ".join(f"{c:>14}" if not isinstance(c, str) else f"{c:<34}" if i == 0 else f"{c:>14}"
                    for i, c in enumerate(cells)), flush=True)


def section_throughput(args, backbone, head, data, prompts, ceiling) -> float:  # noqa: ANN001
    print("\n## population evaluation (all candidates differ at layer 0), fp32")
    print("(ceiling re-measured just before each row: on a shared machine the start-of-run value drifts)")
    row("token budget", "seconds", "exec GFLOP/s", "ceiling GFLOP/s", "exec/ceiling", "useful/ceiling")
    lengths = data.attention_mask.sum(1)
    useful_one = flops(backbone, int(lengths.sum()), int((lengths**2).sum())) * backbone.n_layers
    useful = useful_one * prompts.shape[0]
    default_time = float("nan")
    for budget in args.budgets:
        ev = Evaluator(backbone, head, token_budget=budget)
        ev.evaluate(data, prompts, (0,))
        ceiling = gemm_ceiling(repeats=3)
        w0 = (ev.work.tokens, ev.work.pairs)
        secs = timed(lambda ev=ev: ev.evaluate(data, prompts, (0,)), args.repeats)
        done = flops(backbone, ev.work.tokens - w0[0], ev.work.pairs - w0[1]) / (args.repeats + 1)
        label = f"{budget}" + (" (default)" if budget == DEFAULT_TOKEN_BUDGET else "")
        label = "one batch" if budget >= 1 << 30 else label
        row(label, f"{secs:.3f}", f"{done / secs / 1e9:.1f}", f"{ceiling / 1e9:.1f}", f"{done / secs / ceiling:.1%}",
            f"{useful / secs / ceiling:.1%}")
        if budget == DEFAULT_TOKEN_BUDGET:
            default_time = secs
    return default_time


def section_serial(args, backbone, head, data, prompts) -> None:  # noqa: ANN001
    print("\n## population-batched vs serial (one candidate per call), fp32, default budget")
    ev = Evaluator(backbone, head)
    batched = timed(lambda: ev.evaluate(data, prompts, (0,)), args.repeats)
    serial = timed(lambda: [ev.evaluate(data, prompts[p : p + 1], (0,)) for p in range(len(prompts))],
                   max(1, args.repeats // 2))
    row("mode", "seconds", "ratio")
    row("batched", f"{batched:.3f}", "1.00")
    row("serial", f"{serial:.3f}", f"{serial / batched:.2f}x")


def section_prefix(args, backbone, head, data) -> None:  # noqa: ANN001
    n_layers, p_count = backbone.n_layers, args.population
    layers = tuple(range(n_layers))
    visit = [0, n_layers // 2, n_layers - 1] if args.quick else list(range(n_layers))
    print("\n## divide-and-conquer generation at layer l: shared prefix vs plain, fp32 (deep prompt, all layers)")
    row("layer l", "plain s", "cold s", "warm s", "ideal L/(L-l)", "warm ratio", "warm/ideal", "cold ratio")
    gen = torch.Generator().manual_seed(1)
    for layer in visit:
        prompts = 0.02 * torch.randn(p_count, n_layers, data.n_tokens, backbone.hidden, generator=gen)
        prompts[:, :layer] = prompts[0, :layer]
        plain_ev = Evaluator(backbone, head, shared_prefix=False, cache_size=0)
        plain = timed(lambda ev=plain_ev, pr=prompts: ev.evaluate(data, pr, layers), args.repeats)
        cold_ev = Evaluator(backbone, head, cache_size=0)
        cold = timed(lambda ev=cold_ev, pr=prompts: ev.evaluate(data, pr, layers), args.repeats)
        warm_ev = Evaluator(backbone, head)
        warm = timed(lambda ev=warm_ev, pr=prompts: ev.evaluate(data, pr, layers), args.repeats)
        ideal = n_layers / (n_layers - layer)
        row(str(layer), f"{plain:.3f}", f"{cold:.3f}", f"{warm:.3f}", f"{ideal:.2f}", f"{plain / warm:.2f}",
            f"{plain / warm / ideal:.1%}", f"{plain / cold:.2f}")


def section_bf16(args, backbone, head, data, prompts, fp32_time: float) -> None:  # noqa: ANN001
    print("\n## bf16 vs fp32 (default budget)")
    fp32 = Evaluator(backbone, head)
    bf16 = Evaluator(backbone, head, dtype=torch.bfloat16)
    s32 = fp32.option_scores(data, prompts, (0,))
    s16 = bf16.option_scores(data, prompts, (0,))
    agree = float((s32.argmax(-1) == s16.argmax(-1)).float().mean())
    t16 = timed(lambda: bf16.evaluate(data, prompts, (0,)), max(1, args.repeats // 2))
    row("dtype", "seconds", "throughput x", "same prediction")
    row("fp32", f"{fp32_time:.3f}", "1.00", "")
    row("bf16", f"{t16:.3f}", f"{fp32_time / t16:.2f}", f"{agree:.1%}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.service:
        from benchmarks.perf_service import run_service_benchmark

        run_service_benchmark(args)
        return 0
    if args.quick:
        args.repeats, args.budgets = 1, sorted({2048, DEFAULT_TOKEN_BUDGET, 1 << 30})
    if DEFAULT_TOKEN_BUDGET not in args.budgets:
        args.budgets.append(DEFAULT_TOKEN_BUDGET)
    torch.set_num_threads(args.threads)
    backbone, head, data = load(args)
    lengths = data.attention_mask.sum(1)
    print(f"# bbt-mp2 perf: {args.backbone}, {args.task} seed {args.seed}, P={args.population}, N={len(data)}, "
          f"n={args.n_tokens}, real length {lengths.min()}-{lengths.max()} (mean {lengths.mean():.1f}), "
          f"{args.threads} threads, torch {torch.__version__}")
    ceiling = gemm_ceiling()
    print(f"\nfp32 GEMM ceiling (2048^3 matmul, best of 5): {ceiling / 1e9:.1f} GFLOP/s")
    gen = torch.Generator().manual_seed(0)
    prompts = 0.02 * torch.randn(args.population, 1, args.n_tokens, backbone.hidden, generator=gen)
    fp32_time = float("nan")
    if "throughput" in args.sections:
        fp32_time = section_throughput(args, backbone, head, data, prompts, ceiling)
    if "serial" in args.sections:
        section_serial(args, backbone, head, data, prompts)
    if "prefix" in args.sections:
        section_prefix(args, backbone, head, data)
    if "bf16" in args.sections and not args.no_bf16:
        if fp32_time != fp32_time:  # NaN: throughput section skipped
            ev = Evaluator(backbone, head)
            fp32_time = timed(lambda: ev.evaluate(data, prompts, (0,)), args.repeats)
        section_bf16(args, backbone, head, data, prompts, fp32_time)
    after = gemm_ceiling()
    print(f"\nfp32 GEMM ceiling at the end: {after / 1e9:.1f} GFLOP/s (start {ceiling / 1e9:.1f}; a large drift means "
          "other load on the machine)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
