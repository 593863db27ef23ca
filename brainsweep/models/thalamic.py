"""Thalamic mass model: thalamocortical relay (TCR, ``_t``) and reticular (TRN, ``_r``) populations,
defined in ``definitions/thalamic.yaml``.

Costa et al. (2016), PLoS Comput Biol 12(9): e1005022. Equations, parameter names and defaults as
neurolib 0.6.2's ``ThalamicMassModel`` (single node, no network coupling; default dt = 0.01 ms
because the model is stiff). Voltages in mV, time in ms, firing rates ``Q_t``/``Q_r`` recorded in
Hz (neurolib multiplies the kHz rate by 1000), conductances in mS/cm^2, C_m in uF/cm^2.

As in neurolib 0.6.2, the excitatory synapse onto TCR (``s_et``) has no relaxation term: its
second derivative is ``gamma_e**2 * phi(t)`` where phi is the input channel ``"s_et"`` (stimulus +
white noise of intensity ``d_phi``), so with noise ``ds_et`` performs a random walk.
"""

from .symbolic._defined_model import definition_class

__all__ = ["ThalamicMassModel", "STATES", "thalamic_rhs"]

ThalamicMassModel = definition_class("thalamic", module=__name__)
STATES = ThalamicMassModel.state_vars
#: the compiled right-hand side rhs(x, cpl, inp, p, const, dx) (numba)
thalamic_rhs = ThalamicMassModel.rhs
