"""ALN: adaptive linear-nonlinear cascade mean-field model of AdEx neurons, one E and one I
population per node (Augustin et al. 2017; Cakan & Obermayer 2020; neurolib 0.6.2 ``ALNModel``).

Parameter names, defaults, equations and outputs follow neurolib 0.6.2. The transfer functions
(rate, mean voltage, tau_mu, tau_sigma of the EIF neuron under white noise) come from
:mod:`brainsweep.models.aln.transfer`, computed by brainsweep for the model's neuron parameters
(C, gL, EL, DeltaT, VT, Vr, Vs, Tref) and cached on disk.
"""

from __future__ import annotations

import math
import warnings
from collections import namedtuple

import numpy as np
from numba import njit

from ..base import Model
from ..params import Param, State
from .transfer import NEURON_PARAM_NAMES, TableGrid, TransferTables, transfer_tables

__all__ = ["ALNModel"]

_POS = (0.0, None)
PARAMETERS = (
    # global network coupling
    Param("c_gl", 0.3, "mV/ms", "PSP amplitude of long-range E->E connections", _POS),
    Param("Ke_gl", 250.0, "1", "number of long-range E inputs per E neuron from each area", _POS),
    Param("signalV", 20.0, "m/s", "signal speed (delays = Dmat / signalV)", _POS, per_node=False),
    # external input
    Param("tau_ou", 5.0, "ms", "time constant of the OU input noise", _POS, strict_low=True),
    Param("sigma_ou", 0.0, "mV/ms/sqrt(ms)", "OU input noise intensity", _POS),
    Param("mue_ext_mean", 0.4, "mV/ms", "mean external input to E (OU mean)"),
    Param("mui_ext_mean", 0.3, "mV/ms", "mean external input to I (OU mean)"),
    Param("ext_exc_current", 0.0, "mV/ms", "constant external input current to E"),
    Param("ext_inh_current", 0.0, "mV/ms", "constant external input current to I"),
    Param("ext_exc_rate", 0.0, "kHz", "external excitatory rate drive to E (via c_gl, Ke_gl)", _POS),
    Param("ext_inh_rate", 0.0, "kHz", "external excitatory rate drive to I (via c_gl, Ke_gl)", _POS),
    Param("sigmae_ext", 1.5, "mV/sqrt(ms)", "external input std to E", _POS),
    Param("sigmai_ext", 1.5, "mV/sqrt(ms)", "external input std to I", _POS),
    # local recurrent coupling
    Param("Ke", 800.0, "1", "number of E inputs per neuron", _POS),
    Param("Ki", 200.0, "1", "number of I inputs per neuron", _POS),
    Param("de", 4.0, "ms", "local E delay (EE = IE)", _POS),
    Param("di", 2.0, "ms", "local I delay (EI = II)", _POS),
    Param("tau_se", 2.0, "ms", "E synaptic time constant", _POS, strict_low=True),
    Param("tau_si", 5.0, "ms", "I synaptic time constant", _POS, strict_low=True),
    Param("cee", 0.3, "mV/ms", "E->E PSC amplitude", _POS),
    Param("cie", 0.3, "mV/ms", "E->I PSC amplitude", _POS),
    Param("cei", 0.5, "mV/ms", "I->E PSC amplitude", _POS),
    Param("cii", 0.5, "mV/ms", "I->I PSC amplitude", _POS),
    Param("Jee_max", 2.43, "mV/ms", "maximum E->E coupling", _POS, strict_low=True),
    Param("Jie_max", 2.60, "mV/ms", "maximum E->I coupling", _POS, strict_low=True),
    Param("Jei_max", -3.3, "mV/ms", "maximum I->E coupling (negative)", (None, 0.0)),
    Param("Jii_max", -1.64, "mV/ms", "maximum I->I coupling (negative)", (None, 0.0)),
    # adaptation
    Param("a", 0.0, "nS", "subthreshold adaptation conductance", _POS),
    Param("b", 0.0, "pA", "spike-triggered adaptation increment", _POS),
    Param("EA", -80.0, "mV", "adaptation reversal potential"),
    Param("tauA", 200.0, "ms", "adaptation time constant", _POS, strict_low=True),
    Param("filter_sigma", 0.0, "1", "1: low-pass filter sigma with tau_sigma (neurolib option)",
          (0.0, 1.0)),
    # single-neuron (EIF) parameters: changing them recomputes the transfer tables
    Param("C", 200.0, "pF", "membrane capacitance", _POS, strict_low=True, per_node=False),
    Param("gL", 10.0, "nS", "leak conductance", _POS, strict_low=True, per_node=False),
    Param("EL", -65.0, "mV", "leak reversal potential", per_node=False),
    Param("DeltaT", 1.5, "mV", "exponential slope factor", _POS, strict_low=True, per_node=False),
    Param("VT", -50.0, "mV", "exponential threshold", per_node=False),
    Param("Vr", -70.0, "mV", "reset voltage", per_node=False),
    Param("Vs", -40.0, "mV", "spike (cut-off) voltage", per_node=False),
    Param("Tref", 1.5, "ms", "refractory time", _POS, per_node=False),
)
P = namedtuple("P", [p.name for p in PARAMETERS])(*range(len(PARAMETERS)))

