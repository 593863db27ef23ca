"""Wilson-Cowan excitatory/inhibitory rate model.

Equations, parameter names and defaults as neurolib 0.6.2's ``WCModel`` (after Papadopoulos et al.
2020): dimensionless activities ``exc``/``inh`` in [0, 1], time in ms, additive delayed coupling
through ``exc``. The engine's input channels (``"exc"``, ``"inh"``: OU noise + white noise +
stimulus) enter where neurolib adds its OU noise ``exc_ou``/``inh_ou``, i.e. outside the sigmoid;
the constant inputs ``exc_ext``/``inh_ext`` enter inside the sigmoid as in neurolib.
"""

from __future__ import annotations

import math
from collections import namedtuple

from numba import njit

from .base import Model
from .params import Param, State

__all__ = ["WilsonCowanModel"]

PARAMETERS = (
    Param("tau_exc", 2.5, "ms", "excitatory time constant", (0.0, None), strict_low=True),
    Param("tau_inh", 3.75, "ms", "inhibitory time constant", (0.0, None), strict_low=True),
    Param("c_excexc", 16.0, "1", "local E -> E coupling", (0.0, None)),
    Param("c_excinh", 15.0, "1", "local E -> I coupling", (0.0, None)),
    Param("c_inhexc", 12.0, "1", "local I -> E coupling", (0.0, None)),
    Param("c_inhinh", 3.0, "1", "local I -> I coupling", (0.0, None)),
    Param("a_exc", 1.5, "1", "excitatory sigmoid gain", (0.0, None), strict_low=True),
    Param("a_inh", 1.5, "1", "inhibitory sigmoid gain", (0.0, None), strict_low=True),
    Param("mu_exc", 3.0, "1", "excitatory sigmoid threshold"),
    Param("mu_inh", 3.0, "1", "inhibitory sigmoid threshold"),
    Param("exc_ext", 0.0, "1", "constant external input to E (inside the sigmoid)"),
    Param("inh_ext", 0.0, "1", "constant external input to I (inside the sigmoid)"),
    Param("K_gl", 0.6, "1", "global coupling strength", (0.0, None)),
    Param("signalV", 20.0, "m/s", "signal transmission speed (delays = Dmat / signalV)", (0.0, None), per_node=False),
    Param("tau_ou", 5.0, "ms", "time constant of the OU input noise", (0.0, None), strict_low=True),
    Param("sigma_ou", 0.0, "1/sqrt(ms)", "OU input noise intensity", (0.0, None)),
    Param("exc_ou_mean", 0.0, "1", "mean of the OU input to E"),
    Param("inh_ou_mean", 0.0, "1", "mean of the OU input to I"),
    Param("sigma_white", 0.0, "sqrt(ms)", "additive white noise intensity on the E and I inputs", (0.0, None)),
)
P = namedtuple("P", [p.name for p in PARAMETERS])(*range(len(PARAMETERS)))


@njit(cache=True, inline="always")  # inlined: a call inside rhs would keep array reference counting alive
def _sigmoid(u, gain, threshold):
    return 1.0 / (1.0 + math.exp(-gain * (u - threshold)))


@njit(cache=True)
def wilson_cowan_rhs(x, cpl, inp, p, const, dx):
    e = x[0]
    i = x[1]
    drive_e = p[P.c_excexc] * e - p[P.c_inhexc] * i + p[P.K_gl] * cpl[0] + p[P.exc_ext]
    drive_i = p[P.c_excinh] * e - p[P.c_inhinh] * i + p[P.inh_ext]
    dx[0] = (-e + (1.0 - e) * _sigmoid(drive_e, p[P.a_exc], p[P.mu_exc]) + inp[0]) / p[P.tau_exc]
    dx[1] = (-i + (1.0 - i) * _sigmoid(drive_i, p[P.a_inh], p[P.mu_inh]) + inp[1]) / p[P.tau_inh]


class WilsonCowanModel(Model):
    """Wilson-Cowan E/I rate model, additive delayed coupling through ``exc`` (neurolib ``WCModel``)."""

    name = "wc"
    description = "Wilson-Cowan excitatory/inhibitory rate model (neurolib WCModel), delayed coupling through exc."
    equations = r"""
tau_exc dE_i/dt = -E_i + (1 - E_i) S_E(c_excexc E_i - c_inhexc I_i + K_gl sum_j C_ij E_j(t - D_ij) + exc_ext) + exc_inp_i(t)
tau_inh dI_i/dt = -I_i + (1 - I_i) S_I(c_excinh E_i - c_inhinh I_i + inh_ext) + inh_inp_i(t)
S_X(u) = 1 / (1 + exp(-a_X (u - mu_X)))
exc_inp, inh_inp: OU noise (tau_ou, sigma_ou, *_ou_mean) + white noise (sigma_white) + stimulus ("exc"/"inh")
D_ij = Dmat_ij / signalV rounded to dt (ms); E, I dimensionless; t in ms.
"""
    state_vars = (
        State("exc", "1", "excitatory activity", (0.0, 0.05)),
        State("inh", "1", "inhibitory activity", (0.0, 0.05)),
    )
    parameters = PARAMETERS
    rhs = staticmethod(wilson_cowan_rhs)
    coupled_vars = ("exc",)
    coupling_mode = "additive"
    input_channels = ("exc", "inh")
    ou_mean_params = ("exc_ou_mean", "inh_ou_mean")
    output_vars = ("exc", "inh")
    bold_input = "exc"
    bold_scale = 50.0  # neurolib: boldInputTransform = exc * 50
    integrator = "euler"
    dt = 0.1
