"""The prior a ParameterSpace's bounds define, on the coordinates the estimator learns in.

Every bounded dimension becomes one coordinate of a box, uniform inside it:

- linear bounds ``(low, high)``: the parameter itself, uniform on [low, high];
- log bounds ``(low, high, "log")``: ``ln(parameter)``, uniform on [ln low, ln high]
  (log-uniform parameter);
- integer bounds ``(low, high, "int")``: a continuous value uniform on
  [low - 0.5, high + 0.5], rounded to the nearest integer for the simulation, so each
  integer has the same prior mass.

The estimator sees these coordinates (``theta``); samples go back to parameter units
with :meth:`BoxPrior.to_params`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BoxPrior"]


class BoxPrior:
    """Uniform prior on the box of a bounded ``ParameterSpace`` (see the module docstring)."""

    def __init__(self, space):
        bad = [d.name for d in space.dimensions if d.kind != "bounded"]
        if bad:
            raise ValueError(f"SBI needs bounds (low, high[, scale]) for every explored parameter, to "
                             f"define its prior; {bad} are given as lists of values or categories. "
                             f"Fix such parameters with ParameterSpace(fixed=...)")
        self.names = list(space.names)
        self.scales = [d.scale for d in space.dimensions]
        lows, highs = [], []
        for d in space.dimensions:
            if d.scale == "log":
                lows.append(np.log(d.low)), highs.append(np.log(d.high))
            elif d.scale == "int":
                lows.append(d.low - 0.5), highs.append(d.high + 0.5)
            else:
                lows.append(d.low), highs.append(d.high)
        self.low = np.array(lows, dtype=float)
        self.high = np.array(highs, dtype=float)
        if not (np.all(np.isfinite(self.low)) and np.all(np.isfinite(self.high))):
            raise ValueError(f"SBI: every parameter needs finite bounds (an unbounded prior cannot be "
                             f"sampled uniformly); got low {self.low}, high {self.high} for {self.names}")
        self._space = space

    @property
    def dim(self) -> int:
        return len(self.names)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``(n, dim)`` coordinates drawn uniformly in the box."""
        return self.low + (self.high - self.low) * rng.random((n, self.dim))

    def to_params(self, theta) -> np.ndarray:
        """Coordinates ``(n, dim)`` -> parameter values ``(n, dim)`` (floats; integers rounded)."""
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        out = theta.copy()
        for j, scale in enumerate(self.scales):
            if scale == "log":
                out[:, j] = np.exp(theta[:, j])
            elif scale == "int":
                out[:, j] = np.clip(np.round(theta[:, j]), self.low[j] + 0.5, self.high[j] - 0.5)
        return out

    def to_points(self, theta) -> list[dict]:
        """Coordinates -> one parameter dict per row (python ints for integer parameters)."""
        values = self.to_params(theta)
        return [{name: (int(v) if scale == "int" else float(v))
                 for name, scale, v in zip(self.names, self.scales, row)} for row in values]

    def to_theta(self, params) -> np.ndarray:
        """Parameter values ``(n, dim)`` (or a dict of them) -> coordinates."""
        if isinstance(params, dict):
            missing = [n for n in self.names if n not in params]
            if missing:
                raise ValueError(f"parameters: missing {missing} (expected {self.names})")
            params = np.column_stack([np.atleast_1d(np.asarray(params[n], dtype=float)) for n in self.names])
        values = np.atleast_2d(np.asarray(params, dtype=float))
        if values.shape[1] != self.dim:
            raise ValueError(f"parameters: expected {self.dim} columns ({self.names}), got shape {values.shape}")
        out = values.copy()
        for j, scale in enumerate(self.scales):
            if scale == "log":
                out[:, j] = np.log(values[:, j])
        return out

    def torch_prior(self):
        """sbi's ``BoxUniform`` on the box (float32)."""
        import torch
        from sbi.utils import BoxUniform
        return BoxUniform(torch.as_tensor(self.low, dtype=torch.float32),
                          torch.as_tensor(self.high, dtype=torch.float32))
