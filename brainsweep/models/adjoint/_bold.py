"""BOLD (Balloon-Windkessel, :mod:`brainsweep.models.bold`) in the adjoint: forward with the
engine's own step function, backward by its exact vector-Jacobian product.

The engine averages the transformed BOLD input ``(value + bold_offset) * bold_scale`` over each
BOLD step of ``bold_every`` integration steps (sum of the values after steps m*be + 1 ..
(m + 1)*be, divided by be), advances every node's balloon state with :func:`balloon_step`
(semi-implicit Euler: X first, Q and V from the old F and V, F from the new X, F kept >= EPS)
and samples :func:`bold_signal` every TR.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..bold import ALPHA, EPS, GAMMA, K1, K2, K3, KAPPA, LOG_1_RHO, REST_STATE, RHO, TAU, V0, balloon_step, bold_signal

__all__ = ["balloon_forward", "balloon_backward"]


@njit(cache=True, error_model="numpy")
def balloon_forward(Z, dt_s, tr_per_step, S, BOLD):
    """S[m + 1] = the (4, N) state after BOLD step m with input Z[m] (S[0] = rest); BOLD[:, j] =
    the signal after step (j + 1) * tr_per_step - 1."""
    M, N = Z.shape
    st = S[0].copy()
    for m in range(M):
        for i in range(N):
            balloon_step(st, i, Z[m, i], dt_s)
        S[m + 1] = st
        if (m + 1) % tr_per_step == 0 and (m + 1) // tr_per_step - 1 < BOLD.shape[1]:
            j = (m + 1) // tr_per_step - 1
            for i in range(N):
                BOLD[i, j] = bold_signal(st, i)


@njit(cache=True, error_model="numpy")
def balloon_backward(Z, dt_s, tr_per_step, S, LB, LZ):
    """LZ[m, i] = dL/dZ[m, i] given LB = dL/dBOLD (N, n_tr), by the adjoint of each step."""
    M, N = Z.shape
    lam = np.zeros((4, N))  # dL/d(X, F, Q, V) of the state after the step being undone
    c = dt_s / TAU
    for m in range(M - 1, -1, -1):
        if (m + 1) % tr_per_step == 0 and (m + 1) // tr_per_step - 1 < LB.shape[1]:
            j = (m + 1) // tr_per_step - 1
            for i in range(N):
                q = S[m + 1, 2, i]
                v = S[m + 1, 3, i]
                lam[2, i] += LB[i, j] * V0 * (-K1 - K2 / v)
                lam[3, i] += LB[i, j] * V0 * (K2 * q / (v * v) - K3)
        for i in range(N):
            x = S[m, 0, i]
            f = S[m, 1, i]
            q = S[m, 2, i]
            v = S[m, 3, i]
            x_new = x + dt_s * (Z[m, i] - KAPPA * x - GAMMA * (f - 1.0))
            lf = lam[1, i] if f + dt_s * x_new > EPS else 0.0  # the floor holds F: no derivative
            lx = lam[0, i] + lf * dt_s                          # F_new = F + dt X_new
            lq = lam[2, i]
            lv = lam[3, i]
            v_pow = math.exp(math.log(v) / ALPHA)
            e = math.exp(LOG_1_RHO / f)
            LZ[m, i] = lx * dt_s
            lam[0, i] = lx * (1.0 - dt_s * KAPPA)
            lam[1, i] = (lx * (-dt_s * GAMMA) + lf + lq * c * ((1.0 - e) / RHO + e * LOG_1_RHO / (RHO * f))
                         + lv * c)
            lam[2, i] = lq * (1.0 - c * v_pow / v)
            lam[3, i] = lq * (-c * q * (v_pow / v) * (1.0 / ALPHA - 1.0) / v) + lv * (1.0 - c * v_pow / (ALPHA * v))


def rest(N):
    """(4, N) resting state."""
    return np.repeat(np.array(REST_STATE)[:, None], N, axis=1)