# state indices
R_E, R_I, MUFE, MUFI, IA, SEEM, SEIM, SIEM, SIIM, SEEV, SEIV, SIEV, SIIV, SIGE_F, SIGI_F, CLIPS = range(16)
# constants tuple: table (n_mu, n_sigma, 4) of rate (kHz), V (mV), tau_mu (ms), tau_sigma (ms), flattened;
# axes (mu0, 1/dmu, n_mu, sigma0, 1/dsigma, n_sigma); dt (ms)
K_TABLE, K_AXES, K_DT = range(3)
# coupling vector: sum over Cmat of delayed rates_exc, the same over Cmat**2, then the node's own
# rates_exc delayed by de and rates_inh delayed by di (rates_inh is local only)
C_RE, C_RE_SQ, C_RE_LOCAL, C_RI_LOCAL = 0, 1, 2, 3


_U1, _U2, _U3, _U4 = np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4)


@njit(cache=True, inline="always")  # inlined: no call / reference counting per look-up
def _lookup(const, mu, sigma):
    """Bilinear interpolation of the tables at (mu, sigma), clipped to the table range.
    Returns (1.0 if clipped else 0.0, rate (kHz), V (mV), tau_mu (ms), tau_sigma (ms))."""
    ax = const[K_AXES]
    n_mu = int(ax[2])
    n_s = int(ax[5])
    clipped = 0.0
    x = (mu - ax[0]) * ax[1]
    if x < 0.0:
        x = 0.0
        clipped = 1.0
    elif x > n_mu - 1:
        x = n_mu - 1.0
        clipped = 1.0
    y = (sigma - ax[3]) * ax[4]
    if y < 0.0:
        y = 0.0
        clipped = 1.0
    elif y > n_s - 1:
        y = n_s - 1.0
        clipped = 1.0
    i = min(int(x), n_mu - 2)
    j = min(int(y), n_s - 2)
    fx = x - i
    fy = y - j
    w00 = (1.0 - fx) * (1.0 - fy)
    w01 = (1.0 - fx) * fy
    w10 = fx * (1.0 - fy)
    w11 = fx * fy
    # flat table: grid point (i, j) holds its 4 quantities at 4 (i n_sigma + j) .. + 3; unsigned
    # indices (i, j >= 0 after the clipping above) spare numba's negative-index wrap-around code
    t = const[K_TABLE]
    a00 = np.uint64(4 * (i * n_s + j))
    a01 = a00 + _U4
    a10 = a00 + np.uint64(4 * n_s)
    a11 = a10 + _U4
    out0 = w00 * t[a00] + w01 * t[a01] + w10 * t[a10] + w11 * t[a11]
    out1 = w00 * t[a00 + _U1] + w01 * t[a01 + _U1] + w10 * t[a10 + _U1] + w11 * t[a11 + _U1]
    out2 = w00 * t[a00 + _U2] + w01 * t[a01 + _U2] + w10 * t[a10 + _U2] + w11 * t[a11 + _U2]
    out3 = w00 * t[a00 + _U3] + w01 * t[a01 + _U3] + w10 * t[a10 + _U3] + w11 * t[a11 + _U3]
    return clipped, out0, out1, out2, out3


