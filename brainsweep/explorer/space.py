"""Parameter spaces: named dimensions to grid over or to optimise within.

A dimension is either a list of values (grid search) or bounds (optimisers):

>>> space = ParameterSpace({"K_gl": [0.0, 0.5, 1.0]}, bounds={"sigma_ou": (1e-3, 1e-1, "log")})

Names may be dotted (``"model.K_gl"``) to reach nested model parameters; the
explorer passes them through unchanged.

Per-node parameters: ``per_node`` names bounded parameters that get one free value per node
of the model's network once a study binds the space to its model (:meth:`ParameterSpace.bind`):

>>> space = ParameterSpace(bounds={"a": (0.04, 0.1), "b": (0.04, 0.09)}, per_node=["a", "b"])
>>> space.bind(jr).names[:2], len(space.bind(jr))      # jr: a 68-node Jansen-Rit model
(['a__0', 'a__1'], 136)

The bound space has the dimensions ``a__0 .. a__{N-1}``, ``b__0 .. b__{N-1}`` (each with the
bounds of ``a``, ``b``; in the order of ``bounds``), exactly the space written node by node
(``bounds={"a__0": ..., ...}``): a study stores and resumes the bound space.
"""

from __future__ import annotations

import difflib
import itertools
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

__all__ = ["Dimension", "ParameterSpace", "per_node_name", "split_per_node_name"]

_SCALES = ("linear", "log", "int")


@dataclass(frozen=True)
class Dimension:
    """One named parameter of a space.

    ``values`` is set for grid dimensions; ``low``/``high``/``scale`` for bounded
    ones (``scale`` is ``"linear"``, ``"log"`` or ``"int"``); ``categories`` for a
    bounded categorical dimension (a list given in ``bounds``).
    """

    name: str
    values: tuple | None = None
    low: float | None = None
    high: float | None = None
    scale: str = "linear"
    categories: tuple | None = None
    _kind: str = field(default="grid", repr=False)

    @property
    def kind(self) -> str:
        """``"grid"``, ``"bounded"`` or ``"categorical"``."""
        return self._kind

    @property
    def is_integer(self) -> bool:
        return self.scale == "int"

    def clip(self, value):
        """Repair ``value`` into the dimension (clip to bounds, round integers)."""
        if self._kind == "bounded":
            v = min(max(float(value), self.low), self.high)
            return int(round(v)) if self.is_integer else v
        if self._kind == "categorical":
            return value if value in self.categories else self.categories[0]
        return value

    def to_json(self) -> dict:
        d = {"name": self.name, "kind": self._kind}
        if self._kind == "grid":
            d["values"] = [_plain(v) for v in self.values]
        elif self._kind == "bounded":
            d.update(low=self.low, high=self.high, scale=self.scale)
        else:
            d["categories"] = [_plain(v) for v in self.categories]
        return d


def per_node_name(param: str, node: int) -> str:
    """The dimension name of node ``node``'s value of per-node parameter ``param``: ``"a__3"``."""
    return f"{param}__{int(node)}"


def split_per_node_name(name: str) -> tuple[str, int] | None:
    """``"a__3"`` -> ``("a", 3)`` (see :func:`per_node_name`); None for a name not written so.
    Whether ``a`` is a per-node parameter of a model is for the caller to check."""
    base, sep, node = name.rpartition("__")
    if sep and base and node.isdigit():
        return base, int(node)
    return None


def _plain(v):
    """numpy scalar -> python scalar (json-able, stable repr)."""
    if isinstance(v, np.generic):
        return v.item()
    return v


def _check_name(name) -> str:
    if not isinstance(name, str) or not name or name.startswith("_"):
        raise ValueError(f"parameter name {name!r}: expected a non-empty string not starting with '_'")
    for part in name.split("."):
        if not part.isidentifier():
            raise ValueError(f"parameter name {name!r}: each dotted part must be a Python identifier")
    return name


