"""Posterior predictive check: re-simulate parameter draws and compare their features with x_obs."""

from __future__ import annotations

import numpy as np

from ..explorer.runner import FunctionEvaluator, run_seed
from ._evaluator import N_FEATURES, FeatureEvaluator, feature_key
from ..explorer.pernode import PerNodeEvaluation, model_evaluation

__all__ = ["predictive_check", "plot_predictive", "simulate_features"]


def predictive_check(evaluate, space, features, params, x_obs, seed: int = 0, run_kwargs: dict | None = None,
                     keep=None) -> dict:
    """Simulate ``params`` (``(n, d)`` parameter values in ``space.names`` order, e.g. posterior
    samples) with ``evaluate`` (a brainsweep model, with ``run_kwargs``, a plain function, or a
    study's evaluator) and compare their ``features`` with ``x_obs``.

    Returns ``x`` (n, k; NaN rows for runs that failed or diverged), ``status`` (n), ``quantile``
    (k: fraction of finite simulated values below x_obs; near 0 or 1 flags a feature the posterior
    does not reproduce), ``z`` (k: (x_obs - mean) / std of the simulated values) and ``x_obs``."""
    x_obs = np.asarray(x_obs, dtype=float).ravel()
    x, status = simulate_features(_evaluator(evaluate, space, run_kwargs, keep), space, features, params, seed)
    if x.shape[1] != x_obs.size:
        raise ValueError(f"x_obs has {x_obs.size} features but the simulations give {x.shape[1]}")
    finite = np.all(np.isfinite(x), axis=1)
    sims = x[finite]
    if not len(sims):
        raise ValueError(f"predictive_check: none of the {len(x)} simulations gave finite features "
                         f"(statuses {sorted(set(status.tolist()))})")
    std = sims.std(axis=0)
    return {"x": x, "status": status, "x_obs": x_obs,
            "quantile": (sims < x_obs).mean(axis=0),
            "z": np.where(std > 0, (x_obs - sims.mean(axis=0)) / np.where(std > 0, std, 1.0), np.nan)}


def simulate_features(evaluator, space, features, params, seed: int = 0, first_idx: int = 0):
    """Run ``evaluator`` (a study's evaluation) at each row of ``params`` (parameter values in
    ``space.names`` order), run ``first_idx + i`` seeded ``run_seed(seed, first_idx + i)``, and
    return ``(x, status)``: the ``features`` of each run (n, k; NaN rows where a run failed or
    its features are not all finite) and each run's status."""
    names = list(space.names)
    values = np.atleast_2d(np.asarray(params, dtype=float))
    if values.shape[1] != len(names):
        raise ValueError(f"params: expected {len(names)} columns ({names}), got shape {values.shape}")
    ev = evaluator if isinstance(evaluator, FeatureEvaluator) else FeatureEvaluator(evaluator, features)
    ints = {d.name for d in space.dimensions if getattr(d, "is_integer", False)}
    tasks = [(i, {n: (int(round(v)) if n in ints else float(v)) for n, v in zip(names, row)},
              run_seed(seed, first_idx + i)) for i, row in enumerate(values)]
    records = ev.evaluate_chunk(tasks)
    k = next((int(r.scalars[N_FEATURES]) for r in records if r.status == "ok" and N_FEATURES in r.scalars), 0)
    x = np.full((len(tasks), k), np.nan)
    for rec in records:
        n = rec.scalars.get(N_FEATURES)
        if rec.status == "ok" and n is not None:
            if n != k:
                raise ValueError(f"features of inconsistent length: {n} and {k} values")
            x[rec.idx] = [rec.scalars[feature_key(j, n)] for j in range(n)]
    return x, np.array([r.status for r in sorted(records, key=lambda r: r.idx)])


def _evaluator(evaluate, space, run_kwargs, keep):
    from ..explorer.model_eval import ModelEvaluation
    if isinstance(evaluate, (ModelEvaluation, PerNodeEvaluation, FunctionEvaluator, FeatureEvaluator)):
        if run_kwargs is not None or keep is not None:
            raise ValueError("run_kwargs and keep: a study's evaluator already has them")
        return evaluate
    if hasattr(evaluate, "run_batch") and hasattr(evaluate, "params"):
        return model_evaluation(evaluate, space, run_kwargs=run_kwargs, keep=keep)
    if run_kwargs is not None or keep is not None:
        raise ValueError("run_kwargs and keep are for a brainsweep model; a plain function takes neither")
    return FunctionEvaluator(evaluate, fixed=space.fixed)


def plot_predictive(check: dict, labels=None):
    """Simulated features (median and 5-95 % band per feature) against ``x_obs``; returns the figure."""
    import matplotlib.pyplot as plt
    sims = check["x"][np.all(np.isfinite(check["x"]), axis=1)]
    k = sims.shape[1]
    idx = np.arange(k)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.25 * k + 2), 3.0))
    lo, med, hi = np.percentile(sims, [5, 50, 95], axis=0)
    ax.fill_between(idx, lo, hi, color="C0", alpha=0.3, step="mid", label="simulated 5-95 %")
    ax.plot(idx, med, "C0", drawstyle="steps-mid", label="simulated median")
    ax.plot(idx, check["x_obs"], "C3o", ms=3, label="observed")
    ax.set_xticks(idx if labels is not None else idx[:: max(1, k // 10)])
    if labels is not None:
        ax.set_xticklabels(labels, rotation=90, fontsize=7)
    ax.set_xlabel("feature")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