@njit(cache=True)
def aln_rhs(x, cpl, inp, p, const, dx):
    dt = const[K_DT][0]
    taum = p[P.C] / p[P.gL]
    tau_se = p[P.tau_se]
    tau_si = p[P.tau_si]
    inv_se = 1.0 / tau_se
    inv_si = 1.0 / tau_si
    Jee, Jei, Jie, Jii = p[P.Jee_max], p[P.Jei_max], p[P.Jie_max], p[P.Jii_max]
    # PSC amplitudes rescaled as in neurolib (c tau_s / |J|): mu = J s gives a PSP of c per spike
    inv_Jee = 1.0 / Jee
    cee = p[P.cee] * tau_se * inv_Jee
    cie = p[P.cie] * tau_se / Jie
    cei = -p[P.cei] * tau_si / Jei
    cii = -p[P.cii] * tau_si / Jii
    c_gl = p[P.c_gl] * tau_se * inv_Jee
    Ke, Ki, Ke_gl = p[P.Ke], p[P.Ki], p[P.Ke_gl]
    # delayed rates in kHz
    net = cpl[C_RE] * 1e-3
    net_sq = cpl[C_RE_SQ] * 1e-3
    re_d = cpl[C_RE_LOCAL] * 1e-3
    ri_d = cpl[C_RI_LOCAL] * 1e-3
    ext_e = p[P.ext_exc_rate]
    ext_i = p[P.ext_inh_rate]
    gl = c_gl * Ke_gl
    z1ee = cee * Ke * re_d + gl * (net + ext_e)
    z1ei = cei * Ki * ri_d
    z1ie = cie * Ke * re_d + gl * ext_i
    z1ii = cii * Ki * ri_d
    z2ee = cee * cee * Ke * re_d + c_gl * gl * (net_sq + ext_e)
    z2ei = cei * z1ei
    z2ie = cie * cie * Ke * re_d + c_gl * gl * ext_i
    z2ii = cii * z1ii

    seem, seim, siem, siim = x[SEEM], x[SEIM], x[SIEM], x[SIIM]
    seev, seiv, siev, siiv = x[SEEV], x[SEIV], x[SIEV], x[SIIV]
    mue = Jee * seem + Jei * seim + inp[0] + p[P.ext_exc_current]
    mui = Jie * siem + Jii * siim + inp[1] + p[P.ext_inh_current]
    # input variance from the synaptic variances (mV^2/ms)
    ke = 2.0 * tau_se * taum
    ki = 2.0 * tau_si * taum
    sigmae = math.sqrt(Jee * Jee * seev * ke / ((1.0 + z1ee) * taum + tau_se)
                       + Jei * Jei * seiv * ki / ((1.0 + z1ei) * taum + tau_si) + p[P.sigmae_ext] ** 2)
    sigmai = math.sqrt(Jie * Jie * siev * ke / ((1.0 + z1ie) * taum + tau_se)
                       + Jii * Jii * siiv * ki / ((1.0 + z1ii) * taum + tau_si) + p[P.sigmai_ext] ** 2)
    filt = p[P.filter_sigma] >= 0.5
    sig_e = x[SIGE_F] if filt else sigmae
    sig_i = x[SIGI_F] if filt else sigmai

    clip_e, rate_e, v_e, tau_e, tau_sig_e = _lookup(const, x[MUFE] - x[IA] / p[P.C], sig_e)
    clip_i, rate_i, _, tau_i, tau_sig_i = _lookup(const, x[MUFI], sig_i)  # rates in kHz

    dx[R_E] = rate_e * 1e3  # Hz (algebraic: new value)
    dx[R_I] = rate_i * 1e3
    dx[MUFE] = (mue - x[MUFE]) / tau_e
    dx[MUFI] = (mui - x[MUFI]) / tau_i
    dx[IA] = (p[P.a] * (v_e - p[P.EA]) - x[IA]) / p[P.tauA] + p[P.b] * rate_e
    dx[SEEM] = ((1.0 - seem) * z1ee - seem) * inv_se
    dx[SEIM] = ((1.0 - seim) * z1ei - seim) * inv_si
    dx[SIEM] = ((1.0 - siem) * z1ie - siem) * inv_se
    dx[SIIM] = ((1.0 - siim) * z1ii - siim) * inv_si
    # variances: Euler step clipped at 0 (as neurolib), written as new values (algebraic)
    hse = dt * inv_se * inv_se
    hsi = dt * inv_si * inv_si
    dx[SEEV] = max(0.0, seev + hse * ((1.0 - seem) ** 2 * z2ee + (z2ee - 2.0 * tau_se * (z1ee + 1.0)) * seev))
    dx[SEIV] = max(0.0, seiv + hsi * ((1.0 - seim) ** 2 * z2ei + (z2ei - 2.0 * tau_si * (z1ei + 1.0)) * seiv))
    dx[SIEV] = max(0.0, siev + hse * ((1.0 - siem) ** 2 * z2ie + (z2ie - 2.0 * tau_se * (z1ie + 1.0)) * siev))
    dx[SIIV] = max(0.0, siiv + hsi * ((1.0 - siim) ** 2 * z2ii + (z2ii - 2.0 * tau_si * (z1ii + 1.0)) * siiv))
    if filt:
        # tau_sigma = 0 where the static sigma gain is <= 0: follow sigma within one step
        dx[SIGE_F] = (sigmae - x[SIGE_F]) / max(tau_sig_e, dt)
        dx[SIGI_F] = (sigmai - x[SIGI_F]) / max(tau_sig_i, dt)
    else:
        dx[SIGE_F] = 0.0
        dx[SIGI_F] = 0.0
    dx[CLIPS] = x[CLIPS] + clip_e + clip_i  # count of clipped table look-ups (algebraic)


