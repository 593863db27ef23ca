"""Reading an SBI study file: its posterior, calibration and plots (functions of ``Results``)."""

from __future__ import annotations

import numpy as np

from ..explorer.model_eval import ModelEvaluation
from ..explorer.pernode import PerNodeEvaluation, per_node_groups
from ._posterior_io import Posterior, estimator_from_plain
from ._prior import BoxPrior

__all__ = ["posterior", "calibration", "plot_posterior", "plot_calibration_of", "training_data", "check_calibration",
           "study_predictive_check", "READER"]


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
    ``holdout`` (True for calibration simulations), ``recalibration`` (True for the simulations
    the base distribution was refitted on, ``SBI(recalibration=...)``)."""
    res = _results(res)
    state = _state(res)
    prior = BoxPrior(res.space)
    n_sim = int(res.strategy["simulations"]) * int(res.strategy.get("rounds", 1))
    n_recal = int(res.strategy.get("recalibration", 0))  # older files: no key
    theta = np.asarray(state["theta"], dtype=float)
    i = np.arange(len(theta))
    return {"theta": theta, "params": prior.to_params(theta) if len(theta) else theta, "x": state["x"],
            "idx": state["idx"], "status": state["status"], "holdout": i >= n_sim + n_recal,
            "recalibration": (i >= n_sim) & (i < n_sim + n_recal), "names": prior.names}


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


def check_calibration(res, n: int | None = 200, num_samples: int = 500, seed: int = 0, features=None,
                      trust: bool = False, threads: int = 1) -> dict:
    """Simulation-based calibration of an SBI study's posterior on ``n`` held-out prior simulations.

    The study's own held-out simulations (``SBI(calibration=n)``) when it stored a calibration of
    that size (or ``n=None``); otherwise ``n`` fresh ones: parameters drawn from the prior
    (generator seeded by ``seed``), simulated by the study's evaluation rebuilt from the file
    (runs numbered after the stored ones, seeded as the study would have), features by the
    stored feature spec (a user's own feature callable: pass it as ``features``). Fresh
    simulations are not written to the (read-only) file. Returns :func:`.sbc.calibrate`'s dict.
    """
    from .predictive import simulate_features
    from .sbc import calibrate
    res = _results(res)
    stored = _state(res).get("calibration")
    if stored is not None and (n is None or int(stored["n"]) == int(n)):
        return stored
    if n is None or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n: expected a number >= 2 of held-out simulations, got {n!r}")
    post = posterior(res, threads)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xCA2]))
    theta = post.prior.sample(rng, int(n))
    evaluator = _study_evaluation(res, features, trust)
    x, _ = simulate_features(evaluator, res.space, None, post.prior.to_params(theta), seed=res.seed,
                             first_idx=res.n_registered)
    ok = np.all(np.isfinite(x), axis=1)
    if ok.sum() < 2:
        raise ValueError(f"check_calibration: only {int(ok.sum())} of {n} held-out simulations gave finite features")
    result = calibrate(post, theta[ok], x[ok], num_samples, seed)
    result["excluded"] = int((~ok).sum())
    return result


def study_predictive_check(res, samples, x_obs, seed: int = 0, features=None, trust: bool = False) -> dict:
    """:func:`.predictive.predictive_check` of ``samples`` (parameter units, ``res.space.names``
    order) with the study's own evaluation, rebuilt from the file, and its stored feature spec."""
    from .predictive import predictive_check
    res = _results(res)
    return predictive_check(_study_evaluation(res, features, trust), res.space, None, samples, x_obs, seed)


def _study_evaluation(res, features, trust: bool):
    """The study's evaluation (rebuilt from its plain reference; the pickle only with ``trust``)
    with its features: ``features`` or the stored spec of brainsweep's feature functions."""
    from ._evaluator import FeatureEvaluator
    from .features import from_spec
    evaluator = res.evaluator(trust=trust)
    if isinstance(evaluator, FeatureEvaluator) and features is None:
        return evaluator
    if features is None:
        spec = res.strategy.get("features")
        if not isinstance(spec, dict):
            raise ValueError(f"{res.path}: the study's features are a user's callable ({spec}), recorded by name "
                             f"only; pass the same function as features=")
        features = from_spec(spec)
    base = evaluator.base if isinstance(evaluator, FeatureEvaluator) else evaluator
    if isinstance(base, ModelEvaluation):  # the per-node mapping follows from the space's names
        groups = per_node_groups(base.model, res.space.names)
        base = PerNodeEvaluation(base, groups) if groups else base
    return FeatureEvaluator(base, features)


def plot_posterior_of(res, samples, truth=None, bins: int = 40):
    """:func:`plot_posterior` of ``samples`` (parameter units) with the study's parameter names;
    ``truth`` a dict by name or values in that order. Log-scaled parameters are drawn as
    log10(value), the scale their prior is uniform on."""
    prior = BoxPrior(_results(res).space)
    names = prior.names
    if isinstance(truth, dict):
        missing = [n for n in names if n not in truth]
        if missing:
            raise ValueError(f"truth: missing {missing} (expected {names})")
        truth = [truth[n] for n in names]
    logs = [scale == "log" for scale in prior.scales]
    samples = np.array(samples, dtype=float)
    samples[:, logs] = np.log10(samples[:, logs])
    if truth is not None:
        truth = [np.log10(v) if lg else v for v, lg in zip(truth, logs)]
    labels = [f"log10 {n}" if lg else n for n, lg in zip(names, logs)]
    return plot_posterior(samples, labels, truth=truth, bins=bins)


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


def _plot_calibration_method(res, result=None):
    from .sbc import plot_calibration
    return plot_calibration(calibration(res) if result is None else result)


#: the methods ``Results`` serves for SBI studies (registered by ``brainsweep.inference``)
READER = {"posterior": posterior, "plot_posterior": plot_posterior_of, "check_calibration": check_calibration,
          "plot_calibration": _plot_calibration_method, "predictive_check": study_predictive_check,
          "training_data": training_data}
