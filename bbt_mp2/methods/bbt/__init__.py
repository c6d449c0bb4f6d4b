"""BBT: one prompt at layer 0 through a fixed random projection, CMA-ES from 0."""

from __future__ import annotations

from bbt_mp2.methods.bbt.config import BBTConfig
from bbt_mp2.methods.bbt.method import BBTMethod
from bbt_mp2.methods.registry import register_method, register_preset

__all__ = ["BBTConfig", "BBTMethod"]

register_method("bbt", BBTConfig, BBTMethod)
# paper = the BBT paper's (ICML 2022) code of that time: uniform projection, sigma0 0.5, box +-5, 8,000 calls.
register_preset("paper", "bbt", {"budget": 8000, "projection": "uniform", "sigma": 0.5, "bound": 5.0})