class ALNModel(Model):
    """ALN mean-field model (neurolib 0.6.2 ``ALNModel``): outputs ``rates_exc``, ``rates_inh``
    (Hz) and ``IA`` (pA); BOLD from ``rates_exc``.

    ``tables``: :class:`TransferTables` to use, or a :class:`TableGrid` / dict for the grid
    (default: neurolib's grid, mu -1..7 mV/ms x sigma 0.5..5 mV/sqrt(ms)); tables are computed
    for the model's neuron parameters (cached on disk, see ``transfer.transfer_tables``).
    Like neurolib, the diagonal of ``Cmat`` is set to zero. Euler integration only (neurolib's
    scheme; the variance clamp is an Euler step). Input channels ``"exc"``/``"inh"`` carry the OU
    noise and ``run(stimulus=...)`` (neurolib's time-dependent ``ext_exc_current`` /
    ``ext_inh_current``, mV/ms). Look-ups outside the table range are clipped to its edge and
    counted; ``run`` then warns once with the count.
    """

    name = "aln"
    description = "Adaptive linear-nonlinear cascade mean-field model of AdEx neurons (E and I populations)."
    equations = r"""
Per node (neurolib 0.6.2 timeIntegration; rates r in kHz inside the equations):
mu_E = Jee_max s_EE + Jei_max s_EI + mue_ou + ext_exc_current, mu_I likewise with Jie_max, Jii_max.
sigma_E^2 = 2 Jee^2 s_EE_var tau_se taum / ((1 + z1ee) taum + tau_se) + (same for EI) + sigmae_ext^2.
r_E = r(mufe - IA / C, sigma_E), V_E = V(mufe - IA / C, sigma_E), tau_E = tau_mu(...)  (transfer tables)
r_I = r(mufi, sigma_I), tau_I = tau_mu(mufi, sigma_I)
dmufe/dt = (mu_E - mufe) / tau_E,  dmufi/dt = (mu_I - mufi) / tau_I
dIA/dt = (a (V_E - EA) - IA + tauA b r_E) / tauA
ds_XY/dt = ((1 - s_XY) z1xy - s_XY) / tau_sy,
ds_XY_var/dt = ((1 - s_XY)^2 z2xy + (z2xy - 2 tau_sy (z1xy + 1)) s_XY_var) / tau_sy^2  (clipped at 0)
z1ee = cee Ke r_E(t - de) + c_gl Ke_gl (sum_j Cmat_ij r_E,j(t - D_ij) + ext_exc_rate), z2 with squares;
c's rescaled: cee -> cee tau_se / Jee_max, ..., c_gl -> c_gl tau_se / Jee_max.
mue_ou, mui_ou: OU processes (mean mue_ext_mean / mui_ext_mean, tau_ou, sigma_ou).
"""
    state_vars = (
        State("rates_exc", "Hz", "excitatory rate", (0.0, 0.01)),
        State("rates_inh", "Hz", "inhibitory rate", (0.0, 0.01)),
        State("mufe", "mV/ms", "filtered mean input to E", (0.0, 3.0)),
        State("mufi", "mV/ms", "filtered mean input to I", (0.0, 3.0)),
        State("IA", "pA", "adaptation current", (0.0, 200.0)),
        State("seem", "1", "mean E->E synaptic activation", (0.0, 0.5)),
        State("seim", "1", "mean I->E synaptic activation", (0.0, 0.5)),
        State("siem", "1", "mean E->I synaptic activation", (0.0, 0.5)),
        State("siim", "1", "mean I->I synaptic activation", (0.0, 0.5)),
        State("seev", "1", "variance of E->E synaptic activation", (0.0, 0.001)),
        State("seiv", "1", "variance of I->E synaptic activation", (0.0, 0.001)),
        State("siev", "1", "variance of E->I synaptic activation", (0.0, 0.01)),
        State("siiv", "1", "variance of I->I synaptic activation", (0.0, 0.01)),
        State("sigmae_f", "mV/sqrt(ms)", "filtered input std to E (filter_sigma=1; starts at sigmae_ext)",
              (1.5, 1.5)),
        State("sigmai_f", "mV/sqrt(ms)", "filtered input std to I (filter_sigma=1; starts at sigmai_ext)",
              (1.5, 1.5)),
        State("n_clipped", "1", "table look-ups outside the (mu, sigma) range so far", (0.0, 0.0)),
    )
    parameters = PARAMETERS
    rhs = staticmethod(aln_rhs)
    coupled_vars = ("rates_exc", "rates_inh")
    local_only_vars = ("rates_inh",)
    coupling_mode = "additive"
    coupling_squared = True
    local_delays = (("rates_exc", "de"), ("rates_inh", "di"))
    input_channels = ("exc", "inh")
    ou_mean_params = ("mue_ext_mean", "mui_ext_mean")
    ou_start_at_mean = True
    output_vars = ("rates_exc", "rates_inh", "IA")
    algebraic_vars = ("rates_exc", "rates_inh", "seev", "seiv", "siev", "siiv", "n_clipped")
    bold_input = "rates_exc"
    bold_offset = 0.0
    bold_scale = 1.0  # neurolib feeds rates_exc (Hz) to the BOLD model unchanged
    integrator = "euler"
    integrators = ("euler",)  # neurolib's scheme
    dt = 0.1

    def __init__(self, Cmat=None, Dmat=None, *, delays=None, params=None, tables=None):
        if Cmat is not None:
            Cmat = np.array(Cmat, dtype=float)
            if Cmat.ndim == 2 and Cmat.shape[0] == Cmat.shape[1]:
                np.fill_diagonal(Cmat, 0.0)  # neurolib: no self-connections
        super().__init__(Cmat, Dmat, delays=delays, params=params)
        if tables is not None and not isinstance(tables, (TransferTables, TableGrid, dict)):
            raise ValueError(f"tables must be TransferTables, TableGrid or a dict of grid values, "
                             f"got {type(tables).__name__}")
        self._tables_arg = tables
        self._tables = None

    # ---- transfer tables -------------------------------------------------------------------
    def _neuron_params(self, params=None) -> dict:
        src = self.params if params is None else params
        return {k: float(src[k]) for k in NEURON_PARAM_NAMES}

    @property
    def tables(self) -> TransferTables:
        """Transfer tables for the current neuron parameters (computed or loaded on first use)."""
        neuron = self._neuron_params()
        t = self._tables
        if t is not None and {k: getattr(t.neuron, k) for k in NEURON_PARAM_NAMES} == neuron:
            return t
        arg = self._tables_arg
        if isinstance(arg, TransferTables):
            given = {k: getattr(arg.neuron, k) for k in NEURON_PARAM_NAMES}
            if given != neuron:
                raise ValueError(f"the given transfer tables were computed for neuron parameters "
                                 f"{given}, the model has {neuron}")
            self._tables = arg
        else:
            self._tables = transfer_tables(neuron, arg)
        return self._tables

    def constants(self, dt=None) -> tuple:
        """(table (n_mu, n_sigma, 4) flattened, axes, [dt]) for the rhs; dt (ms) is passed by the engine."""
        t = self.tables
        axes = np.array([t.mu[0], 1.0 / t.dmu, t.mu.size, t.sigma[0], 1.0 / t.dsigma, t.sigma.size])
        table = np.ascontiguousarray(np.stack([t.r, t.V, t.tau_mu, t.tau_sigma], axis=-1)).reshape(-1)
        return (table, axes, np.array([float(self.dt if dt is None else dt)]))

    def __getstate__(self):  # pickled models (process pools, MPI) reload tables from the cache
        state = self.__dict__.copy()
        if not isinstance(self._tables_arg, TransferTables):
            state["_tables"] = None
        return state

    # ---- running -----------------------------------------------------------------------------
    def _prepare(self, integrator, initial_state, param_dicts=()):
        if (integrator or self.integrator) not in self.integrators:
            raise ValueError("ALNModel integrates with Euler only (integrator='euler'), as neurolib")
        neuron = self._neuron_params()
        for d in param_dicts:
            for k in NEURON_PARAM_NAMES:
                if k in d and float(d[k]) != neuron[k]:
                    raise ValueError(f"run_batch cannot vary the neuron parameter {k!r} (it changes "
                                     f"the transfer tables); set it on the model instead")
        init = self.initial_state if initial_state is None else initial_state
        # as neurolib, the filtered sigmas start at the external input std
        start = {"sigmae_f": self.params["sigmae_ext"], "sigmai_f": self.params["sigmai_ext"]}
        if init is None:
            return {**start, "n_clipped": 0.0}
        if isinstance(init, dict):
            return {**start, **init, "n_clipped": 0.0}
        arr = np.array(init, dtype=float)
        if arr.ndim == 2 and arr.shape[1] == len(self.state_vars):
            arr[:, CLIPS] = 0.0
        return arr

    def _after_run(self, out, final_state):
        """Engine hook after each run: one warning with the number of clipped look-ups."""
        n = int(np.sum(final_state[:, CLIPS]))
        if n:
            t = self.tables
            warnings.warn(
                f"ALN run: {n} transfer-table look-ups had (mu, sigma) outside the table range "
                f"mu {t.mu[0]:g}..{t.mu[-1]:g} mV/ms, sigma {t.sigma[0]:g}..{t.sigma[-1]:g} "
                f"mV/sqrt(ms) and were clipped to its edge", RuntimeWarning, stacklevel=4)

    def run(self, duration: float = 2000.0, *, integrator=None, initial_state=None, **kwargs) -> dict:
        """As :meth:`Model.run`; warns once if the table range was exceeded (clipped look-ups)."""
        init = self._prepare(integrator, initial_state)
        return super().run(duration, integrator=integrator, initial_state=init, **kwargs)

    def run_batch(self, param_dicts, *, integrator=None, initial_state=None, **kwargs):
        """As :meth:`Model.run_batch` (one clipping warning per run); neuron parameters
        (C, gL, ...) cannot vary within a batch."""
        param_dicts = list(param_dicts)
        init = self._prepare(integrator, initial_state, param_dicts)
        return super().run_batch(param_dicts, integrator=integrator, initial_state=init, **kwargs)
