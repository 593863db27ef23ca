"""Simulation-based calibration (SBC) ranks and expected coverage, from sbi's ``run_sbc``.

For held-out prior simulations (theta_i, x_i): each true parameter is ranked among
``num_samples`` posterior samples given x_i, per marginal (SBC, Talts et al. 2018) and by the
posterior density (sample-based expected coverage, Deistler et al. 2022). A calibrated posterior
gives uniform ranks (sbi's Kolmogorov-Smirnov p-values) and, at every credibility level alpha,
the truth inside the alpha highest-density region for a fraction alpha of the simulations.
"""

from __future__ import annotations

import numpy as np

__all__ = ["calibrate", "LEVELS", "plot_calibration"]

#: credibility levels at which the expected coverage is reported
LEVELS = np.round(np.linspace(0.05, 0.95, 19), 2)


def calibrate(posterior, theta: np.ndarray, x: np.ndarray, num_samples: int = 500,
              seed: int | None = None) -> dict:
    """SBC of ``posterior`` (:class:`~._posterior_io.Posterior`) on held-out ``theta`` (n, d;
    prior coordinates) and their features ``x`` (n, k). Returns plain data: ``ranks`` (n, d),
    ``ks_pvals`` (d), ``coverage_ranks`` (n), ``levels``, ``coverage`` (fraction of held-out
    truths inside each level's highest-density region), ``num_samples``, ``names``."""
    import time

    import torch
    from sbi.diagnostics import run_sbc
    from sbi.diagnostics.sbc import check_uniformity_frequentist
    from ._posterior_io import torch_threads

    t0 = time.perf_counter()
    theta = np.asarray(theta, dtype=float)
    x = np.asarray(x, dtype=float)
    if len(theta) != len(x) or len(theta) < 2:
        raise ValueError(f"calibrate: expected the same number (>= 2) of parameters and features, got "
                         f"{len(theta)} and {len(x)}")
    post = posterior.sbi_posterior
    d = theta.shape[1]

    def density(th, xi):
        return post.log_prob(th, x=xi, norm_posterior=False)

    reduce_fns = [(lambda th, xi, j=j: th[:, j]) for j in range(d)] + [density]
    with torch_threads(posterior.threads), torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(int(seed))
        with torch.no_grad():
            ranks, _ = run_sbc(torch.as_tensor(theta, dtype=torch.float32), torch.as_tensor(x, dtype=torch.float32),
                               post, num_posterior_samples=int(num_samples), reduce_fns=reduce_fns,
                               show_progress_bar=False)
    marginal = ranks[:, :d]
    ks = check_uniformity_frequentist(marginal, int(num_samples)).numpy().astype(float)
    cov_ranks = ranks[:, d].numpy().astype(float)
    coverage = np.array([np.mean(cov_ranks / num_samples >= 1.0 - a) for a in LEVELS])
    return {"ranks": marginal.numpy().astype(np.int64), "ks_pvals": ks, "coverage_ranks": cov_ranks.astype(np.int64),
            "levels": LEVELS.copy(), "coverage": coverage, "num_samples": int(num_samples),
            "n": int(len(theta)), "names": list(posterior.names), "seconds": time.perf_counter() - t0}


def plot_calibration(result: dict):
    """Rank histograms (one panel per parameter, with the 99 % band of uniform counts) and the
    expected-coverage curve (empirical vs nominal credibility). Returns the figure."""
    import matplotlib.pyplot as plt
    from scipy import stats

    ranks, names = np.asarray(result["ranks"]), list(result["names"])
    n, d = ranks.shape
    bins = max(5, min(20, n // 10))
    fig, axes = plt.subplots(1, d + 1, figsize=(3.0 * (d + 1), 2.8), squeeze=False)
    axes = axes[0]
    lo, hi = stats.binom.interval(0.99, n, 1.0 / bins)
    for j, ax in enumerate(axes[:d]):
        ax.axhspan(lo, hi, color="0.85", label="99 % uniform")
        ax.hist(ranks[:, j], bins=bins, range=(0, result["num_samples"]), color="C0", edgecolor="w")
        ax.set_title(f"{names[j]}  (KS p = {result['ks_pvals'][j]:.2f})", fontsize=9)
        ax.set_xlabel("rank of the truth")
    axes[0].set_ylabel("held-out simulations")
    ax = axes[d]
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="calibrated")
    ax.plot(result["levels"], result["coverage"], "C3o-", ms=3, label="empirical")
    ax.set_xlabel("credibility level")
    ax.set_ylabel("expected coverage")
    ax.set_title(f"expected coverage (n = {n})", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
