"""Thalamic mass model: thalamocortical relay (TCR, ``_t``) and reticular (TRN, ``_r``) populations.

Costa et al. (2016), PLoS Comput Biol 12(9): e1005022. Equations, parameter names and defaults as
neurolib 0.6.2's ``ThalamicMassModel`` (single node, no network coupling; default dt = 0.01 ms
because the model is stiff). Voltages in mV, time in ms, firing rates ``Q_t``/``Q_r`` recorded in
Hz (neurolib multiplies the kHz rate by 1000), conductances in mS/cm^2, C_m in uF/cm^2.

As in neurolib 0.6.2, the excitatory synapse onto TCR (``s_et``) has no relaxation term: its
second derivative is ``gamma_e**2 * phi(t)`` where phi is the input channel ``"s_et"`` (stimulus +
white noise of intensity ``d_phi``), so with noise ``ds_et`` performs a random walk.
"""

from __future__ import annotations

import math
from collections import namedtuple

from numba import njit

from .base import Model
from .params import Param, State

__all__ = ["ThalamicMassModel"]

_POS = (0.0, None)
PARAMETERS = (
    Param("tau", 20.0, "ms", "membrane time constant of the leak and synaptic currents", _POS, strict_low=True),
    Param("Q_max", 0.4, "kHz", "maximal firing rate", _POS),
    Param("theta", -58.5, "mV", "firing threshold"),
    Param("sigma", 6.0, "mV", "width of the firing-rate sigmoid", _POS, strict_low=True),
    Param("C1", 1.8137993642, "1", "sigmoid slope factor (pi / sqrt(3))", _POS),
    Param("C_m", 1.0, "uF/cm^2", "membrane capacitance", _POS, strict_low=True),
    Param("gamma_e", 0.07, "1/ms", "rate constant of excitatory synaptic responses", _POS),
    Param("gamma_r", 0.1, "1/ms", "rate constant of inhibitory synaptic responses", _POS),
    Param("g_L", 1.0, "1", "leak conductance (relative)", _POS),
    Param("g_GABA", 1.0, "ms", "GABA synaptic efficacy", _POS),
    Param("g_AMPA", 1.0, "ms", "AMPA synaptic efficacy", _POS),
    Param("g_LK", 0.018, "mS/cm^2", "potassium leak conductance", _POS),
    Param("E_AMPA", 0.0, "mV", "AMPA reversal potential"),
    Param("E_GABA", -70.0, "mV", "GABA reversal potential"),
    Param("E_L", -70.0, "mV", "leak reversal potential"),
    Param("E_K", -100.0, "mV", "potassium reversal potential"),
    Param("E_Ca", 120.0, "mV", "calcium reversal potential"),
    Param("g_T_t", 3.0, "mS/cm^2", "T-type calcium conductance, TCR", _POS),
    Param("g_h", 0.062, "mS/cm^2", "h-current conductance, TCR", _POS),
    Param("E_h", -40.0, "mV", "h-current reversal potential"),
    Param("alpha_Ca", -51.8e-6, "nmol", "calcium influx per unit T-current"),
    Param("tau_Ca", 10.0, "ms", "calcium decay time constant", _POS, strict_low=True),
    Param("Ca_0", 2.4e-4, "mM", "resting calcium concentration", _POS),
    Param("k1", 2.5e7, "1", "h-channel calcium binding: k1", _POS),
    Param("k2", 4.0e-4, "1", "h-channel calcium binding: k2", _POS),
    Param("k3", 0.1, "1/ms", "h-channel locking rate", _POS),
    Param("k4", 1.0e-3, "1/ms", "h-channel unlocking rate", _POS),
    Param("n_P", 4.0, "1", "calcium binding cooperativity", _POS),
    Param("g_inc", 2.0, "1", "conductance increase of locked h-channels", _POS),
    Param("N_tr", 5.0, "1", "TRN -> TCR connectivity", _POS),
    # the engine draws white noise only for a parameter named sigma_white (request filed): until it can use
    # d_phi, only d_phi = 0 is accepted rather than silently ignoring noise
    Param("d_phi", 0.0, "1/sqrt(ms)", "white noise intensity of the input phi to s_et (only 0 supported yet)", (0.0, 0.0)),
    Param("g_T_r", 2.3, "mS/cm^2", "T-type calcium conductance, TRN", _POS),
    Param("N_rt", 3.0, "1", "TCR -> TRN connectivity", _POS),
    Param("N_rr", 25.0, "1", "TRN -> TRN connectivity", _POS),
    Param("ext_current_t", 0.0, "mV", "external current to TCR (in units of the leak term g_L (V - E_L))"),
    Param("ext_current_r", 0.0, "mV", "external current to TRN (in units of the leak term g_L (V - E_L))"),
)
P = namedtuple("P", [p.name for p in PARAMETERS])(*range(len(PARAMETERS)))

