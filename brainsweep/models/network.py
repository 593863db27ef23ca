"""Structural network: weights ``Cmat``, fibre lengths ``Dmat`` (mm) or delays (ms).

``Cmat[i, j]`` is the weight of the connection from node j to node i (as neurolib).
Delays are ``Dmat / signalV`` (mm / (m/s) = ms), or given directly in ms, and are
rounded to whole integration steps: ``round(delay_ms / dt)``. The kernels use the
non-zero weights in compressed-row form so that sparse connectomes cost less.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Network", "check_matrix"]


def check_matrix(name: str, mat, n: int | None = None) -> np.ndarray:
    """Validate a square, finite, non-negative matrix; return it as float64 (copy)."""
    try:
        arr = np.array(mat, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a numeric matrix, got {type(mat).__name__}") from None
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be a square 2-D matrix, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has shape {arr.shape}, expected ({n}, {n}) to match Cmat")
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} contains NaN/inf (first at row {bad[0]}, column {bad[1]})")
    if np.any(arr < 0):
        bad = np.argwhere(arr < 0)[0]
        raise ValueError(f"{name} must be non-negative, found {arr[bad[0], bad[1]]} at row {bad[0]}, column {bad[1]}")
    return arr


@dataclass
class Network:
    """Validated network. Exactly one of ``Dmat`` (mm) and ``delays`` (ms) may be given."""

    Cmat: np.ndarray
    Dmat: np.ndarray | None = None
    delays: np.ndarray | None = None

    @classmethod
    def build(cls, Cmat=None, Dmat=None, delays=None) -> "Network":
        if Cmat is None:
            if Dmat is not None or delays is not None:
                raise ValueError("Dmat/delays given without Cmat")
            return cls(np.zeros((1, 1)))
        C = check_matrix("Cmat", Cmat)
        n = C.shape[0]
        if Dmat is not None and delays is not None:
            raise ValueError("give either Dmat (fibre lengths, mm) or delays (ms), not both")
        D = None if Dmat is None else check_matrix("Dmat", Dmat, n)
        d = None if delays is None else check_matrix("delays", delays, n)
        return cls(C, D, d)

    @property
    def n_nodes(self) -> int:
        return self.Cmat.shape[0]

    def delay_ms(self, signalV: float | None) -> np.ndarray:
        """Delay matrix in ms for a given signal speed (m/s); zero without Dmat/delays."""
        if self.delays is not None:
            return self.delays
        if self.Dmat is None or signalV is None or signalV <= 0:
            return np.zeros_like(self.Cmat)
        return self.Dmat / signalV

    def delay_steps(self, signalV: float | None, dt: float) -> np.ndarray:
        """Delays rounded to integration steps, int64 (n, n)."""
        return np.rint(self.delay_ms(signalV) / dt).astype(np.int64)

    def csr(self):
        """(indptr, indices, weights, weights**2) of the non-zero entries of Cmat by row."""
        rows, cols = np.nonzero(self.Cmat)
        indptr = np.zeros(self.n_nodes + 1, dtype=np.int64)
        np.add.at(indptr, rows + 1, 1)
        indptr = np.cumsum(indptr)
        w = np.ascontiguousarray(self.Cmat[rows, cols])
        return indptr, cols.astype(np.int64), w, w * w

    def csr_delays(self, steps: np.ndarray) -> np.ndarray:
        rows, cols = np.nonzero(self.Cmat)
        return np.ascontiguousarray(steps[rows, cols])
