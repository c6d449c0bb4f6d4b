"""Bayesian optimisation with an upper-confidence-bound acquisition (MP2 stage I, router logits).

One BO step is three visible calls: fit a GP to every observed point (`fit_gpytorch_mll`), build the UCB
acquisition on it, maximise it with `optimize_acqf`. Minimisation of the loss is maximisation of `-loss`;
inputs are normalised to the unit cube and outcomes standardised inside the model. The first `n_init`
candidates are uniform in the box, drawn from this optimizer's own generator.

Determinism: step t runs under `botorch.utils.sampling.manual_seed(s_t)` (which restores torch's RNG state on
exit) with `s_t` derived from `(seed, t)`, and the GP is refit from scratch each step, so a step depends only
on the seed and the observed data; resume stores the observed data.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import warnings
from typing import Any

import numpy as np
import torch
from botorch.acquisition import AcquisitionFunction, UpperConfidenceBound, qUpperConfidenceBound
from botorch.exceptions import ModelFittingError
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms import Normalize, Standardize
from botorch.optim import optimize_acqf
from botorch.sampling import SobolQMCNormalSampler
from botorch.utils.sampling import manual_seed
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import Kernel, MaternKernel
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import LogNormalPrior

from optimizers.base import Optimizer
from optimizers.configs import OptimizerConfig
from optimizers.errors import ConfigError, ResumeError
from optimizers.registry import register_optimizer

__all__ = ["BOUCB", "BOUCBConfig", "kappa_to_beta"]

logger = logging.getLogger(__name__)

KERNELS = ("auto", "ard-rbf", "iso-matern52")
_SMALL_DIM = 32  # "auto" settings switch from the rich to the cheap GP/acquisition above this dimension


def kappa_to_beta(kappa: float) -> float:
    """BoTorch's UCB is `mu + sqrt(beta) * sigma`; the paper's `mu + kappa * sigma` needs `beta = kappa**2`.

    Args:
        kappa: exploration weight of the paper's UCB (MP2: 2.0), >= 0.

    Returns:
        beta for :class:`botorch.acquisition.UpperConfidenceBound` (kappa = 2 -> beta = 4).
    """
    if not math.isfinite(kappa) or kappa < 0:
        raise ConfigError(f"kappa must be a finite number >= 0; got {kappa!r}")
    return float(kappa) ** 2


@dataclasses.dataclass(frozen=True, kw_only=True)
class BOUCBConfig(OptimizerConfig):
    """BO-UCB settings (defaults = `reference`: bayes_opt as MPMP calls it, with cheaper acquisition search).

    Attributes:
        seed: seed of the initial design and of every GP fit / acquisition search (required).
        kappa: UCB exploration weight, `mu + kappa * sigma`.
        n_init: uniform random candidates before the GP is used.
        bounds: box [-bounds, bounds]^D searched.
        q: candidates per model-based ask (q > 1 uses the Monte-Carlo qUCB).
        kernel: "iso-matern52" (one length scale, Matern-5/2, as bayes_opt), "ard-rbf" (BoTorch's default:
            one length scale per dimension, dimension-scaled prior), or "auto" (ard-rbf for D <= 32, else iso).
        num_restarts: L-BFGS-B starts of the acquisition search; None = 10 for D <= 32, else 4.
        raw_samples: random points scored to choose those starts; None = 512 for D <= 32, else 256.
        maxiter: L-BFGS-B iterations per acquisition search.
        torch_threads: torch intra-op threads during a BO step (set, then restored); None = leave torch's
            setting. On a busy machine 1 is often fastest: these GPs are small.
    """

    kappa: float = 2.0  # UCB exploration weight (BoTorch beta = kappa ** 2)
    n_init: int = 20  # uniform random points before the GP
    bounds: float = 5.0  # box [-bounds, bounds]^D
    q: int = 1  # candidates per model-based ask
    kernel: str = "iso-matern52"  # GP kernel, see KERNELS
    num_restarts: int | None = None  # acquisition starts; None = by dimension
    raw_samples: int | None = None  # acquisition raw samples; None = by dimension
    maxiter: int = 200  # L-BFGS-B iterations of the acquisition search
    torch_threads: int | None = None  # torch threads during a step; None = unchanged

    def validate(self) -> None:
        super().validate()
        self._check_float("kappa", positive=False)
        if self.kappa < 0:
            self._fail("kappa", "a finite number >= 0", "The paper uses kappa=2.0.")
        self._check_int("n_init", minimum=1)
        self._check_float("bounds")
        self._check_int("q", minimum=1)
        self._check_choice("kernel", KERNELS)
        for name in ("num_restarts", "raw_samples"):
            if getattr(self, name) is not None:
                self._check_int(name, minimum=1)
        self._check_int("maxiter", minimum=1)
        if self.torch_threads is not None:
            self._check_int("torch_threads", minimum=1)

    def search_settings(self, dim: int) -> tuple[str, int, int]:
        """(kernel, num_restarts, raw_samples) resolved for dimension `dim`."""
        small = dim <= _SMALL_DIM
        kernel = self.kernel if self.kernel != "auto" else ("ard-rbf" if small else "iso-matern52")
        restarts = self.num_restarts if self.num_restarts is not None else (10 if small else 4)
        raw = self.raw_samples if self.raw_samples is not None else (512 if small else 256)
        return kernel, restarts, max(raw, restarts)


@register_optimizer("bo-ucb")
class BOUCB(Optimizer):
    """GP-UCB on a box: the `n_init` random candidates as one population, then `q` acquisition maximisers per ask.

    With `q > 1` the `q` candidates of an ask maximise the Monte-Carlo qUCB jointly, so a generation of `q`
    candidates is scored in one backend request.

    Args:
        config: a :class:`BOUCBConfig`.
        dim: D.

    Example:
        >>> opt = BOUCB(BOUCBConfig(seed=0, n_init=5), dim=2)
        >>> for _ in range(4):
        ...     X = opt.ask()                     # 5 x 2 first (the initial design), then 1 x 2 (q = 1)
        ...     opt.tell(X, (X ** 2).sum(1))
    """

    config_cls = BOUCBConfig
    config: BOUCBConfig

    def __init__(self, config: BOUCBConfig, *, dim: int) -> None:
        super().__init__(config, dim=dim)
        b = config.bounds
        self._init_X = self._rng.uniform(-b, b, size=(config.n_init, self.dim))
        self._X = np.zeros((0, self.dim))
        self._losses = np.zeros(0)
        self.last_step_seconds = 0.0  # wall time of the last model-based ask (fit + acquisition search)

    @property
    def observed(self) -> tuple[np.ndarray, np.ndarray]:
        """All told points and losses: (`N x D` float64, `N` float64)."""
        return self._X.copy(), self._losses.copy()

    def _ask(self) -> np.ndarray:
        n = self._X.shape[0]
        if n < self.config.n_init:  # the rest of the initial design, as one population (one request)
            return self._init_X[n:]
        start = time.perf_counter()
        step_seed = int(np.random.SeedSequence([self.config.seed, n]).generate_state(1)[0] % (2**31))
        threads = torch.get_num_threads()
        try:
            if self.config.torch_threads is not None:
                torch.set_num_threads(self.config.torch_threads)
            with manual_seed(step_seed), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # BoTorch's numerical/optimisation warnings; failures still raise
                model = self._fit_model()
                acquisition = self._acquisition(model, step_seed)
                candidates = self._maximize(acquisition, step_seed)
        finally:
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
        self.last_step_seconds = time.perf_counter() - start
        logger.debug("BO step with %d points in D=%d took %.2f s", n, self.dim, self.last_step_seconds)
        return candidates

    def _fit_model(self) -> SingleTaskGP:
        """GP on the observed points: inputs scaled to [0, 1]^D, outcome -loss standardised."""
        box = self._box()
        train_X = torch.from_numpy(self._X).to(torch.float64)
        train_Y = torch.from_numpy(-self._losses).to(torch.float64).unsqueeze(-1)
        kernel, _, _ = self.config.search_settings(self.dim)
        model = SingleTaskGP(train_X, train_Y, covar_module=_make_kernel(kernel, self.dim),
                             input_transform=Normalize(d=self.dim, bounds=box), outcome_transform=Standardize(m=1))
        try:
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        except ModelFittingError as exc:  # keep the prior-mode hyperparameters
            logger.warning("GP fit failed with %d points (%s); using unfitted hyperparameters", len(self._X), exc)
        return model

    def _acquisition(self, model: SingleTaskGP, step_seed: int) -> AcquisitionFunction:
        beta = kappa_to_beta(self.config.kappa)
        if self.config.q == 1:
            return UpperConfidenceBound(model, beta=beta, maximize=True)
        sampler = SobolQMCNormalSampler(sample_shape=torch.Size([256]), seed=step_seed)
        return qUpperConfidenceBound(model, beta=beta, sampler=sampler)

    def _maximize(self, acquisition: AcquisitionFunction, step_seed: int) -> np.ndarray:
        _, restarts, raw = self.config.search_settings(self.dim)
        candidates, _ = optimize_acqf(acquisition, bounds=self._box(), q=self.config.q, num_restarts=restarts,
                                      raw_samples=raw, options={"seed": step_seed, "maxiter": self.config.maxiter})
        X = candidates.detach().cpu().numpy().astype(np.float64).reshape(self.config.q, self.dim)
        return np.clip(X, -self.config.bounds, self.config.bounds)

    def _box(self) -> torch.Tensor:
        b = self.config.bounds
        return torch.tensor([[-b] * self.dim, [b] * self.dim], dtype=torch.float64)

    def _tell(self, X: np.ndarray, losses: np.ndarray) -> None:
        self._X = np.vstack([self._X, X])
        self._losses = np.concatenate([self._losses, losses])

    def _state_dict(self) -> dict[str, Any]:
        return {"X": self._X.tolist(), "losses": self._losses.tolist()}

    def _load_state_dict(self, state: dict[str, Any]) -> None:
        X = np.asarray(state["X"], dtype=np.float64).reshape(-1, self.dim)
        losses = np.asarray(state["losses"], dtype=np.float64)
        if X.shape[0] != losses.shape[0] or X.shape[0] != self._n_evals:
            raise ResumeError(f"BO state has {X.shape[0]} points and {losses.shape[0]} losses; expected "
                              f"{self._n_evals} of each (the saved evaluation counter)")
        self._X, self._losses = X, losses


def _make_kernel(kind: str, dim: int) -> Kernel | None:
    """The GP covariance module (None = BoTorch's default ARD RBF with the dimension-scaled prior)."""
    if kind == "ard-rbf":
        return None
    prior = LogNormalPrior(loc=math.sqrt(2) + 0.5 * math.log(dim), scale=math.sqrt(3))
    return MaternKernel(nu=2.5, lengthscale_prior=prior,
                        lengthscale_constraint=GreaterThan(2.5e-2, transform=None, initial_value=prior.mode))