def _grid_dimension(name: str, values) -> Dimension:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValueError(f"parameter {name!r}: expected a list or array of values, got {type(values).__name__}")
    vals = [_plain(v) for v in np.asarray(values, dtype=object).ravel()] if isinstance(values, np.ndarray) \
        else [_plain(v) for v in values]
    if not vals:
        raise ValueError(f"parameter {name!r}: the list of values is empty")
    for v in vals:
        if isinstance(v, bool) or isinstance(v, str):
            continue
        if not isinstance(v, numbers.Real):
            raise ValueError(f"parameter {name!r}: value {v!r} is not a number, bool or string")
        if isinstance(v, float) and math.isnan(v):
            raise ValueError(f"parameter {name!r}: value is NaN")
    kinds = {("str" if isinstance(v, str) else "bool" if isinstance(v, bool) else "num") for v in vals}
    if len(kinds) > 1:
        raise ValueError(f"parameter {name!r}: values mix types {sorted(kinds)}; use one type per parameter")
    return Dimension(name, values=tuple(vals), _kind="grid")


def _bounded_dimension(name: str, spec) -> Dimension:
    if isinstance(spec, list):
        if not spec:
            raise ValueError(f"parameter {name!r}: empty list of categories")
        return Dimension(name, categories=tuple(_plain(v) for v in spec), _kind="categorical")
    if not isinstance(spec, tuple) or len(spec) not in (2, 3):
        raise ValueError(f"parameter {name!r}: bounds must be (low, high) or (low, high, scale) "
                         f"with scale in {_SCALES}, or a list of categories; got {spec!r}")
    low, high = spec[0], spec[1]
    scale = spec[2] if len(spec) == 3 else "linear"
    if scale not in _SCALES:
        raise ValueError(f"parameter {name!r}: scale {scale!r} is not one of {_SCALES}")
    for label, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise ValueError(f"parameter {name!r}: {label} bound must be a finite number, got {v!r}")
    if not low < high:
        raise ValueError(f"parameter {name!r}: low bound {low} must be smaller than high bound {high}")
    if scale == "log" and low <= 0:
        raise ValueError(f"parameter {name!r}: log scale needs a positive low bound, got {low}")
    if scale == "int":
        low, high = int(math.ceil(low)), int(math.floor(high))
        if not low < high:
            raise ValueError(f"parameter {name!r}: integer bounds contain fewer than two integers")
    return Dimension(name, low=float(low) if scale != "int" else low,
                     high=float(high) if scale != "int" else high, scale=scale, _kind="bounded")


