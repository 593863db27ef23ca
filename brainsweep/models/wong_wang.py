"""Reduced Wong-Wang model with excitatory and inhibitory pools (Deco et al. 2014).

Equations, parameter names and defaults as neurolib 0.6.2's ``WWModel``: synaptic gating
variables ``se``, ``si`` (dimensionless), firing rates ``r_exc``, ``r_inh`` in kHz (spikes/ms),
currents in nA, time in ms; additive delayed coupling through ``se`` scaled by ``J_NMDA``.
The input channels ``"exc"``/``"inh"`` (OU + white noise + stimulus) are added to dse/dt and
dsi/dt where neurolib adds its ``exc_ou``/``inh_ou``.

Difference from neurolib 0.6.2: neurolib's integrator reads ``tau_inh = params["tau_exc"]``, so
its ``si`` relaxes with ``tau_exc``; here ``tau_inh`` is used as documented. Set
``tau_inh = tau_exc`` to reproduce neurolib's numbers.
"""

from __future__ import annotations

import math
from collections import namedtuple

from numba import njit

from .base import Model
from .params import Param, State

__all__ = ["WongWangModel"]

PARAMETERS = (
    Param("a_exc", 0.31, "kHz/nA", "gain of the excitatory transfer function (310 nC^-1)", (0.0, None)),
    Param("b_exc", 0.125, "kHz", "threshold rate of the excitatory transfer function"),
    Param("d_exc", 160.0, "ms", "curvature of the excitatory transfer function", (0.0, None), strict_low=True),
    Param("tau_exc", 100.0, "ms", "NMDA decay time constant of se", (0.0, None), strict_low=True),
    Param("gamma_exc", 0.641, "1", "kinetic parameter of se", (0.0, None)),
    Param("w_exc", 1.0, "1", "scaling of the background current to the excitatory pool", (0.0, None)),
    Param("exc_current", 0.382, "nA", "background current I_0 (excitatory pool)"),
    Param("a_inh", 0.615, "kHz/nA", "gain of the inhibitory transfer function (615 nC^-1)", (0.0, None)),
    Param("b_inh", 0.177, "kHz", "threshold rate of the inhibitory transfer function"),
    Param("d_inh", 87.0, "ms", "curvature of the inhibitory transfer function", (0.0, None), strict_low=True),
    Param("tau_inh", 10.0, "ms", "GABA decay time constant of si", (0.0, None), strict_low=True),
    Param("w_inh", 0.7, "1", "scaling of the background current to the inhibitory pool", (0.0, None)),
    Param("inh_current", 0.382, "nA", "background current I_0 (inhibitory pool)"),
    Param("J_NMDA", 0.15, "nA", "excitatory (NMDA) synaptic coupling", (0.0, None)),
    Param("J_I", 1.0, "nA", "inhibitory synaptic coupling onto the excitatory pool", (0.0, None)),
    Param("w_ee", 1.4, "1", "local excitatory recurrence", (0.0, None)),
    Param("K_gl", 0.6, "1", "global coupling strength", (0.0, None)),
    Param("signalV", 20.0, "m/s", "signal transmission speed (delays = Dmat / signalV)", (0.0, None), per_node=False),
    Param("tau_ou", 5.0, "ms", "time constant of the OU input noise", (0.0, None), strict_low=True),
    Param("sigma_ou", 0.0, "1/ms^1.5", "OU input noise intensity (added to dse/dt, dsi/dt)", (0.0, None)),
    Param("exc_ou_mean", 0.0, "1/ms", "mean of the OU input to se"),
    Param("inh_ou_mean", 0.0, "1/ms", "mean of the OU input to si"),
    Param("sigma_white", 0.0, "1/sqrt(ms)", "additive white noise intensity on dse/dt, dsi/dt", (0.0, None)),
)
P = namedtuple("P", [p.name for p in PARAMETERS])(*range(len(PARAMETERS)))


