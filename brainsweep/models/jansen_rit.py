"""Jansen-Rit neural mass model with sigmoidal Jansen-Rit coupling, as The Virtual Brain's
``JansenRit`` model and ``SigmoidalJansenRit`` coupling (tvb-library 2.10).

State variables y0..y5 as in TVB (PSPs in mV, their derivatives in mV/ms), time in ms, rates in
1/ms. Defaults are the values of the TVB-O Jansen-Rit example (a = b = 0.04 1/ms, mu = 0.15 1/ms;
tvb-library's class defaults are a = 0.1, b = 0.05, mu = 0.22). TVB's coupling parameters
a, cmin, cmax, r, midpoint are called ``coupling_a``, ``coupling_cmin``, ... here (the model has
its own ``a`` and ``r``). Default integrator: Heun, with the coupling computed once per step and
held fixed in both stages, as TVB's ``HeunDeterministic``.

The input channel ``"p"`` (stimulus + noise, 1/ms) is an extra afferent firing rate added to mu,
the p(t) of Jansen & Rit (1995); a pulse on it produces an evoked potential in ``v_pyr = y1 - y2``.
"""

from __future__ import annotations

import math
from collections import namedtuple

from numba import njit

from .base import Model
from .params import Param, State

__all__ = ["JansenRitModel"]

_POS = (0.0, None)
PARAMETERS = (
    Param("A", 3.25, "mV", "maximum amplitude of the EPSP (average excitatory synaptic gain)", _POS),
    Param("B", 22.0, "mV", "maximum amplitude of the IPSP (average inhibitory synaptic gain)", _POS),
    Param("a", 0.04, "1/ms", "reciprocal excitatory time constant", _POS, strict_low=True),
    Param("b", 0.04, "1/ms", "reciprocal inhibitory time constant", _POS, strict_low=True),
    Param("v0", 5.52, "mV", "sigmoid midpoint (PSP giving 50% of the maximal firing rate)"),
    Param("nu_max", 0.0025, "1/ms", "half of the maximal firing rate (sigmoid maximum 2 nu_max)", _POS),
    Param("r", 0.56, "1/mV", "steepness of the sigmoid", _POS),
    Param("J", 135.0, "1", "average number of synapses between populations", _POS),
    Param("a_1", 1.0, "1", "connectivity pyramidal -> excitatory interneurons (alpha_1)", _POS),
    Param("a_2", 0.8, "1", "connectivity excitatory interneurons -> pyramidal (alpha_2)", _POS),
    Param("a_3", 0.25, "1", "connectivity pyramidal -> inhibitory interneurons (alpha_3)", _POS),
    Param("a_4", 0.25, "1", "connectivity inhibitory interneurons -> pyramidal (alpha_4)", _POS),
    Param("mu", 0.15, "1/ms", "mean afferent firing rate (input to the excitatory interneuron PSP)"),
    Param("coupling_a", 1.0, "1", "TVB SigmoidalJansenRit a: scaling of the summed coupling", _POS),
    Param("coupling_cmin", 0.0, "1/ms", "TVB SigmoidalJansenRit cmin: minimum of the coupling sigmoid"),
    Param("coupling_cmax", 0.005, "1/ms", "TVB SigmoidalJansenRit cmax: maximum of the coupling sigmoid"),
    Param("coupling_r", 0.56, "1/mV", "TVB SigmoidalJansenRit r: steepness of the coupling sigmoid", _POS),
    Param("coupling_midpoint", 6.0, "mV", "TVB SigmoidalJansenRit midpoint of the coupling sigmoid"),
    Param("signalV", 3.0, "m/s", "conduction speed (delays = Dmat / signalV; TVB's default 3 mm/ms)", _POS, per_node=False),
    Param("tau_ou", 5.0, "ms", "time constant of the OU noise on the input p", _POS, strict_low=True),
    Param("sigma_ou", 0.0, "1/ms^1.5", "OU noise intensity on the input p", _POS),
    Param("p_ou_mean", 0.0, "1/ms", "mean of the OU input p"),
    Param("sigma_white", 0.0, "1/ms^0.5", "white noise intensity on the input p", _POS),
)
P = namedtuple("P", [p.name for p in PARAMETERS])(*range(len(PARAMETERS)))


@njit(cache=True, inline="always")  # inlined: a call inside rhs would keep array reference counting alive
def _sigm(v, p):
    """Population firing rate (1/ms) of mean membrane potential v (mV)."""
    return 2.0 * p[P.nu_max] / (1.0 + math.exp(p[P.r] * (p[P.v0] - v)))


