"""The calibration machinery (``brainsweep.inference.sbc.calibrate``) against analytic answers.

A conjugate Gaussian model: theta ~ N(0, TAU^2 I_d), x = theta + N(0, SIGMA^2 I_d), so the exact
posterior is N(w x, s^2 I_d) with w = TAU^2 / (TAU^2 + SIGMA^2) and s^2 = w SIGMA^2. A posterior
whose spread is scaled by ``c`` puts the truth inside its alpha highest-density region when
|theta - w x|^2 / (c s)^2 <= chi2_d.ppf(alpha); |theta - w x|^2 / s^2 is chi2_d-distributed, so
the expected coverage is chi2_d.cdf(c^2 chi2_d.ppf(alpha)): alpha for the exact posterior
(c = 1), less for an overconfident one (c < 1). No network is trained: these tests check the
ranks and coverage, not an estimator.
"""

import numpy as np
import pytest
from scipy import stats

pytest.importorskip("sbi")

import torch  # noqa: E402

from brainsweep.inference.sbc import LEVELS, calibrate  # noqa: E402

TAU, SIGMA, D, N = 1.0, 0.5, 2, 400
W = TAU**2 / (TAU**2 + SIGMA**2)
S = np.sqrt(W) * SIGMA


class _ScaledGaussianPosterior:
    """sbi's posterior protocol (``sample_batched``, ``log_prob``) for N(w x, (c s)^2 I)."""

    def __init__(self, c: float, shift: float = 0.0):
        self.c, self.shift = c, shift

    def _dist(self, x):
        return torch.distributions.Normal(W * x + self.shift, self.c * S)

    def sample_batched(self, sample_shape, x, **_):
        return self._dist(x).sample(sample_shape)          # (n, batch, d)

    def log_prob(self, theta, x, **_):
        return self._dist(x).log_prob(theta).sum(-1)


class _Wrapper:
    """What ``calibrate`` reads of a brainsweep ``Posterior``."""

    def __init__(self, sbi_posterior):
        self.sbi_posterior, self.threads, self.names = sbi_posterior, 1, [f"t{j}" for j in range(D)]


def _heldout(seed=0):
    rng = np.random.default_rng(seed)
    theta = TAU * rng.standard_normal((N, D))
    return theta, theta + SIGMA * rng.standard_normal((N, D))


def _expected_coverage(c, levels):
    return stats.chi2.cdf(c**2 * stats.chi2.ppf(levels, D), D)


@pytest.mark.parametrize("c", [1.0, 0.6, 1.6])
def test_coverage_matches_the_analytic_curve(c):
    theta, x = _heldout()
    r = calibrate(_Wrapper(_ScaledGaussianPosterior(c)), theta, x, num_samples=400, seed=1)
    expected = _expected_coverage(c, r["levels"])
    binom_sd = np.sqrt(expected * (1 - expected) / N)
    # 400 truths: binomial sd <= 0.025; ranks among 400 samples add <= 1/400 of resolution
    assert np.all(np.abs(r["coverage"] - expected) < 4 * binom_sd + 0.01), (r["coverage"], expected)
    assert r["ranks"].shape == (N, D) and r["ranks"].min() >= 0 and r["ranks"].max() <= 400


def test_exact_posterior_has_uniform_ranks_and_miscalibrated_ones_do_not():
    theta, x = _heldout(seed=2)
    exact = calibrate(_Wrapper(_ScaledGaussianPosterior(1.0)), theta, x, num_samples=300, seed=3)
    assert np.all(exact["ks_pvals"] > 0.01), exact["ks_pvals"]
    narrow = calibrate(_Wrapper(_ScaledGaussianPosterior(0.5)), theta, x, num_samples=300, seed=3)
    assert np.all(narrow["ks_pvals"] < 1e-4), narrow["ks_pvals"]
    # overconfident: the truth lands in the tails, ranks pile up at 0 and at the top
    tails = np.mean((narrow["ranks"] < 30) | (narrow["ranks"] >= 270))
    assert tails > 2 * 0.2, tails
    biased = calibrate(_Wrapper(_ScaledGaussianPosterior(1.0, shift=0.5 * S)), theta, x, num_samples=300, seed=3)
    # shifted up by 0.5 sd: the truth's rank fraction is Phi(z - 0.5) with z ~ N(0, 1), mean
    # Phi(-0.5 / sqrt(2)) = 0.362 (sd of a mean over 400 truths about 0.015)
    expected = stats.norm.cdf(-0.5 / np.sqrt(2))
    assert np.all(np.abs(biased["ranks"].mean(axis=0) / 300 - expected) < 0.06), biased["ranks"].mean(axis=0)
    assert np.all(biased["ks_pvals"] < 0.01), biased["ks_pvals"]


def test_levels_include_the_reported_ones():
    levels = list(np.round(LEVELS, 2))
    assert 0.5 in levels and 0.9 in levels