@njit(cache=True, inline="always")  # inlined: a call inside rhs would keep array reference counting alive
def _rate(current, a, b, d):
    """(a I - b) / (1 - exp(-d (a I - b))) in kHz; its limit 1/d (+ u/2) near a I = b."""
    u = a * current - b
    if abs(u) < 1e-9:
        return 1.0 / d + 0.5 * u
    return u / (1.0 - math.exp(-d * u))


@njit(cache=True)
def wong_wang_rhs(x, cpl, inp, p, const, dx):
    se = x[0]
    si = x[1]
    i_exc = p[P.w_exc] * p[P.exc_current] + p[P.w_ee] * p[P.J_NMDA] * se - p[P.J_I] * si
    i_exc += p[P.J_NMDA] * p[P.K_gl] * cpl[0]
    i_inh = p[P.w_inh] * p[P.inh_current] + p[P.J_NMDA] * se - si
    r_exc = _rate(i_exc, p[P.a_exc], p[P.b_exc], p[P.d_exc])
    r_inh = _rate(i_inh, p[P.a_inh], p[P.b_inh], p[P.d_inh])
    dx[0] = -se / p[P.tau_exc] + (1.0 - se) * p[P.gamma_exc] * r_exc + inp[0]
    dx[1] = -si / p[P.tau_inh] + r_inh + inp[1]
    # algebraic: the rates used in this step become the recorded r_exc, r_inh (neurolib's convention)
    dx[2] = r_exc
    dx[3] = r_inh


class WongWangModel(Model):
    """Reduced Wong-Wang E/I model, additive delayed coupling through ``se`` (neurolib ``WWModel``).

    ``r_exc``/``r_inh`` are the rates (kHz) used in the Euler step that produced the current sample,
    i.e. computed from the state one step earlier, including the network input, exactly as
    neurolib records them (with ``integrator="heun"``: the rates of the corrector stage). Before the
    first step they hold their initial value (0).
    """

    name = "ww"
    description = "Reduced Wong-Wang model with excitatory and inhibitory pools (neurolib WWModel)."
    equations = r"""
I_E,i = w_exc exc_current + w_ee J_NMDA se_i - J_I si_i + J_NMDA K_gl sum_j C_ij se_j(t - D_ij)   [nA]
I_I,i = w_inh inh_current + J_NMDA se_i - si_i                                                [nA]
r_X = H_X(I_X) = (a_X I_X - b_X) / (1 - exp(-d_X (a_X I_X - b_X)))                             [kHz]
dse_i/dt = -se_i / tau_exc + (1 - se_i) gamma_exc r_E,i + exc_inp_i(t)
dsi_i/dt = -si_i / tau_inh + r_I,i + inh_inp_i(t)
exc_inp, inh_inp: OU noise (tau_ou, sigma_ou, *_ou_mean) + white noise (sigma_white) + stimulus ("exc"/"inh")
D_ij = Dmat_ij / signalV rounded to dt (ms); t in ms. (neurolib 0.6.2 uses tau_exc in the si equation.)
"""
    state_vars = (
        State("se", "1", "excitatory (NMDA) synaptic gating", (0.0, 0.05)),
        State("si", "1", "inhibitory (GABA) synaptic gating", (0.0, 0.05)),
        State("r_exc", "kHz", "excitatory firing rate (algebraic)", (0.0, 0.0)),
        State("r_inh", "kHz", "inhibitory firing rate (algebraic)", (0.0, 0.0)),
    )
    parameters = PARAMETERS
    rhs = staticmethod(wong_wang_rhs)
    coupled_vars = ("se",)
    coupling_mode = "additive"
    algebraic_vars = ("r_exc", "r_inh")
    input_channels = ("exc", "inh")
    ou_mean_params = ("exc_ou_mean", "inh_ou_mean")
    output_vars = ("r_exc", "r_inh", "se", "si")
    bold_input = "r_exc"  # neurolib: default output r_exc, no transform
    bold_scale = 1.0
    integrator = "euler"
    dt = 0.1
