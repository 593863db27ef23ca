"""Objectives with their gradient with respect to the simulated signal.

Each objective is a callable ``objective(outputs) -> (loss, {output name: dloss/doutput})``
where ``outputs`` maps output names to (nodes, samples) arrays as ``model.run`` returns
them; :func:`brainsweep.models.adjoint.gradient` carries the signal gradient back to the
parameters.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sum_of_squares"]


class sum_of_squares:
    """``sum((outputs[key] - target) ** 2)`` (units of the output squared); gradient ``2 (y - target)``."""

    def __init__(self, target, key: str):
        self.target = np.asarray(target, dtype=float)
        self.key = key

    def __call__(self, outputs):
        y = outputs[self.key]
        if y.shape != self.target.shape:
            raise ValueError(f"sum_of_squares: output {self.key!r} has shape {y.shape}, target {self.target.shape}")
        r = y - self.target
        return float(np.sum(r * r)), {self.key: 2.0 * r}
