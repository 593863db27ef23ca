"""Declarative parameter and state-variable specifications and the validated parameter mapping.

A model lists its parameters as :class:`Param` objects; ``model.params`` is a
:class:`ParameterSet` built from them. The set behaves like a dict but rejects
unknown names (with a did-you-mean), NaN, wrong types and values outside the
declared bounds, so a misspelled parameter can never be silently added or read
as ``None`` (a known fault of the reference implementation).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Param", "State", "ParameterSet"]


@dataclass(frozen=True)
class Param:
    """One model parameter.

    name: identifier as in the reference implementation (e.g. ``"K_gl"``).
    default: float, or a string for choice parameters (then ``choices`` is required).
    unit: physical unit ("ms", "mV/ms", "1", "m/s", ...).
    description: one line.
    bounds: (low, high) inclusive validity range; ``None`` means unbounded on that side.
    strict_low: the lower bound is exclusive (e.g. a time constant must be > 0).
    per_node: value may be an array with one entry per node (heterogeneous networks).
    choices: allowed strings of a choice parameter; inside the kernel the parameter is
        the index of the chosen string (float).
    """

    name: str
    default: float | str
    unit: str = "1"
    description: str = ""
    bounds: tuple[float | None, float | None] = (None, None)
    strict_low: bool = False
    per_node: bool = True
    choices: tuple[str, ...] | None = None

    def validate(self, value, n_nodes: int | None = None):
        """Return the canonical value (float, 1-D float array or choice string) or raise ValueError."""
        if self.choices is not None:
            if not isinstance(value, str) or value not in self.choices:
                raise ValueError(
                    f"parameter {self.name!r} must be one of {list(self.choices)}, got {value!r}"
                )
            return value
        if isinstance(value, (bool, np.bool_)) or isinstance(value, str):
            raise ValueError(f"parameter {self.name!r} must be a number, got {value!r}")
        if np.isscalar(value) or (isinstance(value, np.ndarray) and value.ndim == 0):
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"parameter {self.name!r} must be a number, got {value!r}") from None
            arr = None
        else:
            if not self.per_node:
                raise ValueError(f"parameter {self.name!r} must be a scalar, got an array")
            try:
                arr = np.array(value, dtype=float)
            except (TypeError, ValueError):
                raise ValueError(
                    f"parameter {self.name!r} must be a number or 1-D array of numbers, got {value!r}"
                ) from None
            if arr.ndim != 1:
                raise ValueError(f"parameter {self.name!r}: per-node values must be 1-D, got shape {arr.shape}")
            if n_nodes is not None and arr.shape[0] != n_nodes:
                raise ValueError(
                    f"parameter {self.name!r}: expected {n_nodes} per-node values, got {arr.shape[0]}"
                )
            v = None
        vals = np.atleast_1d(v if arr is None else arr)
        if not np.all(np.isfinite(vals)):
            raise ValueError(f"parameter {self.name!r} must be finite, got {value!r}")
        lo, hi = self.bounds
        if lo is not None and (np.any(vals <= lo) if self.strict_low else np.any(vals < lo)):
            op = ">" if self.strict_low else ">="
            raise ValueError(f"parameter {self.name!r} must be {op} {lo} {self.unit}, got {value!r}")
        if hi is not None and np.any(vals > hi):
            raise ValueError(f"parameter {self.name!r} must be <= {hi} {self.unit}, got {value!r}")
        return v if arr is None else arr

    def as_float(self, value) -> float | np.ndarray:
        """Numeric value used inside kernels (choice parameters become their index)."""
        if self.choices is not None:
            return float(self.choices.index(value))
        return value


@dataclass(frozen=True)
class State:
    """One state variable: name, unit, description and the uniform range (low, high) of
    its random initial value (as in the reference implementation)."""

    name: str
    unit: str = "1"
    description: str = ""
    init: tuple[float, float] = (0.0, 0.0)


def unknown_name_error(kind: str, name: str, known) -> ValueError:
    """ValueError for an unknown name with close matches (did-you-mean)."""
    close = difflib.get_close_matches(str(name), list(known), n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(f"unknown {kind} {name!r}{hint} (known: {', '.join(known)})")


@dataclass
class ParameterSet(MutableMapping):
    """Validated mapping of parameter name -> value for one model.

    Only the declared names exist; assigning an unknown name or reading one raises
    ``ValueError``/``KeyError`` with close matches. Deleting is not allowed.
    """

    specs: dict[str, Param]
    n_nodes: int | None = None
    _values: dict = field(default_factory=dict)

    def __post_init__(self):
        for name, spec in self.specs.items():
            if name not in self._values:
                self._values[name] = spec.default

    def __getitem__(self, key):
        if key not in self.specs:
            raise KeyError(str(unknown_name_error("parameter", key, self.specs)))
        return self._values[key]

    def __setitem__(self, key, value):
        if key not in self.specs:
            raise unknown_name_error("parameter", key, self.specs)
        self._values[key] = self.specs[key].validate(value, self.n_nodes)

    def __delitem__(self, key):
        raise TypeError("model parameters cannot be deleted; set a value instead")

    def __iter__(self) -> Iterator[str]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def __contains__(self, key) -> bool:
        return key in self.specs

    def update(self, other=(), /, **kwargs):  # validate everything before changing anything
        items = dict(other.items() if isinstance(other, Mapping) else other)
        items.update(kwargs)
        checked = {}
        for k, v in items.items():
            if k not in self.specs:
                raise unknown_name_error("parameter", k, self.specs)
            checked[k] = self.specs[k].validate(v, self.n_nodes)
        self._values.update(checked)

    def copy(self) -> "ParameterSet":
        vals = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in self._values.items()}
        return ParameterSet(self.specs, self.n_nodes, vals)

    def to_dict(self) -> dict:
        return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in self._values.items()}

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"ParameterSet({body})"

    def __eq__(self, other) -> bool:
        if not isinstance(other, Mapping) or set(other) != set(self):
            return False
        return all(np.array_equal(np.asarray(self[k]), np.asarray(other[k])) for k in self)


def format_value(v) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, np.ndarray):
        return f"array({v.shape[0]})"
    if v == 0 or 1e-3 <= abs(v) < 1e5:
        return f"{v:g}"
    return f"{v:.3g}"


def format_bounds(p: Param) -> str:
    if p.choices is not None:
        return " / ".join(p.choices)
    lo, hi = p.bounds
    left = "(" if (lo is None or p.strict_low) else "["
    right = ")" if hi is None else "]"
    lo_s = "-inf" if lo is None else format_value(lo)
    hi_s = "inf" if hi is None else format_value(hi)
    return f"{left}{lo_s}, {hi_s}{right}"


def is_finite_number(x) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False