STATES = (
    State("V_t", "mV", "membrane potential, TCR", (-75.0, -50.0)),
    State("V_r", "mV", "membrane potential, TRN", (-75.0, -50.0)),
    State("Ca", "mM", "intracellular calcium, TCR", (2.4e-4, 2.4e-4)),
    State("h_T_t", "1", "T-current inactivation, TCR", (0.0, 0.0)),
    State("h_T_r", "1", "T-current inactivation, TRN", (0.0, 0.0)),
    State("m_h1", "1", "h-current activation (unlocked)", (0.0, 0.0)),
    State("m_h2", "1", "h-current activation (calcium-locked)", (0.0, 0.0)),
    State("s_et", "kHz", "excitatory synaptic input to TCR", (0.0, 0.0)),
    State("s_gt", "kHz", "inhibitory synaptic input to TCR", (0.0, 0.0)),
    State("s_er", "kHz", "excitatory synaptic input to TRN", (0.0, 0.0)),
    State("s_gr", "kHz", "inhibitory synaptic input to TRN", (0.0, 0.0)),
    State("ds_et", "kHz/ms", "time derivative of s_et", (0.0, 0.0)),
    State("ds_gt", "kHz/ms", "time derivative of s_gt", (0.0, 0.0)),
    State("ds_er", "kHz/ms", "time derivative of s_er", (0.0, 0.0)),
    State("ds_gr", "kHz/ms", "time derivative of s_gr", (0.0, 0.0)),
)


@njit(cache=True, inline="always")  # inlined: a call inside rhs would keep array reference counting alive
def _firing_rate(v, p):
    """Sigmoid rate in kHz."""
    return p[P.Q_max] / (1.0 + math.exp(-p[P.C1] * (v - p[P.theta]) / p[P.sigma]))


@njit(cache=True)
def thalamic_rhs(x, cpl, inp, p, const, dx):
    v_t, v_r, ca, h_t, h_r, m_h1, m_h2 = x[0], x[1], x[2], x[3], x[4], x[5], x[6]
    s_et, s_gt, s_er, s_gr = x[7], x[8], x[9], x[10]
    ds_et, ds_gt, ds_er, ds_gr = x[11], x[12], x[13], x[14]
    g_e, g_r = p[P.gamma_e], p[P.gamma_r]

    syn_t = p[P.g_AMPA] * s_et * (v_t - p[P.E_AMPA]) + p[P.g_GABA] * s_gt * (v_t - p[P.E_GABA])
    syn_r = p[P.g_AMPA] * s_er * (v_r - p[P.E_AMPA]) + p[P.g_GABA] * s_gr * (v_r - p[P.E_GABA])
    m_inf_t = 1.0 / (1.0 + math.exp(-(v_t + 59.0) / 6.2))
    m_inf_r = 1.0 / (1.0 + math.exp(-(v_r + 52.0) / 7.4))
    i_t_t = p[P.g_T_t] * m_inf_t * m_inf_t * h_t * (v_t - p[P.E_Ca])
    i_t_r = p[P.g_T_r] * m_inf_r * m_inf_r * h_r * (v_r - p[P.E_Ca])
    i_h = p[P.g_h] * (m_h1 + p[P.g_inc] * m_h2) * (v_t - p[P.E_h])
    i_lk_t = p[P.g_LK] * (v_t - p[P.E_K])
    i_lk_r = p[P.g_LK] * (v_r - p[P.E_K])

    dx[0] = -(p[P.g_L] * (v_t - p[P.E_L]) + syn_t + p[P.ext_current_t]) / p[P.tau] - (i_lk_t + i_t_t + i_h) / p[P.C_m]
    dx[1] = -(p[P.g_L] * (v_r - p[P.E_L]) + syn_r + p[P.ext_current_r]) / p[P.tau] - (i_lk_r + i_t_r) / p[P.C_m]
    dx[2] = p[P.alpha_Ca] * i_t_t - (ca - p[P.Ca_0]) / p[P.tau_Ca]

    # T-current inactivation (time constants divided by the Q10 factor 3.7371928 of the reference)
    h_inf_t = 1.0 / (1.0 + math.exp((v_t + 81.0) / 4.0))
    h_inf_r = 1.0 / (1.0 + math.exp((v_r + 80.0) / 5.0))
    tau_h_t = (30.8 + (211.4 + math.exp((v_t + 115.2) / 5.0)) / (1.0 + math.exp((v_t + 86.0) / 3.2))) / 3.7371928
    tau_h_r = (85.0 + 1.0 / (math.exp((v_r + 48.0) / 4.0) + math.exp(-(v_r + 407.0) / 50.0))) / 3.7371928
    dx[3] = (h_inf_t - h_t) / tau_h_t
    dx[4] = (h_inf_r - h_r) / tau_h_r

    # h-current with calcium-dependent locking
    m_inf_h = 1.0 / (1.0 + math.exp((v_t + 75.0) / 5.5))
    tau_m_h = 20.0 + 1000.0 / (math.exp((v_t + 71.5) / 14.2) + math.exp(-(v_t + 89.0) / 11.6))
    ca_n = p[P.k1] * ca ** p[P.n_P]
    p_h = ca_n / (ca_n + p[P.k2])
    dx[5] = (m_inf_h * (1.0 - m_h2) - m_h1) / tau_m_h - p[P.k3] * p_h * m_h1 + p[P.k4] * m_h2
    dx[6] = p[P.k3] * p_h * m_h1 - p[P.k4] * m_h2

    # second-order synapses: s'' = gamma^2 (N Q - s) - 2 gamma s'
    dx[7] = ds_et
    dx[8] = ds_gt
    dx[9] = ds_er
    dx[10] = ds_gr
    dx[11] = g_e * g_e * inp[0]
    dx[12] = g_r * g_r * (p[P.N_tr] * _firing_rate(v_r, p) - s_gt) - 2.0 * g_r * ds_gt
    dx[13] = g_e * g_e * (p[P.N_rt] * _firing_rate(v_t, p) - s_er) - 2.0 * g_e * ds_er
    dx[14] = g_r * g_r * (p[P.N_rr] * _firing_rate(v_r, p) - s_gr) - 2.0 * g_r * ds_gr


