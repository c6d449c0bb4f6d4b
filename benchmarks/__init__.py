"""Benchmarks: perf (throughput ratios measured side by side), pre-training recipe evaluation."""
