"""Plots and summaries of optimisation studies (evolution, Bayesian optimisation, gradient descent).

Every function takes the runs DataFrame of :class:`Results` (``df``: one row per
run with parameter columns, score columns, ``status`` and the strategy's
``generation`` or ``iteration`` column), returns a matplotlib ``Figure`` (made
without pyplot, so it works headless) or a DataFrame, and never changes ``df``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .plots import axis_label, figure

__all__ = ["plot_fitness", "plot_population", "plot_convergence", "plot_partial_dependence",
           "pareto_front", "plot_pareto", "generation_stats", "score_weight", "DECLARED_DIRECTIONS",
           "plot_loss", "plot_landscape"]

#: scores whose own definition says which way is better (+1 higher, -1 lower), matched by the
#: end of the name (``bold_fc_fit`` too); other scores without a strategy weight are minimised.
DECLARED_DIRECTIONS = {"fc_fit": 1.0, "fcd_ks": -1.0, "peak_frequency_error": -1.0, "spectral_loss": -1.0,
                       "dipole_rmse": -1.0, "dipole_corr_loss": -1.0}


def score_weight(strategy: dict, scores: Sequence[str], objective: str | None = None) -> tuple[str, float]:
    """``(objective, weight)`` of a stored study: weight > 0 when higher is better.

    ``strategy`` is the study's strategy config (``Results.strategy``), ``scores`` its score
    names. The direction comes from the strategy's weight of that objective (``Evolution
    (weights=...)``, ``BayesOpt(minimize=...)``; also when the strategy adopted the study's
    only score as its objective), else from the score's declared direction
    (:data:`DECLARED_DIRECTIONS`), else smaller is better. ``objective=None`` picks the
    strategy's first objective, or the only score.
    """
    objectives = list(strategy.get("objectives") or [])
    weights = [float(w) for w in (strategy.get("weights") or [])]
    scores = list(scores)
    adopted = not objectives and len(weights) == 1 and len(scores) == 1  # objectives=None, one score
    if objective is None:
        if objectives:
            objective = objectives[0]
        elif len(scores) == 1:
            objective = scores[0]
        else:
            raise ValueError(f"name the objective (scores: {scores})")
    if objective in objectives and len(weights) == len(objectives):
        return objective, weights[objectives.index(objective)]
    if adopted and objective == scores[0]:
        return objective, weights[0]
    declared = [w for s, w in DECLARED_DIRECTIONS.items() if objective == s or objective.endswith("_" + s)]
    return objective, (declared[0] if declared else -1.0)


def _column(df: pd.DataFrame, name: str, what: str) -> pd.Series:
    if name not in df.columns:
        raise KeyError(f"{what}: no column {name!r} in the runs table (columns: {list(df.columns)})")
    return df[name]


def _values(df: pd.DataFrame, objective: str) -> pd.Series:
    """The objective of ok runs with a finite value (float), indexed as ``df``."""
    col = pd.to_numeric(_column(df, objective, "objective"), errors="coerce").astype(float)
    ok = (df["status"] == "ok") if "status" in df.columns else pd.Series(True, index=df.index)
    col = col[ok.to_numpy(dtype=bool)]
    return col[np.isfinite(col.to_numpy())]


def _generation_column(df: pd.DataFrame) -> str:
    for name in ("generation", "iteration", "batch"):
        if name in df.columns:
            return name
    raise KeyError(f"no generation/iteration column in the runs table (columns: {list(df.columns)}); "
                   f"is this an optimisation study?")


def _as_list(objective, weights) -> tuple[list[str], list[float]]:
    objectives = [objective] if isinstance(objective, str) else list(objective)
    if weights is None:
        weights = [-1.0] * len(objectives)
    elif isinstance(weights, (int, float)):
        weights = [float(weights)]
    weights = [float(w) for w in weights]
    if len(weights) != len(objectives):
        raise ValueError(f"weights: {len(weights)} weight(s) for {len(objectives)} objective(s) {objectives}")
    if any(w == 0 or not np.isfinite(w) for w in weights):
        raise ValueError(f"weights: expected non-zero finite numbers, got {weights}")
    return objectives, weights


def generation_stats(df: pd.DataFrame, objective: str, weight: float = -1.0) -> pd.DataFrame:
    """Per generation: runs, failed runs, best / mean / std / 10th and 90th percentile of
    the objective over ok runs, and the best value found up to that generation.

    ``weight`` < 0 means smaller is better.
    """
    gen_col = _generation_column(df)
    gens = pd.to_numeric(df[gen_col], errors="coerce")
    vals = _values(df, objective)
    rows = []
    best_so_far = np.nan
    for g in sorted(gens.dropna().unique()):
        members = gens.index[(gens == g).to_numpy(dtype=bool)]
        v = vals.reindex(members).dropna().to_numpy()
        best = (v.min() if weight < 0 else v.max()) if len(v) else np.nan
        if np.isfinite(best):
            best_so_far = best if not np.isfinite(best_so_far) else (
                min(best_so_far, best) if weight < 0 else max(best_so_far, best))
        rows.append({gen_col: int(g), "runs": len(members), "failed": len(members) - len(v),
                     "best": best, "mean": v.mean() if len(v) else np.nan,
                     "std": v.std() if len(v) else np.nan,
                     "p10": np.percentile(v, 10) if len(v) else np.nan,
                     "p90": np.percentile(v, 90) if len(v) else np.nan, "best_so_far": best_so_far})
    return pd.DataFrame(rows).set_index(gen_col) if rows else pd.DataFrame()


def plot_fitness(df: pd.DataFrame, objective: str | Sequence[str], weights=(-1.0,), ax=None):
    """Objective over generations: best of each generation, best so far, mean, and the
    10-90 % spread (shaded) of the ok runs. Several objectives give one panel each.
    A negative weight minimises (best = lowest), a positive one maximises (best = highest)."""
    objectives, weights = _as_list(objective, weights)
    if not {"generation", "iteration"} & set(df.columns):
        raise ValueError("plot_fitness: the runs table has no generation (or iteration) column; fitness over "
                         "generations needs an optimisation study (Evolution, BayesOpt), not a grid")
    if ax is not None and len(objectives) > 1:
        raise ValueError("plot_fitness: ax= draws one objective; pass a single objective name")
    if ax is None:
        from matplotlib.figure import Figure
        fig = Figure(figsize=(5.5, 3.6 * len(objectives)), layout="constrained")
        axes = [fig.add_subplot(len(objectives), 1, i + 1) for i in range(len(objectives))]
    else:
        fig, axes = ax.figure, [ax]
    for name, w, a in zip(objectives, weights, axes):
        st = generation_stats(df, name, w)
        if st.empty:
            raise ValueError(f"plot_fitness: no generations in the runs table")
        g = st.index.to_numpy()
        a.fill_between(g, st["p10"], st["p90"], color="C0", alpha=0.2, label="10-90 %")
        a.plot(g, st["mean"], color="C0", label="mean")
        a.plot(g, st["best"], "o-", color="C1", ms=3, label="best of generation")
        a.plot(g, st["best_so_far"], "--", color="k", lw=1, label="best so far")
        a.set_xlabel(st.index.name)
        a.set_ylabel(f"{axis_label(name)}, {'minimised' if w < 0 else 'maximised'}")
        a.legend(fontsize="small")
    return fig


def _pick_generation(df: pd.DataFrame, generation: int) -> tuple[str, int]:
    gen_col = _generation_column(df)
    gens = sorted(int(g) for g in pd.to_numeric(df[gen_col], errors="coerce").dropna().unique())
    if not gens:
        raise ValueError("no generations in the runs table")
    if generation < 0:
        if -generation > len(gens):
            raise ValueError(f"generation={generation}: the study has {len(gens)} generations")
        return gen_col, gens[generation]
    if generation not in gens:
        raise ValueError(f"generation={generation} is not in the study (generations {gens[0]}..{gens[-1]})")
    return gen_col, generation


def plot_population(df: pd.DataFrame, x: str, y: str, generation: int = -1, color: str | None = None,
                    ax=None, units: dict | None = None):
    """Scatter of parameters ``x`` and ``y`` of one generation (``-1``: the last), over
    the earlier generations in grey; coloured by the score ``color`` if given; failed
    runs as red crosses. ``units``: {parameter: unit} for the axes."""
    if x == y:
        raise ValueError(f"plot_population: x and y are both {x!r}; choose two different parameters")
    xs, ys = _column(df, x, "x"), _column(df, y, "y")
    gen_col, g = _pick_generation(df, generation)
    gens = pd.to_numeric(df[gen_col], errors="coerce").to_numpy()
    fig, ax = figure(ax)
    earlier = gens < g
    ax.scatter(xs[earlier], ys[earlier], s=8, color="0.75", label="earlier generations")
    now = gens == g
    ok = now & (df["status"] == "ok").to_numpy() if "status" in df.columns else now
    if color is not None:
        c = pd.to_numeric(_column(df, color, "color"), errors="coerce").to_numpy()[ok]
        sc = ax.scatter(xs[ok], ys[ok], s=18, c=c, cmap="viridis", label=f"{gen_col} {g}")
        fig.colorbar(sc, ax=ax, label=axis_label(color))
    else:
        ax.scatter(xs[ok], ys[ok], s=18, color="C0", label=f"{gen_col} {g}")
    bad = now & ~ok
    if bad.any():
        ax.scatter(xs[bad], ys[bad], marker="x", color="C3", s=25, label="failed")
    ax.set_xlabel(axis_label(x, units))
    ax.set_ylabel(axis_label(y, units))
    ax.legend(fontsize="small")
    return fig


def plot_convergence(df: pd.DataFrame, objective: str, minimize: bool = True, ax=None, log=None):
    """Best objective found so far against the number of evaluations (run order), with
    every ok evaluation as a dot and failed ones as red ticks; ``log`` y-axis by default
    when all values are positive and span more than two decades. ``minimize=False``
    follows the highest value ("max so far")."""
    vals = pd.to_numeric(_column(df, objective, "objective"), errors="coerce").astype(float)
    vals = vals.sort_index()
    ok = np.isfinite(vals.to_numpy())
    if "status" in df.columns:
        ok &= (df["status"].reindex(vals.index) == "ok").to_numpy()
    n = np.arange(1, len(vals) + 1)
    v = np.where(ok, vals.to_numpy(), np.nan)
    if not ok.any():
        raise ValueError(f"plot_convergence: no ok run with a finite {objective!r}")
    filled = np.where(ok, v, np.inf if minimize else -np.inf)
    best = np.minimum.accumulate(filled) if minimize else np.maximum.accumulate(filled)
    best[~np.isfinite(best)] = np.nan
    fig, ax = figure(ax)
    ax.plot(n[ok], v[ok], ".", color="0.6", label="evaluations")
    ax.step(n, best, where="post", color="C0", label="best so far")
    if (~ok).any():
        ax.plot(n[~ok], np.full((~ok).sum(), np.nanmin(v) if minimize else np.nanmax(v)), "|",
                color="C3", ms=12, label="failed")
    finite = v[ok]
    if log is None:
        log = bool(finite.min() > 0 and finite.max() / finite.min() > 100)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("evaluations")
    ax.set_ylabel(f"{axis_label(objective)}, {'min' if minimize else 'max'} so far")
    ax.legend(fontsize="small")
    return fig


def _nondominated(w: np.ndarray) -> np.ndarray:
    """Mask of the rows of ``w`` no other row dominates (all >=, one >; maximisation)."""
    keep = np.ones(len(w), dtype=bool)
    for i in range(len(w)):
        if not keep[i]:
            continue
        cand = np.flatnonzero(keep)
        dominated = np.all(w[cand] <= w[i], axis=1) & np.any(w[cand] < w[i], axis=1)
        keep[cand[dominated]] = False
    return keep


def pareto_front(df: pd.DataFrame, objectives: Sequence[str], weights: Sequence[float]) -> pd.DataFrame:
    """The non-dominated ok runs (rows of ``df``) over ``objectives``; a negative weight
    minimises an objective, a positive one maximises it. Sorted by the first objective."""
    objectives, weights = _as_list(objectives, weights)
    if "status" in df.columns:
        data = df[(df["status"] == "ok").to_numpy(dtype=bool)]
    else:
        data = df
    vals = np.column_stack([pd.to_numeric(_column(data, o, "objectives"), errors="coerce")
                            .to_numpy(dtype=float) for o in objectives]) if len(data) else \
        np.empty((0, len(objectives)))
    finite = np.isfinite(vals).all(axis=1)
    data, vals = data[finite], vals[finite]
    keep = _nondominated(vals * np.sign(weights))
    return data[keep].sort_values(objectives[0])


def plot_pareto(df: pd.DataFrame, objectives: Sequence[str], weights: Sequence[float], ax=None):
    """The first two objectives of all ok runs (grey) and the Pareto front (highlighted)."""
    objectives, weights = _as_list(objectives, weights)
    if len(objectives) < 2:
        raise ValueError("plot_pareto: needs two objectives")
    front = pareto_front(df, objectives, weights)
    ok = df[(df["status"] == "ok").to_numpy(dtype=bool)] if "status" in df.columns else df
    fig, ax = figure(ax)
    a, b = objectives[:2]
    ax.scatter(ok[a], ok[b], s=6, color="0.75", label="ok runs")
    ax.plot(front[a], front[b], "o-", color="C3", ms=4, label=f"Pareto front ({len(front)})")
    ax.set_xlabel(f"{axis_label(a)}, {'minimised' if weights[0] < 0 else 'maximised'}")
    ax.set_ylabel(f"{axis_label(b)}, {'minimised' if weights[1] < 0 else 'maximised'}")
    ax.legend(fontsize="small")
    return fig


def plot_partial_dependence(source, space, objective: str | None = None, minimize: bool = True,
                            n_points: int = 40, n_samples: int = 250):
    """skopt's partial dependence plot (``skopt.plots.plot_objective``) of the surrogate.

    ``source`` is a :class:`BayesOpt` state (plain data, ``Results.strategy_state``: its
    surrogate is refitted to the told points with the study's estimator) or the runs
    DataFrame (a Gaussian process is fitted to the ok runs' ``objective``). ``space`` is the
    study's :class:`ParameterSpace`. The objective axis shows the value the optimizer
    minimised: ``-objective`` for a maximised one.
    """
    from skopt.plots import plot_objective
    from skopt.utils import create_result

    from .bayes import _quiet_single_thread, optimizer_from_state, skopt_dimensions

    if isinstance(source, dict) and "optimizer" in source:
        opt = optimizer_from_state(space, source)
        if not opt.models:
            raise ValueError("plot_partial_dependence: the optimizer has no fitted model yet "
                             "(fewer evaluations than n_initial)")
    elif isinstance(source, pd.DataFrame):
        if objective is None:
            raise ValueError("plot_partial_dependence: name the objective column when passing a DataFrame")
        from skopt import Optimizer
        vals = _values(source, objective)
        if len(vals) < 2:
            raise ValueError(f"plot_partial_dependence: needs at least 2 ok runs with a finite {objective!r}")
        names = [d.name for d in space.dimensions]
        xs = [[_py(v) for v in row] for row in source.loc[vals.index, names].itertuples(index=False)]
        y = (vals.to_numpy() if minimize else -vals.to_numpy()).tolist()
        with _quiet_single_thread():
            opt = Optimizer(skopt_dimensions(space), base_estimator="GP", n_initial_points=1,
                            acq_optimizer="sampling", random_state=0)
            opt.tell(xs, y)
    else:
        raise ValueError("plot_partial_dependence: source must be a BayesOpt state (dict) or the runs DataFrame")
    result = create_result(opt.Xi, opt.yi, opt.space, opt.rng, models=opt.models[-1:])
    with _quiet_single_thread():
        axes = plot_objective(result, n_points=n_points, n_samples=n_samples,
                              dimensions=[d.name for d in space.dimensions])
    fig = np.atleast_1d(axes).flat[0].figure
    return fig


def _py(v):
    return v.item() if isinstance(v, np.generic) else v


# -- gradient descent (GradientDescent studies) --------------------------------------------------

def _history(res, loss: str | None):
    """(gradient_history of a GradientDescent study's Results, loss column name)."""
    from .gradient import gradient_history

    h = gradient_history(res)
    loss = loss or (res.strategy.get("loss") if isinstance(res.strategy, dict) else None) or "loss"
    _column(h, loss, "loss")
    return h, loss


def _ok_by_start(h: pd.DataFrame, loss: str):
    """{start: its ok runs with a finite loss, ordered by step}."""
    ok = (h["status"] == "ok").to_numpy(dtype=bool) if "status" in h.columns else np.ones(len(h), bool)
    h = h[ok & np.isfinite(pd.to_numeric(h[loss], errors="coerce").to_numpy(dtype=float))]
    return {int(s): g.sort_values("step") for s, g in h[h["start"] >= 0].groupby("start")}


def plot_loss(res, loss: str | None = None, ax=None, log=None):
    """Loss of every iterate of a :class:`~brainsweep.explorer.GradientDescent` study: one line
    per start (x: step, y: the loss score of that start's ok runs), starts that ended early
    (``diverged``/``failed``) marked with a red cross at their last ok iterate. ``res`` is the
    study's :class:`Results` (``load(path)``); ``loss`` the loss score (default the strategy's).
    ``log`` y-axis by default when all losses are positive and span more than two decades."""
    h, loss = _history(res, loss)
    starts = _ok_by_start(h, loss)
    if not starts:
        raise ValueError(f"plot_loss: no ok run with a finite {loss!r}")
    state = res.strategy_state if isinstance(res.strategy_state, dict) else {}
    ended = {i for i, st in enumerate(state.get("starts", [])) if st.get("status") in ("diverged", "failed")}
    fig, ax = figure(ax)
    for s, g in starts.items():
        ax.plot(g["step"].to_numpy(), g[loss].to_numpy(dtype=float), "-", lw=1, label=f"start {s}")
        if s in ended:
            ax.plot(g["step"].iloc[-1], float(g[loss].iloc[-1]), "x", color="C3", ms=8)
    values = np.concatenate([g[loss].to_numpy(dtype=float) for g in starts.values()])
    if log is None:
        log = bool(values.min() > 0 and values.max() / values.min() > 100)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(axis_label(loss))
    if len(starts) <= 10:
        ax.legend(fontsize="small")
    return fig


def plot_landscape(res, x: str, y: str, loss: str | None = None, ax=None, units: dict | None = None,
                   cmap: str = "viridis"):
    """Where each start of a :class:`~brainsweep.explorer.GradientDescent` study went, over the
    plane of parameters ``x`` and ``y``: an arrow from its first to its last ok iterate,
    coloured by the loss there (TVB-O's grid-fit figure), its path as a thin grey line, and
    the best iterate of the study as a star. ``units``: {parameter: unit} for the axes."""
    if x == y:
        raise ValueError(f"plot_landscape: x and y are both {x!r}; choose two different parameters")
    h, loss = _history(res, loss)
    for name, what in ((x, "x"), (y, "y")):
        _column(h, name, what)
    starts = _ok_by_start(h, loss)
    if not starts:
        raise ValueError(f"plot_landscape: no ok run with a finite {loss!r}")
    first = np.array([[g[x].iloc[0], g[y].iloc[0]] for g in starts.values()], dtype=float)
    last = np.array([[g[x].iloc[-1], g[y].iloc[-1]] for g in starts.values()], dtype=float)
    final = np.array([float(g[loss].iloc[-1]) for g in starts.values()])
    fig, ax = figure(ax)
    for g in starts.values():
        ax.plot(g[x].to_numpy(dtype=float), g[y].to_numpy(dtype=float), "-", color="0.75", lw=0.6, zorder=1)
    ax.scatter(first[:, 0], first[:, 1], s=10, color="0.4", zorder=2, label="starts")
    q = ax.quiver(first[:, 0], first[:, 1], last[:, 0] - first[:, 0], last[:, 1] - first[:, 1], final,
                  angles="xy", scale_units="xy", scale=1.0, cmap=cmap, width=0.006, zorder=3)
    fig.colorbar(q, ax=ax, label=f"final {axis_label(loss)}")
    best = np.argmin(final)
    ax.plot(last[best, 0], last[best, 1], "*", color="C3", ms=12, zorder=4, label="best end")
    ax.set_xlabel(axis_label(x, units))
    ax.set_ylabel(axis_label(y, units))
    ax.legend(fontsize="small")
    return fig
