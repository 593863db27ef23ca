"""Plots of stored studies. Every function returns a matplotlib Figure and works headless."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["grid_heatmap", "sweep_line", "figure"]


def figure(ax=None, figsize=(5.5, 4.5)):
    """(fig, ax): the given axes' figure, or a new figure (Agg-safe, no pyplot state kept)."""
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _slice(df: pd.DataFrame, keep: list[str], z: str, fixed: dict | None, params: list[str], agg: str):
    """Rows of ok runs with the non-plotted parameters fixed (or aggregated over)."""
    for name in keep + [z]:
        if name not in df:
            raise KeyError(f"no column {name!r} in the study (columns: {list(df.columns)})")
    data = df[df["status"] == "ok"]
    fixed = dict(fixed or {})
    for name, value in fixed.items():
        if name not in params:
            raise KeyError(f"fixed: {name!r} is not an explored parameter ({params})")
        values = data[name].unique()
        if value not in values:
            near = values[np.argmin(np.abs(values.astype(float) - float(value)))] \
                if np.issubdtype(np.asarray(values).dtype, np.number) else None
            near = near.item() if isinstance(near, np.generic) else near
            raise ValueError(f"fixed: {name}={value!r} is not a grid value"
                             + (f"; nearest is {near!r}" if near is not None else ""))
        data = data[data[name] == value]
    others = [p for p in params if p not in keep and p not in fixed and data[p].nunique() > 1]
    if agg not in ("mean", "min", "max", "median"):
        raise ValueError(f"agg: expected 'mean', 'min', 'max' or 'median', got {agg!r}")
    table = data.groupby(keep)[z].agg(agg)
    return table, others


def grid_heatmap(df, x, y, z, *, fixed=None, agg="mean", ax=None, params=None, cmap="viridis"):
    """Heatmap of score ``z`` over grid parameters ``x`` (columns) and ``y`` (rows).

    Other explored parameters are held at ``fixed`` values, or aggregated with
    ``agg`` (named in the title) when not fixed.
    """
    params = params or [c for c in (x, y)]
    table, others = _slice(df, [x, y], z, fixed, params, agg)
    grid = table.unstack(x)
    fig, ax = figure(ax)
    xs, ys = grid.columns.to_numpy(), grid.index.to_numpy()
    mesh = ax.pcolormesh(_edges(xs), _edges(ys), grid.to_numpy(dtype=float), cmap=cmap, shading="flat")
    fig.colorbar(mesh, ax=ax, label=z)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    title = z
    if fixed:
        title += " at " + ", ".join(f"{k}={v}" for k, v in fixed.items())
    if others:
        title += f" ({agg} over {', '.join(others)})"
    ax.set_title(title)
    return fig


def sweep_line(df, x, z, *, fixed=None, agg="mean", ax=None, params=None):
    """Score ``z`` over one parameter ``x`` (others fixed or aggregated)."""
    params = params or [x]
    table, others = _slice(df, [x], z, fixed, params, agg)
    fig, ax = figure(ax)
    ax.plot(table.index.to_numpy(), table.to_numpy(dtype=float), "o-")
    ax.set_xlabel(x)
    ax.set_ylabel(z if not others else f"{z} ({agg} over {', '.join(others)})")
    return fig


def _edges(v: np.ndarray) -> np.ndarray:
    """Cell edges around sorted numeric centres (uniform cells for non-numeric values)."""
    try:
        v = np.asarray(v, dtype=float)
    except (TypeError, ValueError):
        return np.arange(len(v) + 1) - 0.5
    if len(v) == 1:
        return np.array([v[0] - 0.5, v[0] + 0.5])
    mid = (v[1:] + v[:-1]) / 2
    return np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])