class ParameterSpace:
    """Named dimensions to explore.

    Parameters
    ----------
    grid : mapping name -> list of values
        Grid dimensions; the grid is their cartesian product, the first name
        varying slowest (``itertools.product`` order).
    bounds : mapping name -> (low, high[, scale]) or list of categories
        Bounded dimensions for optimisers. ``scale`` is ``"linear"`` (default),
        ``"log"`` (log-uniform, low > 0) or ``"int"``.
    fixed : mapping name -> value
        Parameters passed to every run unchanged (recorded in the trajectory).
    per_node : list of names
        Bounded (real or integer) parameters of ``bounds`` that take one value per node of
        the model's network: :meth:`bind` expands each into ``<name>__0 .. <name>__{N-1}``
        (a study binds its space to its model; a space with ``per_node`` cannot be explored
        before that).
    """

    def __init__(self, grid: Mapping[str, Sequence] | None = None, *,
                 bounds: Mapping[str, Any] | None = None,
                 fixed: Mapping[str, Any] | None = None,
                 per_node: Sequence[str] | None = None):
        grid = dict(grid or {})
        bounds = dict(bounds or {})
        self.fixed = {(_check_name(k)): _plain(v) for k, v in (fixed or {}).items()}
        both = set(grid) & set(bounds) | (set(grid) | set(bounds)) & set(self.fixed)
        if both:
            raise ValueError(f"parameter(s) {sorted(both)} given more than once (grid, bounds, fixed)")
        dims = [_grid_dimension(_check_name(k), v) for k, v in grid.items()]
        dims += [_bounded_dimension(_check_name(k), v) for k, v in bounds.items()]
        if not dims:
            raise ValueError("ParameterSpace needs at least one dimension (grid values or bounds)")
        self.dimensions: tuple[Dimension, ...] = tuple(dims)
        self.per_node: tuple[str, ...] = _check_per_node(per_node, self.dimensions)
        #: after :meth:`for_nodes`: expanded name -> the per-node parameter it came from (not stored;
        #: lets a grid of starting points give all nodes of a parameter one value)
        self.node_parameter: dict[str, str] = {}

    # -- introspection -------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Explored parameter names, in order."""
        return [d.name for d in self.dimensions]

    def __getitem__(self, name: str) -> Dimension:
        for d in self.dimensions:
            if d.name == name:
                return d
        raise KeyError(_unknown(name, self.names, "space"))

    def __len__(self) -> int:
        return len(self.dimensions)

    def __repr__(self) -> str:
        return f"ParameterSpace({', '.join(repr(d.to_json()) for d in self.dimensions)})"

    @property
    def is_grid(self) -> bool:
        return all(d.kind == "grid" for d in self.dimensions)

    @property
    def is_bounded(self) -> bool:
        return all(d.kind != "grid" for d in self.dimensions)

    # -- grid ------------------------------------------------------------
    @property
    def grid_size(self) -> int:
        if not self.is_grid:
            raise ValueError("grid_size: the space has bounded dimensions; give every parameter a list of values")
        return int(np.prod([len(d.values) for d in self.dimensions]))

    def grid_points(self) -> list[dict]:
        """All grid points as parameter dicts (first dimension varies slowest)."""
        if not self.is_grid:
            bad = [d.name for d in self.dimensions if d.kind != "grid"]
            raise ValueError(f"grid search needs a list of values for every parameter; {bad} have bounds")
        names = self.names
        return [dict(zip(names, combo)) for combo in itertools.product(*(d.values for d in self.dimensions))]

    # -- bounds ------------------------------------------------------------
    def clip(self, point: Mapping[str, Any]) -> dict:
        """Repair a point into the space's bounds (integers rounded)."""
        return {d.name: d.clip(point[d.name]) for d in self.dimensions}

    def contains(self, point: Mapping[str, Any]) -> bool:
        return all(d.clip(point[d.name]) == point[d.name] for d in self.dimensions)

    # -- validation -----------------------------------------------------
    def validate(self, known: Iterable[str], what: str = "model") -> None:
        """Raise ``ValueError`` naming any explored or fixed parameter not in ``known``."""
        known = list(known)
        for name in self.names + list(self.fixed):
            if name not in known:
                raise ValueError(_unknown(name, known, what))

    # -- per-node parameters -------------------------------------------------
    def for_nodes(self, n_nodes: int) -> "ParameterSpace":
        """The space with each ``per_node`` parameter expanded into ``n_nodes`` dimensions
        ``<name>__0 .. <name>__{n_nodes-1}`` (its bounds each), in place of it; itself if
        there is none."""
        if not self.per_node:
            return self
        if isinstance(n_nodes, bool) or not isinstance(n_nodes, (int, np.integer)) or n_nodes < 1:
            raise ValueError(f"n_nodes: expected a positive integer, got {n_nodes!r}")
        dims = []
        for d in self.dimensions:
            if d.name not in self.per_node:
                dims.append(d)
                continue
            dims += [Dimension(per_node_name(d.name, i), low=d.low, high=d.high, scale=d.scale, _kind="bounded")
                     for i in range(int(n_nodes))]
        names = [d.name for d in dims]
        clash = sorted({n for n in names if names.count(n) > 1} | (set(names) & set(self.fixed)))
        if clash:
            raise ValueError(f"per_node: the expanded names {clash[:5]} are also given as parameters of the space")
        out = ParameterSpace.__new__(ParameterSpace)
        out.fixed, out.dimensions, out.per_node = dict(self.fixed), tuple(dims), ()
        out.node_parameter = {per_node_name(p, i): p for p in self.per_node for i in range(int(n_nodes))}
        return out

    def bind(self, model) -> "ParameterSpace":
        """The space of a study of ``model`` (a brainsweep model): :meth:`for_nodes` of its
        number of nodes, after checking that every ``per_node`` name is a numeric model
        parameter that takes one value per node. Itself if there is no ``per_node``."""
        if not self.per_node:
            return self
        specs = getattr(getattr(model, "params", None), "specs", None)
        network = getattr(model, "network", None)
        if specs is None or network is None:
            raise ValueError(f"per_node {list(self.per_node)}: one value per node needs a brainsweep model "
                             f"(its network's number of nodes); {type(model).__name__} has no nodes. "
                             f"Give a model, or name the values yourself in bounds")
        for name in self.per_node:
            if name not in specs:
                raise ValueError(_unknown(name, list(specs), f"{type(model).__name__} (per_node)"))
            spec = specs[name]
            if spec.choices is not None or not spec.per_node:
                why = f"a choice {list(spec.choices)}" if spec.choices is not None else "one value for all nodes"
                raise ValueError(f"per_node: {type(model).__name__}'s parameter {name!r} takes {why}, "
                                 f"not one number per node")
        return self.for_nodes(int(network.n_nodes))

    @classmethod
    def from_json(cls, doc: dict) -> "ParameterSpace":
        """Rebuild a space from :meth:`to_json` (e.g. a stored study's fingerprint)."""
        grid, bounds = {}, {}
        for d in doc["dimensions"]:
            if d["kind"] == "grid":
                grid[d["name"]] = d["values"]
            elif d["kind"] == "bounded":
                bounds[d["name"]] = (d["low"], d["high"], d["scale"])
            else:
                bounds[d["name"]] = list(d["categories"])
        space = cls(grid or None, bounds=bounds or None, fixed=doc.get("fixed"), per_node=doc.get("per_node"))
        order = [d["name"] for d in doc["dimensions"]]
        space.dimensions = tuple(sorted(space.dimensions, key=lambda d: order.index(d.name)))
        return space

    def to_json(self) -> dict:
        """A json-able description, used to recognise the same study on resume (``per_node``
        only when there is one: a bound space is described as its expanded dimensions)."""
        doc = {"dimensions": [d.to_json() for d in self.dimensions],
               "fixed": {k: _plain(v) if not isinstance(v, np.ndarray) else v.tolist()
                         for k, v in self.fixed.items()}}
        if self.per_node:
            doc["per_node"] = list(self.per_node)
        return doc


