"""MP2 black-box tuning: two-stage shallow/deep (BO-UCB over routers, then CMA-ES over z) and router-only."""

from __future__ import annotations

from bbt_mp2.methods.mp2.config import ROUTINGS, MP2DeepConfig, MP2RouterConfig, MP2ShallowConfig
from bbt_mp2.methods.mp2.method import MP2DeepMethod, MP2RouterMethod, MP2ShallowMethod, route
from bbt_mp2.methods.registry import register_method, register_preset

__all__ = [
    "ROUTINGS",
    "MP2ShallowConfig",
    "MP2DeepConfig",
    "MP2RouterConfig",
    "MP2ShallowMethod",
    "MP2DeepMethod",
    "MP2RouterMethod",
    "route",
]

register_method("mp2-shallow", MP2ShallowConfig, MP2ShallowMethod)
register_method("mp2-deep", MP2DeepConfig, MP2DeepMethod)
register_method("mp2-router", MP2RouterConfig, MP2RouterMethod)

# paper = the MP2 paper's Appendix A.2: 8K calls (200 / 100 of them stage I, BO-UCB kappa 2), shallow sigma 0.1,
# deep sigma 5e-2 (embedding layer) / 1e-2 (other layers); binary routing at inference (the paper's w > 0).
# The paper states no stage-II bounds; the deep preset keeps the reference code's +-5.
register_preset("paper", "mp2-shallow", {"budget": 8000, "budget_router": 200, "sigma": 0.1, "routing": "binary"})
register_preset(
    "paper", "mp2-deep",
    {"budget": 8000, "budget_router": 100, "sigma": 5e-2, "sigma_rest": 1e-2, "bound": 5.0, "routing": "binary"},
)
register_preset("paper", "mp2-router", {"budget": 200, "routing": "binary"})
