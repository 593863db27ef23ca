"""Jansen-Rit neural mass model with sigmoidal Jansen-Rit coupling, as The Virtual Brain's
``JansenRit`` model and ``SigmoidalJansenRit`` coupling (tvb-library 2.10); defined in
``definitions/jansen_rit.yaml``.

State variables y0..y5 as in TVB (PSPs in mV, their derivatives in mV/ms), time in ms, rates in
1/ms. Defaults are the values of the TVB-O Jansen-Rit example (a = b = 0.04 1/ms, mu = 0.15 1/ms;
tvb-library's class defaults are a = 0.1, b = 0.05, mu = 0.22). TVB's coupling parameters
a, cmin, cmax, r, midpoint are called ``coupling_a``, ``coupling_cmin``, ... here (the model has
its own ``a`` and ``r``). Default integrator: Heun, with the coupling computed once per step and
held fixed in both stages, as TVB's ``HeunDeterministic``.

The input channel ``"p"`` (stimulus + noise, 1/ms) is an extra afferent firing rate added to mu,
the p(t) of Jansen & Rit (1995); a pulse on it produces an evoked potential in ``v_pyr = y1 - y2``.
"""

from .symbolic._defined_model import definition_class

__all__ = ["JansenRitModel", "jansen_rit_rhs"]

JansenRitModel = definition_class("jansen_rit", module=__name__)
#: the compiled right-hand side rhs(x, cpl, inp, p, const, dx) (numba), e.g. to compare with TVB's dfun
jansen_rit_rhs = JansenRitModel.rhs
