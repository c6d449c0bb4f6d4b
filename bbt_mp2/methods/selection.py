"""The dev-selection rule of a tuning run: which dev-evaluated candidate becomes the run's tuned prompt.

Rules (the method setting ``selection``, recorded in ``config.json`` and ``result.json``):

- ``metric`` (default): every ``eval_every`` stage calls (and at the end of each stage) the optimizer's incumbent
  is scored on dev; it is selected when its dev metric is higher than the selection's, or equal with a lower dev
  loss. Discrete dev metrics on small dev sets tie often (32 examples: steps of 1/32); without the loss tie-break
  a stage that lowers the loss but not the accuracy is thrown away, and the next stage restarts from the untuned
  point.
- ``loss``: the incumbent is selected when its dev loss is lower (the metric is reported, not used).
- ``current``: the reference code's rule: at every call count that is a multiple of ``eval_every`` the candidate
  scored at that call (not the incumbent) is scored on dev and selected on a strict dev-metric improvement; at the
  end of a stage, the last scored candidate.

The untuned starting point is always the first selection.
"""

from __future__ import annotations

import math

from bbt_mp2.errors import ConfigError

__all__ = ["SELECTION_RULES", "check_selection", "improves", "current_index"]

SELECTION_RULES = ("metric", "loss", "current")


def check_selection(rule: str, method: str = "") -> None:
    """Raise :class:`ConfigError` unless ``rule`` is one of :data:`SELECTION_RULES`."""
    if rule not in SELECTION_RULES:
        raise ConfigError(f"{method + ': ' if method else ''}selection {rule!r} is unknown; choose one of "
                          f"{SELECTION_RULES}")


def improves(rule: str, metric: float, loss: float, selected_metric: float, selected_loss: float | None) -> bool:
    """Whether a dev result ``(metric, loss)`` replaces the selection ``(selected_metric, selected_loss)``.

    ``selected_loss`` None (a selection recorded without a dev loss) counts as +inf; a NaN loss never wins.
    """
    sel_loss = math.inf if selected_loss is None else float(selected_loss)
    if rule == "loss":
        return loss < sel_loss
    if rule == "metric":
        return metric > selected_metric or (metric == selected_metric and loss < sel_loss)
    if rule == "current":
        return metric > selected_metric
    check_selection(rule)
    return False


def current_index(calls_before: int, population: int, eval_every: int) -> int | None:
    """Row of a generation scored at a call count that is a multiple of ``eval_every`` (the last such row).

    Args:
        calls_before: stage calls before this generation.
        population: candidates in this generation (calls ``calls_before + 1 .. calls_before + population``).
        eval_every: dev period in calls.

    Returns:
        The row index in ``0..population-1``, or None when no call of the generation falls on the period.
    """
    last = (calls_before + population) // eval_every * eval_every
    return last - calls_before - 1 if last > calls_before else None
