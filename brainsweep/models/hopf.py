"""Hopf / Stuart-Landau oscillator (normal form of a supercritical Hopf bifurcation).

Defined in ``definitions/hopf.yaml``: names, defaults and coupling as neurolib 0.6.2's
``HopfModel``: diffusive (default) or additive coupling through x only, OU input noise on x and
y, BOLD input ``(x + 1) * 4``.
"""

from .symbolic._defined_model import definition_class

__all__ = ["HopfModel"]

HopfModel = definition_class("hopf", module=__name__)
