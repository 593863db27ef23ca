"""Reading an SBI study file: its posterior, calibration and plots (functions of ``Results``)."""

from __future__ import annotations

import numpy as np

from ._posterior_io import Posterior, estimator_from_plain
from ._prior import BoxPrior

__all__ = ["posterior", "calibration", "plot_posterior", "plot_calibration_of", "training_data"]


def _results(res):
    from ..explorer import Results, load
    return res if isinstance(res, Results) else load(res)


def _state(res) -> dict:
    state = res.strategy_state
    if not isinstance(state, dict) or state.get("kind") != "sbi":
        raise ValueError(f"{res.path}: not a study of the SBI strategy (its strategy is "
                         f"{res.strategy.get('name')!r})")
    return state


def posterior(res, threads: int = 1) -> Posterior:
    """The trained posterior stored in an SBI study (``Results`` or a path), rebuilt in this
    process from the stored weights and configuration, without retraining or unpickling."""
    res = _results(res)
    state = _state(res)
    if state.get("estimator") is None:
        raise ValueError(f"{res.path}: the estimator is not trained yet ({len(state['theta'])} simulations "
                         f"told); run the study to its end")
    return Posterior(estimator_from_plain(state["estimator"]), BoxPrior(res.space), threads)


def training_data(res) -> dict:
    """The simulations as the strategy used them: ``theta`` (prior coordinates), ``params``
    (parameter units), ``x`` (features, NaN rows excluded), ``idx`` (run index), ``status``,
    ``holdout`` (True for calibration simulations)."""
    res = _results(res)
    state = _state(res)
    prior = BoxPrior(res.space)
    n_sim = int(res.strategy["simulations"]) * int(res.strategy.get("rounds", 1))
    theta = np.asarray(state["theta"], dtype=float)
    return {"theta": theta, "params": prior.to_params(theta) if len(theta) else theta, "x": state["x"],
            "idx": state["idx"], "status": state["status"], "holdout": np.arange(len(theta)) >= n_sim,
            "names": prior.names}


def calibration(res) -> dict:
    """The stored calibration of an SBI study (see :func:`.sbc.calibrate`)."""
    res = _results(res)
    result = _state(res).get("calibration")
    if result is None:
        raise ValueError(f"{res.path}: no calibration stored (SBI(calibration=...) was 0 or the study "
                         f"has not finished)")
    return result


def plot_calibration_of(res):
    """Rank histograms and expected coverage of an SBI study (see :func:`.sbc.plot_calibration`)."""
    from .sbc import plot_calibration
    return plot_calibration(calibration(res))


def plot_posterior(samples, names, truth=None, bins: int = 40):
    """Pair plot of posterior ``samples`` (n, d): marginal histograms on the diagonal, 2-D
    histograms below; ``truth`` (d values) marked in red. Returns the figure."""
    import matplotlib.pyplot as plt
    samples = np.asarray(samples, dtype=float)
    d = samples.shape[1]
    if len(names) != d:
        raise ValueError(f"names: {len(names)} names for {d} parameters")
    fig, axes = plt.subplots(d, d, figsize=(2.4 * d + 0.6, 2.4 * d + 0.4), squeeze=False)
    for i in range(d):
        for j in range(d):
            ax = axes[i, j]
            if j > i:
                ax.axis("off")
                continue
            if i == j:
                ax.hist(samples[:, i], bins=bins, color="C0", histtype="stepfilled", alpha=0.8)
                if truth is not None:
                    ax.axvline(truth[i], color="C3")
                ax.set_yticks([])
            else:
                ax.hist2d(samples[:, j], samples[:, i], bins=bins, cmap="Blues")
                if truth is not None:
                    ax.plot(truth[j], truth[i], "o", color="C3", ms=5)
            if i == d - 1:
                ax.set_xlabel(names[j])
            if j == 0 and i > 0:
                ax.set_ylabel(names[i])
    fig.tight_layout()
    return fig
