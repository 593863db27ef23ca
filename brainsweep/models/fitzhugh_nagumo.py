"""FitzHugh-Nagumo oscillator, names, defaults and coupling as neurolib 0.6.2's ``FHNModel``.

neurolib's integration code (which we follow; its docstring shows ``u + delta``) uses
``dy/dt = (x - delta - epsilon y) / tau``. Coupling through x, diffusive by default;
OU noise on x and y; constant input ``x_ext = 1`` by default; BOLD input ``50 x``.
"""

from __future__ import annotations

from collections import namedtuple

from numba import njit

from .base import Model
from .params import Param, State

__all__ = ["FitzHughNagumoModel"]

PARAMETERS = (
    Param("alpha", 3.0, "1", "cubic coefficient of x"),
    Param("beta", 4.0, "1", "quadratic coefficient of x"),
    Param("gamma", -1.5, "1", "linear coefficient of x"),
    Param("delta", 0.0, "1", "offset of the recovery variable"),
    Param("epsilon", 0.5, "1", "recovery self-coupling"),
    Param("tau", 20.0, "ms", "time scale of the recovery variable", (0.0, None), strict_low=True),
    Param("K_gl", 0.6, "1", "global coupling strength", (0.0, None)),
    Param("signalV", 20.0, "m/s", "signal transmission speed (delays = Dmat / signalV)", (0.0, None), per_node=False),
    Param("coupling", "diffusive", "", "coupling scheme on x", choices=("diffusive", "additive"), per_node=False),
    Param("tau_ou", 5.0, "ms", "time constant of the OU input noise", (0.0, None), strict_low=True),
    Param("sigma_ou", 0.0, "1/sqrt(ms)", "OU input noise intensity", (0.0, None)),
    Param("x_ou_mean", 0.0, "1/ms", "mean of the OU input to x"),
    Param("y_ou_mean", 0.0, "1/ms", "mean of the OU input to y"),
    Param("sigma_white", 0.0, "1/sqrt(ms)", "additive white noise intensity on x and y", (0.0, None)),
    Param("x_ext", 1.0, "1/ms", "constant external input to x (neurolib default 1)"),
    Param("y_ext", 0.0, "1/ms", "constant external input to y"),
)
P = namedtuple("P", [p.name for p in PARAMETERS])(*range(len(PARAMETERS)))


@njit(cache=True)
def fhn_rhs(x, cpl, inp, p, const, dx):
    xs = x[0]
    ys = x[1]
    dx[0] = (
        -p[P.alpha] * xs**3 + p[P.beta] * xs**2 + p[P.gamma] * xs - ys
        + p[P.K_gl] * cpl[0] + inp[0] + p[P.x_ext]
    )  # fmt: skip
    dx[1] = (xs - p[P.delta] - p[P.epsilon] * ys) / p[P.tau] + inp[1] + p[P.y_ext]


class FitzHughNagumoModel(Model):
    """FitzHugh-Nagumo oscillators coupled through x (neurolib ``FHNModel``)."""

    name = "fhn"
    description = "FitzHugh-Nagumo oscillator (Kostova et al. 2004 form), delayed coupling through x."
    equations = r"""
dx_i/dt = -alpha x_i^3 + beta x_i^2 + gamma x_i - y_i + K_gl sum_j C_ij (x_j(t - D_ij) - x_i(t)) + x_ou_i + x_ext_i
dy_i/dt = (x_i - delta - epsilon y_i) / tau + y_ou_i + y_ext_i
(additive coupling: K_gl sum_j C_ij x_j(t - D_ij); D_ij = Dmat_ij / signalV rounded to dt)
"""
    state_vars = (
        State("x", "1", "activator (membrane-potential-like)", (0.0, 0.05)),
        State("y", "1", "recovery variable", (0.0, 0.05)),
    )
    parameters = PARAMETERS
    rhs = staticmethod(fhn_rhs)
    coupled_vars = ("x",)
    input_channels = ("x", "y")
    ou_mean_params = ("x_ou_mean", "y_ou_mean")
    output_vars = ("x", "y")
    bold_input = "x"
    bold_scale = 50.0  # neurolib: boldInputTransform = x * 50
    integrator = "euler"
    dt = 0.1
