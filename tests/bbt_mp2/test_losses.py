"""Population losses against straightforward per-candidate, per-example loops."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from bbt_mp2.errors import ConfigError, ShapeError
from bbt_mp2.losses import neg_metric, option_ce, option_margin, resolve_loss, span_ce


@pytest.fixture(autouse=True, scope="module")
def _one_thread():  # noqa: ANN202 - tiny ops on a shared 2-core machine are far faster on one thread
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)



@pytest.fixture()
def scores() -> torch.Tensor:
    return torch.randn(4, 6, 3, generator=torch.Generator().manual_seed(0))  # P x N x C


LABELS = torch.tensor([0, 2, 1, 1, 0, 2])


def test_option_ce_equals_cross_entropy_per_candidate(scores: torch.Tensor) -> None:
    got = option_ce(scores, LABELS)
    want = torch.stack([F.cross_entropy(scores[p], LABELS) for p in range(scores.shape[0])])
    torch.testing.assert_close(got, want)
    assert option_ce(scores, LABELS, reduction="none").shape == (4, 6)


def test_option_ce_ignores_padded_options(scores: torch.Tensor) -> None:
    padded = scores.clone()
    padded[:, :, 2] = float("-inf")
    labels = torch.tensor([0, 1, 1, 0, 0, 1])
    want = torch.stack([F.cross_entropy(scores[p, :, :2], labels) for p in range(4)])
    torch.testing.assert_close(option_ce(padded, labels), want)


def test_option_margin_matches_hinge_loop(scores: torch.Tensor) -> None:
    got = option_margin(scores, LABELS)
    for p in range(scores.shape[0]):
        total = 0.0
        for i, y in enumerate(LABELS.tolist()):
            total += sum(max(0.0, float(scores[p, i, j] - scores[p, i, y]) + 2.0) for j in range(3) if j != y)
        assert math.isclose(float(got[p]), total / len(LABELS), rel_tol=1e-5)


def test_option_margin_padded_option_contributes_nothing(scores: torch.Tensor) -> None:
    padded = scores.clone()
    padded[:, :, 2] = float("-inf")
    labels = torch.tensor([0, 1, 1, 0, 0, 1])
    torch.testing.assert_close(option_margin(padded, labels), option_margin(scores[:, :, :2], labels))


def test_span_ce_matches_per_example_cross_entropy() -> None:
    g = torch.Generator().manual_seed(1)
    start, end = torch.randn(3, 4, 7, generator=g), torch.randn(3, 4, 7, generator=g)
    lengths = [7, 5, 4, 6]
    mask = torch.tensor([[1] * n + [0] * (7 - n) for n in lengths])
    sp, ep = torch.tensor([1, 2, 0, 5]), torch.tensor([2, 4, 3, 5])
    got = span_ce(start, end, sp, ep, mask)
    for p in range(3):
        vals = []
        for i, n in enumerate(lengths):
            cs = F.cross_entropy(start[p, i, :n][None], sp[i : i + 1])
            ce = F.cross_entropy(end[p, i, :n][None], ep[i : i + 1])
            vals.append((cs + ce) / 2)
        assert math.isclose(float(got[p]), float(torch.stack(vals).mean()), rel_tol=1e-5)


def test_losses_are_float32_for_bf16_inputs(scores: torch.Tensor) -> None:
    assert option_ce(scores.bfloat16(), LABELS).dtype == torch.float32
    assert neg_metric(torch.tensor([0.5, 0.25])).tolist() == [-0.5, -0.25]


def test_resolve_loss() -> None:
    assert resolve_loss("auto", 2) == "option_ce"
    assert resolve_loss("auto", 0) == "span_ce"
    assert resolve_loss("span_ce", 3) == "span_ce"
    with pytest.raises(ConfigError, match="loss 'hinge' is unknown"):
        resolve_loss("hinge", 2)
    with pytest.raises(ConfigError, match="needs an option task"):
        resolve_loss("option_margin", 0)


def test_bad_labels_raise(scores: torch.Tensor) -> None:
    with pytest.raises(ShapeError, match="labels must lie in"):
        option_ce(scores, torch.tensor([0, 3, 1, 1, 0, 2]))
    with pytest.raises(ShapeError, match="expected \\(6,\\)"):
        option_margin(scores, torch.tensor([0, 1]))
