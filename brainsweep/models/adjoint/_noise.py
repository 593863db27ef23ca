"""The input channels of a stochastic run, drawn exactly as the engine draws them.

The engine's kernel (``_kernel_template.py``), per step and node in order: for each input channel
``k`` the input is the OU value of the previous step plus, if the channel is noisy and the node's
``sigma_white`` is not 0, ``sigma_white * z / sqrt(dt)`` (one normal drawn); after the state
update, for each noisy channel the OU process moves, ``ou + (mean - ou) * dt / tau_ou +
sigma_ou * sqrt(dt) * z`` (one normal drawn if ``sigma_ou`` is not 0). All from the run's one
xoshiro stream (:func:`brainsweep.models.noise.seed_state`). The draws do not depend on the
state, so the inputs of a segment of steps follow from the stream and OU state at its start:
the adjoint keeps those two per checkpoint and holds the realisation fixed.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..noise import normal4

__all__ = ["NoiseSource", "noise_inputs", "noise_params"]


@njit(cache=True, error_model="numpy")
def noise_inputs(n, dt, rng, ou, P, sw_idx, so_idx, to_idx, mean_idx, noisy, INP):
    """INP[s, i, k] = input of channel k of node i during the s-th of the next n steps; ``rng``
    (4,) uint64 and ``ou`` (N, NI) advance by n steps in place."""
    N = ou.shape[0]
    NI = ou.shape[1]
    sqrt_dt = math.sqrt(dt)
    r0 = rng[0]
    r1 = rng[1]
    r2 = rng[2]
    r3 = rng[3]
    for s in range(n):
        for i in range(N):
            for k in range(NI):
                v = ou[i, k]
                if sw_idx >= 0 and noisy[k]:
                    sw = P[i, sw_idx]
                    if sw != 0.0:
                        z, r0, r1, r2, r3 = normal4(r0, r1, r2, r3)
                        v += sw * z / sqrt_dt
                INP[s, i, k] = v
            if so_idx >= 0:
                so = P[i, so_idx]
                to = P[i, to_idx]
                for k in range(NI):
                    if not noisy[k]:
                        continue
                    mean = P[i, mean_idx[k]] if mean_idx[k] >= 0 else 0.0
                    z = 0.0
                    if so != 0.0:
                        z, r0, r1, r2, r3 = normal4(r0, r1, r2, r3)
                    ou[i, k] = ou[i, k] + (mean - ou[i, k]) * dt / to + so * sqrt_dt * z
    rng[0] = r0
    rng[1] = r1
    rng[2] = r2
    rng[3] = r3


def noise_params(cls, names) -> set:
    """The parameters among ``names`` that set the noise of model class ``cls`` (white-noise
    intensity, OU intensity and time constant, OU means): a gradient holds them fixed."""
    names = set(names)
    out = {cls.white_noise_param} & names if getattr(cls, "white_noise_param", None) else set()
    if {"sigma_ou", "tau_ou"} <= names:
        out |= {"sigma_ou", "tau_ou"}
    return out | {m for m in (getattr(cls, "ou_mean_params", None) or ()) if m and m in names}


class NoiseSource:
    """The inputs of one run of ``model`` (class conventions as the engine's), segment by segment.

    ``state()`` -> a copy of (rng, ou) to restart from; ``inputs(n, state)`` -> (n, N, NI) array
    of the next n steps from that state (advanced in place; written into ``out`` if given). ``active`` is False when every input
    is 0 for the whole run (no noise, no OU mean): the kernels then skip the inputs.
    """

    def __init__(self, cls, P, pnames, rng_state, dt):
        pidx = {n: k for k, n in enumerate(pnames)}
        N = P.shape[0]
        self.NI = len(cls.input_channels)
        self.dt = float(dt)
        self.P = P
        self.sw = pidx.get(cls.white_noise_param, -1) if cls.white_noise_param else -1
        has_ou = "sigma_ou" in pidx and "tau_ou" in pidx
        self.so = pidx["sigma_ou"] if has_ou else -1
        self.to = pidx["tau_ou"] if has_ou else -1
        means = tuple(cls.ou_mean_params) if cls.ou_mean_params else ("",) * self.NI
        self.mean = np.array([pidx.get(m, -1) if m else -1 for m in means] + [-1], dtype=np.int64)
        self.noisy = np.array([cls.noise_channels is None or ch in cls.noise_channels for ch in cls.input_channels]
                              + [False], dtype=np.bool_)
        ou = np.zeros((N, max(self.NI, 1)))
        if cls.ou_start_at_mean and cls.ou_mean_params:
            for k, m in enumerate(cls.ou_mean_params):
                if m:
                    ou[:, k] = P[:, pidx[m]]
        self.start = (np.array(rng_state, dtype=np.uint64).copy(), ou)
        noisy_any = self.NI > 0 and self.noisy[:self.NI].any()
        white = self.sw >= 0 and np.any(P[:, self.sw] != 0)
        ou_on = self.so >= 0 and (np.any(P[:, self.so] != 0) or np.any(ou != 0)
                                  or any(np.any(P[:, j] != 0) for j in self.mean[:-1] if j >= 0))
        self.active = bool(noisy_any and (white or ou_on))
        self._empty = np.zeros((1, N, max(self.NI, 1)))

    def state(self, st=None):
        rng, ou = self.start if st is None else st
        return rng.copy(), ou.copy()

    def inputs(self, n, st, out=None):
        if not self.active:
            return self._empty
        INP = np.empty((n, self.P.shape[0], max(self.NI, 1))) if out is None else out
        noise_inputs(n, self.dt, st[0], st[1], self.P, self.sw, self.so, self.to, self.mean, self.noisy, INP)
        return INP