@njit(cache=True)
def jansen_rit_rhs(x, cpl, inp, p, const, dx):
    y0, y1, y2, y3, y4, y5 = x[0], x[1], x[2], x[3], x[4], x[5]
    a, b, A, B, J = p[P.a], p[P.b], p[P.A], p[P.B], p[P.J]
    afferent = p[P.mu] + p[P.coupling_a] * cpl[0] + inp[0]
    dx[0] = y3
    dx[1] = y4
    dx[2] = y5
    dx[3] = A * a * _sigm(y1 - y2, p) - 2.0 * a * y3 - a * a * y0
    dx[4] = A * a * (afferent + p[P.a_2] * J * _sigm(p[P.a_1] * J * y0, p)) - 2.0 * a * y4 - a * a * y1
    dx[5] = B * b * (p[P.a_4] * J * _sigm(p[P.a_3] * J * y0, p)) - 2.0 * b * y5 - b * b * y2


@njit(cache=True)
def jansen_rit_coupled(x, p, const, cv):
    """Pre-synaptic term of TVB's SigmoidalJansenRit: cmin + (cmax - cmin) / (1 + exp(r (midpoint - (y1 - y2))))."""
    cmin = p[P.coupling_cmin]
    cv[0] = cmin + (p[P.coupling_cmax] - cmin) / (1.0 + math.exp(p[P.coupling_r] * (p[P.coupling_midpoint] - (x[1] - x[2]))))


@njit(cache=True)
def jansen_rit_pyramidal(x, p, const, out):
    out[0] = x[1] - x[2]


class JansenRitModel(Model):
    """Jansen-Rit cortical column with TVB's sigmoidal Jansen-Rit coupling (tvb ``JansenRit``)."""

    name = "jansenrit"
    description = "Jansen-Rit neural mass model with sigmoidal Jansen-Rit coupling (The Virtual Brain, tvb-library 2.10)."
    equations = r"""
dy0/dt = y3;  dy1/dt = y4;  dy2/dt = y5
dy3/dt = A a S(y1 - y2) - 2 a y3 - a^2 y0
dy4/dt = A a (mu + a_2 J S(a_1 J y0) + c_i + p_i(t)) - 2 a y4 - a^2 y1
dy5/dt = B b a_4 J S(a_3 J y0) - 2 b y5 - b^2 y2
S(v) = 2 nu_max / (1 + exp(r (v0 - v)))                                     [1/ms]
c_i = coupling_a sum_j C_ij [cmin + (cmax - cmin) / (1 + exp(coupling_r (midpoint - (y1_j - y2_j)(t - D_ij))))]
p_i(t): input channel "p" = stimulus + OU noise (tau_ou, sigma_ou, p_ou_mean) + white noise (sigma_white)
v_pyr = y1 - y2 (mV): mean membrane potential of the pyramidal cells (EEG / ERP source)
D_ij = Dmat_ij / signalV rounded to dt (ms); PSPs y0..y2 in mV, y3..y5 in mV/ms, t in ms.
"""
    state_vars = (
        State("y0", "mV", "PSP of the pyramidal population (output to interneurons)", (-1.0, 1.0)),
        State("y1", "mV", "EPSP onto the pyramidal cells (from excitatory interneurons + afferents)", (-500.0, 500.0)),
        State("y2", "mV", "IPSP onto the pyramidal cells (from inhibitory interneurons)", (-50.0, 50.0)),
        State("y3", "mV/ms", "derivative of y0", (-6.0, 6.0)),
        State("y4", "mV/ms", "derivative of y1", (-20.0, 20.0)),
        State("y5", "mV/ms", "derivative of y2", (-500.0, 500.0)),
    )
    parameters = PARAMETERS
    rhs = staticmethod(jansen_rit_rhs)
    coupled_vars = ("sigm_y1_y2",)
    coupled_fn = staticmethod(jansen_rit_coupled)
    coupling_mode = "additive"
    input_channels = ("p",)
    ou_mean_params = ("p_ou_mean",)
    output_vars = ("y0", "y1", "y2", "y3", "y4", "y5", "v_pyr")
    derived_vars = ("v_pyr",)
    derived_fn = staticmethod(jansen_rit_pyramidal)
    bold_input = "y0"  # TVB's Bold monitor uses the first variable of interest, y0
    bold_scale = 1.0
    integrator = "heun"
    dt = 0.1
