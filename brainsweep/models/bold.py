"""Balloon-Windkessel BOLD model (Friston et al. 2000, 2003), constants as neurolib 0.6.2.

State per node: vasodilatory signal X (1/s), blood flow F, blood volume V and
deoxyhaemoglobin Q (F, V, Q relative to rest)::

    dX/dt = z - K X - Gamma (F - 1)
    dQ/dt = [F / rho (1 - (1 - rho)^(1/F)) - Q V^(1/alpha - 1)] / tau
    dV/dt = [F - V^(1/alpha)] / tau
    dF/dt = X
    BOLD  = V0 [k1 (1 - Q) + k2 (1 - Q/V) + k3 (1 - V)]

with time in seconds, rho = 0.34, alpha = 0.32, V0 = 0.02, k1 = 7 rho, k2 = 2,
k3 = 2 rho - 0.2, Gamma = 0.41 1/s, K = 0.65 1/s, tau = 0.98 s. The update order
(X, then Q and V from the old F and V, then F from the new X; F kept >= 1e-120)
is neurolib's semi-implicit Euler scheme.

The engine drives it with the model's BOLD input (``bold_input`` of the model,
transformed as ``(value + bold_offset) * bold_scale`` like neurolib's
``boldInputTransform``), averaged over each BOLD step ``bold_dt`` (default 1 ms,
10x coarser than the neural dt: the hemodynamics are slow, see
tests/test_bold.py for the accuracy check), and samples it every TR (default
2000 ms) at t = TR, 2 TR, ... Each ``run()`` starts the BOLD state from rest
(X = 0, F = Q = V = 1); nothing is carried over between runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

__all__ = ["BoldResult", "simulate_bold", "REST_STATE", "bold_signal"]

RHO = 0.34
ALPHA = 0.32
V0 = 0.02
K1 = 7.0 * RHO
K2 = 2.0
K3 = 2.0 * RHO - 0.2
GAMMA = 0.41
KAPPA = 0.65
TAU = 0.98
EPS = 1e-120
LOG_1_RHO = math.log(1.0 - RHO)

#: resting state (X, F, Q, V)
REST_STATE = (0.0, 1.0, 1.0, 1.0)


@njit(cache=True)
def balloon_step(state, i, z, dt_s):
    """Advance node i of ``state`` (4, N) = (X, F, Q, V) by dt_s seconds with input z."""
    x = state[0, i]
    f = state[1, i]
    q = state[2, i]
    v = state[3, i]
    x_new = x + dt_s * (z - KAPPA * x - GAMMA * (f - 1.0))
    # one log and two exp instead of three pow: (1 - rho)^(1/f), v^(1/alpha), v^(1/alpha - 1)
    v_pow = math.exp(math.log(v) / ALPHA)
    q_new = q + dt_s / TAU * (f / RHO * (1.0 - math.exp(LOG_1_RHO / f)) - q * v_pow / v)
    v_new = v + dt_s / TAU * (f - v_pow)
    f_new = max(f + dt_s * x_new, EPS)  # no branch: keeps this helper free of reference counting
    state[0, i] = x_new
    state[1, i] = f_new
    state[2, i] = q_new
    state[3, i] = v_new


@njit(cache=True)
def bold_signal(state, i):
    q = state[2, i]
    v = state[3, i]
    return V0 * (K1 * (1.0 - q) + K2 * (1.0 - q / v) + K3 * (1.0 - v))


@njit(cache=True)
def _integrate(z, dt_s, state, out):
    n, t = z.shape
    for k in range(t):
        for i in range(n):
            balloon_step(state, i, z[i, k], dt_s)
            out[i, k] = bold_signal(state, i)


def simulate_bold(activity, dt: float, state=None) -> tuple[np.ndarray, np.ndarray]:
    """Integrate the balloon model on an activity array (nodes x steps) sampled every dt ms.

    Returns (BOLD (nodes x steps), final state (4, nodes)); BOLD[:, k] is the signal
    after the input sample k. ``state`` (4, nodes) = (X, F, Q, V) defaults to rest.
    Standalone helper (the engine integrates BOLD inside its kernel).
    """
    z = np.ascontiguousarray(np.atleast_2d(np.asarray(activity, dtype=float)))
    if dt <= 0:
        raise ValueError(f"dt must be > 0 ms, got {dt}")
    st = np.empty((4, z.shape[0]))
    if state is None:
        st[:] = np.array(REST_STATE)[:, None]
    else:
        st[:] = state
    out = np.empty_like(z)
    _integrate(z, dt * 1e-3, st, out)
    return out, st


@dataclass
class BoldResult:
    """BOLD output of one run: ``t`` (ms) and ``BOLD`` (nodes x n_tr)."""

    t: np.ndarray
    BOLD: np.ndarray
