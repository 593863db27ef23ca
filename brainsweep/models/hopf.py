"""Hopf / Stuart-Landau oscillator (normal form of a supercritical Hopf bifurcation).

Names, defaults and coupling as neurolib 0.6.2's ``HopfModel``: diffusive (default)
or additive coupling through x only, OU input noise on x and y, BOLD input
``(x + 1) * 4``.
"""

from __future__ import annotations

from collections import namedtuple

from numba import njit

from .base import Model
from .params import Param, State

__all__ = ["HopfModel"]

PARAMETERS = (
    Param("a", 0.25, "1/ms", "bifurcation parameter (limit cycle of radius sqrt(a) for a > 0)"),
    Param("w", 0.2, "rad/ms", "angular frequency (w / 2 pi kHz; 0.2 -> 31.8 Hz)"),
    Param("K_gl", 0.6, "1", "global coupling strength", (0.0, None)),
    Param("signalV", 20.0, "m/s", "signal transmission speed (delays = Dmat / signalV)", (0.0, None), per_node=False),
    Param("coupling", "diffusive", "", "coupling scheme on x", choices=("diffusive", "additive"), per_node=False),
    Param("tau_ou", 5.0, "ms", "time constant of the OU input noise", (0.0, None), strict_low=True),
    Param("sigma_ou", 0.0, "1/sqrt(ms)", "OU input noise intensity", (0.0, None)),
    Param("x_ou_mean", 0.0, "1/ms", "mean of the OU input to x"),
    Param("y_ou_mean", 0.0, "1/ms", "mean of the OU input to y"),
    Param("sigma_white", 0.0, "1/sqrt(ms)", "additive white noise intensity on x and y", (0.0, None)),
    Param("x_ext", 0.0, "1/ms", "constant external input to x"),
    Param("y_ext", 0.0, "1/ms", "constant external input to y"),
)
P = namedtuple("P", [p.name for p in PARAMETERS])(*range(len(PARAMETERS)))


@njit(cache=True)
def hopf_rhs(x, cpl, inp, p, const, dx):
    xs = x[0]
    ys = x[1]
    a = p[P.a]
    w = p[P.w]
    r2 = xs * xs + ys * ys
    dx[0] = (a - r2) * xs - w * ys + p[P.K_gl] * cpl[0] + inp[0] + p[P.x_ext]
    dx[1] = (a - r2) * ys + w * xs + inp[1] + p[P.y_ext]


class HopfModel(Model):
    """Stuart-Landau oscillators coupled diffusively through x (neurolib ``HopfModel``)."""

    name = "hopf"
    description = "Stuart-Landau oscillator (Hopf normal form), diffusive delayed coupling through x."
    equations = r"""
dx_i/dt = (a - x_i^2 - y_i^2) x_i - w y_i + K_gl sum_j C_ij (x_j(t - D_ij) - x_i(t)) + x_ou_i + x_ext_i
dy_i/dt = (a - x_i^2 - y_i^2) y_i + w x_i + y_ou_i + y_ext_i
(additive coupling: K_gl sum_j C_ij x_j(t - D_ij); D_ij = Dmat_ij / signalV rounded to dt)
"""
    state_vars = (
        State("x", "1", "real part of the oscillator", (-0.5, 0.5)),
        State("y", "1", "imaginary part of the oscillator", (-0.5, 0.5)),
    )
    parameters = PARAMETERS
    rhs = staticmethod(hopf_rhs)
    coupled_vars = ("x",)
    input_channels = ("x", "y")
    ou_mean_params = ("x_ou_mean", "y_ou_mean")
    output_vars = ("x", "y")
    bold_input = "x"
    bold_offset = 1.0  # neurolib: boldInputTransform = (x + 1) * 4
    bold_scale = 4.0
    integrator = "euler"
    dt = 0.1