def _check_per_node(per_node, dims) -> tuple[str, ...]:
    """The ``per_node`` names, each a real or integer bounded dimension, given once."""
    if per_node is None:
        return ()
    if isinstance(per_node, str) or not isinstance(per_node, Iterable):
        raise ValueError(f"per_node: expected a list of parameter names, got {per_node!r}")
    names = list(per_node)
    kinds = {d.name: d.kind for d in dims}
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"per_node: {name!r} named twice")
        if kinds.get(name) == "grid":
            raise ValueError(f"per_node: {name!r} is given as a grid of values; a per-node parameter needs "
                             f"bounds, e.g. bounds={{{name!r}: (low, high)}}")
        if kinds.get(name) == "categorical":
            raise ValueError(f"per_node: {name!r} has categories; a per-node parameter needs (low, high) bounds")
        if name not in kinds:
            raise ValueError(f"per_node: {name!r} has no bounds; give bounds={{{name!r}: (low, high)}} "
                             f"(bounds: {sorted(n for n, k in kinds.items() if k == 'bounded')})")
    return tuple(names)


def _unknown(name: str, known: Sequence[str], what: str) -> str:
    close = difflib.get_close_matches(name, list(known), n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    listed = ", ".join(sorted(known)[:40])
    return f"unknown parameter {name!r} for the {what}{hint} (known: {listed})"
