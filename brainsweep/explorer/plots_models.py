"""Plots of model outputs: time series, FC matrices, bifurcation-style sweeps, dipole overlays.

Every function returns a matplotlib ``Figure`` built without pyplot (headless, Agg-safe).
"""

from __future__ import annotations

import numpy as np

from .plots import figure

__all__ = ["plot_timeseries", "plot_fc_matrices", "plot_bifurcation", "plot_dipoles", "min_max"]


def _figure(figsize, ncols=1):
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize, layout="constrained")
    axes = [fig.add_subplot(1, ncols, k + 1) for k in range(ncols)]
    return fig, axes


def plot_timeseries(t, x, *, nodes=None, labels=None, ylabel="", tmin=None, tmax=None, ax=None,
                    max_lines: int = 12, title=None):
    """Traces of ``x`` (``(n_nodes, n_samples)`` or 1-D) over ``t`` (ms, shown in s if > 10 s).

    ``nodes``: indices to draw (default: up to ``max_lines`` evenly spaced nodes);
    ``tmin``/``tmax`` in ms crop the window.
    """
    t = np.asarray(t, dtype=float)
    x = np.atleast_2d(np.asarray(x, dtype=float))
    if x.shape[1] != t.size:
        raise ValueError(f"x has {x.shape[1]} samples but t has {t.size}")
    if nodes is None:
        nodes = np.unique(np.linspace(0, x.shape[0] - 1, min(max_lines, x.shape[0])).astype(int))
    nodes = np.atleast_1d(nodes)
    keep = np.ones(t.size, bool)
    if tmin is not None:
        keep &= t >= tmin
    if tmax is not None:
        keep &= t <= tmax
    seconds = t[keep][-1] - t[keep][0] > 10_000 if keep.any() else False
    tt = t[keep] / 1000.0 if seconds else t[keep]
    fig, ax = figure(ax, figsize=(7, 3.2))
    for k in nodes:
        ax.plot(tt, x[k, keep], lw=0.8, label=None if labels is None else labels[k])
    ax.set_xlabel("time (s)" if seconds else "time (ms)")
    ax.set_ylabel(ylabel)
    if labels is not None and len(nodes) <= 8:
        ax.legend(fontsize="small", frameon=False)
    if title:
        ax.set_title(title)
    return fig


def plot_fc_matrices(fc_sim, fc_emp=None, *, titles=("simulated FC", "empirical FC"), vmin=-1.0, vmax=1.0,
                     cmap="RdBu_r", suptitle=None):
    """Simulated FC next to the empirical (target) FC, with their correlation in the title."""
    fc_sim = np.asarray(fc_sim, dtype=float)
    mats = [fc_sim] if fc_emp is None else [fc_sim, np.asarray(fc_emp, dtype=float)]
    for m, name in zip(mats, ("fc_sim", "fc_emp")):
        if m.ndim != 2 or m.shape[0] != m.shape[1]:
            raise ValueError(f"{name}: expected a square matrix, got shape {m.shape}")
    if len(mats) == 2 and mats[0].shape != mats[1].shape:
        raise ValueError(f"fc_sim {mats[0].shape} and fc_emp {mats[1].shape} differ in shape")
    fig, axes = _figure((4.2 * len(mats) + 0.8, 3.9), len(mats))
    for ax, m, title in zip(axes, mats, titles):
        im = ax.imshow(m, vmin=vmin, vmax=vmax, cmap=cmap, interpolation="nearest")
        ax.set_title(title)
        ax.set_xlabel("region")
        ax.set_ylabel("region")
    fig.colorbar(im, ax=axes, shrink=0.8, label="correlation")
    if len(mats) == 2:
        from ..evaluation import matrix_correlation
        r = matrix_correlation(mats[0], mats[1])
        fig.suptitle((suptitle + "  " if suptitle else "") + f"r(upper triangles) = {r:.3f}")
    elif suptitle:
        fig.suptitle(suptitle)
    return fig


def min_max(x, transient_samples: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) over time of each node's trace, after dropping ``transient_samples``."""
    x = np.atleast_2d(np.asarray(x, dtype=float))[:, transient_samples:]
    if x.shape[1] == 0:
        raise ValueError("transient_samples removes every sample")
    return x.min(axis=1), x.max(axis=1)


def plot_bifurcation(values, lows, highs, *, xlabel="input", ylabel="rate", ax=None, title=None,
                     amplitude=False):
    """Bifurcation-style diagram over a 1-D sweep: the min and max of a signal at each value.

    ``lows``/``highs`` are the min and max of the (post-transient) signal at each value of
    ``values`` (see :func:`min_max`); where they separate the system oscillates.
    ``amplitude=True`` plots ``highs - lows`` instead.
    """
    values, lows, highs = (np.asarray(a, dtype=float) for a in (values, lows, highs))
    if not values.shape == lows.shape == highs.shape or values.ndim != 1:
        raise ValueError(f"values {values.shape}, lows {lows.shape} and highs {highs.shape} must be equal 1-D")
    order = np.argsort(values)
    values, lows, highs = values[order], lows[order], highs[order]
    fig, ax = figure(ax, figsize=(5, 3.5))
    if amplitude:
        ax.plot(values, highs - lows, "o-", ms=3, color="C3")
        ax.set_ylabel(f"max - min of {ylabel}")
    else:
        ax.fill_between(values, lows, highs, color="C0", alpha=0.25, lw=0)
        ax.plot(values, highs, "-", color="C0", lw=1.2, label="max")
        ax.plot(values, lows, "--", color="C0", lw=1.2, label="min")
        ax.set_ylabel(ylabel)
        ax.legend(frameon=False, fontsize="small")
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    return fig


def plot_dipoles(t_target, target, *, best=None, initial=None, t_sim=None, ax=None, ylabel="dipole (nAm)",
                 title=None):
    """Dipole overlay: target vs best fit vs initial guess, all in ms.

    ``best``/``initial`` are arrays on ``t_sim`` (default: the target's time axis).
    """
    t_target = np.asarray(t_target, dtype=float)
    target = np.asarray(target, dtype=float)
    if target.shape != t_target.shape:
        raise ValueError(f"target {target.shape} and t_target {t_target.shape} differ in shape")
    t_sim = t_target if t_sim is None else np.asarray(t_sim, dtype=float)
    fig, ax = figure(ax, figsize=(6, 3.5))
    ax.plot(t_target, target, color="k", lw=2, label="target")
    for arr, label, style in ((initial, "initial", dict(color="C7", ls="--")), (best, "best fit", dict(color="C3"))):
        if arr is None:
            continue
        arr = np.asarray(arr, dtype=float)
        if arr.shape != t_sim.shape:
            raise ValueError(f"{label}: {arr.shape} samples, but its time axis has {t_sim.shape}")
        ax.plot(t_sim, arr, lw=1.5, label=label, **style)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False)
    if title:
        ax.set_title(title)
    return fig