@njit(cache=True)
def thalamic_rates(x, p, const, out):
    """Q_t, Q_r in Hz of the current membrane potentials."""
    out[0] = 1e3 * _firing_rate(x[0], p)
    out[1] = 1e3 * _firing_rate(x[1], p)


class ThalamicMassModel(Model):
    """Thalamic mass model (TCR + TRN), single node (neurolib ``ThalamicMassModel``)."""

    name = "thalamus"
    description = "Thalamocortical relay + reticular nucleus mass model of Costa et al. 2016 (neurolib), one node."
    equations = r"""
dV_t/dt = -(g_L (V_t - E_L) + g_AMPA s_et (V_t - E_AMPA) + g_GABA s_gt (V_t - E_GABA) + ext_current_t) / tau
          - (g_LK (V_t - E_K) + I_T,t + I_h) / C_m
dV_r/dt = -(g_L (V_r - E_L) + g_AMPA s_er (V_r - E_AMPA) + g_GABA s_gr (V_r - E_GABA) + ext_current_r) / tau
          - (g_LK (V_r - E_K) + I_T,r) / C_m
I_T,X = g_T_X m_inf,X(V_X)^2 h_T_X (V_X - E_Ca);  I_h = g_h (m_h1 + g_inc m_h2) (V_t - E_h)
dCa/dt = alpha_Ca I_T,t - (Ca - Ca_0) / tau_Ca
dh_T_X/dt = (h_inf,X(V_X) - h_T_X) / tau_h,X(V_X)
dm_h1/dt = (m_inf,h(V_t) (1 - m_h2) - m_h1) / tau_m,h(V_t) - k3 P_h m_h1 + k4 m_h2;  dm_h2/dt = k3 P_h m_h1 - k4 m_h2
P_h = k1 Ca^n_P / (k1 Ca^n_P + k2)
s_et'' = gamma_e^2 phi(t)     (phi: input channel "s_et" = stimulus + white noise d_phi; as neurolib 0.6.2)
s_er'' = gamma_e^2 (N_rt Q(V_t) - s_er) - 2 gamma_e s_er'
s_gt'' = gamma_r^2 (N_tr Q(V_r) - s_gt) - 2 gamma_r s_gt'
s_gr'' = gamma_r^2 (N_rr Q(V_r) - s_gr) - 2 gamma_r s_gr'
Q(V) = Q_max / (1 + exp(-C1 (V - theta) / sigma))  [kHz];  outputs Q_t, Q_r = 1000 Q(V) [Hz]
Gating functions (mV, ms): m_inf,t = 1/(1+exp(-(V+59)/6.2)), m_inf,r = 1/(1+exp(-(V+52)/7.4)),
h_inf,t = 1/(1+exp((V+81)/4)), h_inf,r = 1/(1+exp((V+80)/5)),
tau_h,t = (30.8 + (211.4 + exp((V+115.2)/5)) / (1 + exp((V+86)/3.2))) / 3.7371928,
tau_h,r = (85 + 1/(exp((V+48)/4) + exp(-(V+407)/50))) / 3.7371928,
m_inf,h = 1/(1+exp((V+75)/5.5)), tau_m,h = 20 + 1000/(exp((V+71.5)/14.2) + exp(-(V+89)/11.6))
"""
    state_vars = STATES
    parameters = PARAMETERS
    rhs = staticmethod(thalamic_rhs)
    coupled_vars = ()
    input_channels = ("s_et",)
    output_vars = ("V_t", "V_r", "Q_t", "Q_r")
    derived_vars = ("Q_t", "Q_r")
    derived_fn = staticmethod(thalamic_rates)
    bold_input = "Q_t"  # neurolib: default output Q_t, no transform
    bold_scale = 1.0
    integrator = "euler"
    dt = 0.01

    def __init__(self, Cmat=None, Dmat=None, *, delays=None, params: dict | None = None):
        if Cmat is not None or Dmat is not None or delays is not None:
            raise ValueError("ThalamicMassModel is a single-node model (as neurolib's): do not pass Cmat/Dmat/delays")
        super().__init__(params=params)
