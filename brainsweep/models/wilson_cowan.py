"""Wilson-Cowan excitatory/inhibitory rate model, defined in ``definitions/wilson_cowan.yaml``.

Equations, parameter names and defaults as neurolib 0.6.2's ``WCModel`` (after Papadopoulos et al.
2020): dimensionless activities ``exc``/``inh`` in [0, 1], time in ms, additive delayed coupling
through ``exc``. The engine's input channels (``"exc"``, ``"inh"``: OU noise + white noise +
stimulus) enter where neurolib adds its OU noise ``exc_ou``/``inh_ou``, i.e. outside the sigmoid;
the constant inputs ``exc_ext``/``inh_ext`` enter inside the sigmoid as in neurolib.
"""

from .symbolic._defined_model import definition_class

__all__ = ["WilsonCowanModel"]

WilsonCowanModel = definition_class("wilson_cowan", module=__name__)
