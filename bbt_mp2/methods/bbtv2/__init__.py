"""BBTv2: a prompt at every layer, per-layer normal projections, divide-and-conquer CMA-ES."""

from __future__ import annotations

from bbt_mp2.methods.bbtv2.config import BBTv2Config
from bbt_mp2.methods.bbtv2.method import BBTv2Method
from bbt_mp2.methods.registry import register_method, register_preset

__all__ = ["BBTv2Config", "BBTv2Method"]

register_method("bbtv2", BBTv2Config, BBTv2Method)
# paper = BBTv2 paper-era code (before the Oct-2022 rework): sigma1 = 1 (layer 0), sigma2 = 0.2, alpha 1, 8,000 calls.
register_preset("paper", "bbtv2", {"budget": 8000, "sigma": 1.0, "sigma_rest": 0.2, "alpha": 1.0})
