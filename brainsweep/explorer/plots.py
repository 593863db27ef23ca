"""Plots of stored studies. Every function returns a matplotlib Figure and works headless."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["grid_heatmap", "sweep_line", "figure", "axis_label", "parameter_units", "SCORE_UNITS"]

#: units of brainsweep's own scores (matched by the end of a score's name, so prefixed scores
#: such as ``bold_peak_frequency`` get theirs too); the other scores are dimensionless.
SCORE_UNITS = {"peak_frequency_error": "Hz", "peak_frequency": "Hz", "runtime": "s",
               "fc_fit": "correlation", "fcd_ks": "KS distance"}


def axis_label(name: str, units: dict | None = None) -> str:
    """``name (unit)``: the unit from ``units`` (parameter units) or :data:`SCORE_UNITS`;
    the bare name for dimensionless quantities (unit ``"1"`` or ``""``)."""
    unit = (units or {}).get(name)
    if unit is None:
        unit = next((u for s, u in SCORE_UNITS.items() if name == s or name.endswith("_" + s)), "")
    return f"{name} ({unit})" if unit not in ("", "1") else name


def parameter_units(evaluate: str | None) -> dict:
    """Units of a brainsweep model's parameters, from a study's evaluator identity
    (``"brainsweep.models.hopf.HopfModel[...]#..."``); ``{}`` for anything else. Only
    brainsweep's own model modules are imported, never a module named by the file."""
    import importlib
    qualname = str(evaluate or "").split("[", 1)[0]
    module, _, cls_name = qualname.rpartition(".")
    if not module.startswith("brainsweep.models") or not cls_name.isidentifier():
        return {}
    try:
        cls = getattr(importlib.import_module(module), cls_name)
        return {p.name: p.unit for p in cls.parameters}
    except (ImportError, AttributeError, TypeError):
        return {}


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
    on_axes = [name for name in fixed if name in keep]
    if on_axes:
        raise ValueError(f"fixed: {', '.join(on_axes)} cannot be held fixed and plotted on an axis at once")
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


def grid_heatmap(df, x, y, z, *, fixed=None, agg="mean", ax=None, params=None, cmap="viridis", units=None):
    """Heatmap of score ``z`` over grid parameters ``x`` (columns) and ``y`` (rows).

    Other explored parameters are held at ``fixed`` values, or aggregated with
    ``agg`` (named in the title) when not fixed. ``units``: {parameter: unit} for the axes.
    """
    params = params or [c for c in (x, y)]
    table, others = _slice(df, [x, y], z, fixed, params, agg)
    grid = table.unstack(x)
    fig, ax = figure(ax)
    xs, ys = grid.columns.to_numpy(), grid.index.to_numpy()
    mesh = ax.pcolormesh(_edges(xs), _edges(ys), grid.to_numpy(dtype=float), cmap=cmap, shading="flat")
    fig.colorbar(mesh, ax=ax, label=axis_label(z, units))
    ax.set_xlabel(axis_label(x, units))
    ax.set_ylabel(axis_label(y, units))
    title = z
    if fixed:
        title += " at " + ", ".join(f"{k}={v}" for k, v in fixed.items())
    if others:
        title += f" ({agg} over {', '.join(others)})"
    ax.set_title(title)
    return fig


def sweep_line(df, x, z, *, fixed=None, agg="mean", ax=None, params=None, units=None):
    """Score ``z`` over one parameter ``x`` (others fixed or aggregated); ``units``:
    {parameter: unit} for the x axis."""
    params = params or [x]
    table, others = _slice(df, [x], z, fixed, params, agg)
    fig, ax = figure(ax)
    ax.plot(table.index.to_numpy(), table.to_numpy(dtype=float), "o-")
    ax.set_xlabel(axis_label(x, units))
    ax.set_ylabel(axis_label(z, units) + (f", {agg} over {', '.join(others)}" if others else ""))
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
