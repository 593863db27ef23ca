"""Numba kernels: Fokker-Planck solutions for the exponential integrate-and-fire (EIF) neuron.

The neuron obeys ``dV = (f(V) + mu) dt + sigma dW`` with
``f(V) = (EL - V + DeltaT exp((V - VT) / DeltaT)) / taum`` (mV/ms), absorbing boundary at the
spike voltage ``Vs``, reinjection at ``Vr`` after the refractory time ``Tref`` and a reflecting
lower bound ``V[0]``. With ``D = sigma**2 / 2`` the probability flux is ``J = (f + mu) p - D p'``.

Richardson's threshold integration (Richardson 2007, Phys Rev E 76:021919; 2008, Biol Cybern
99:381): integrate the first-order system for the density ``p`` and flux ``J`` backwards from
``Vs`` (where ``p = 0`` and ``J`` is the firing rate), cell by cell with ``F = -(f + mu) / D``
held at its midpoint value, which makes the homogeneous part exact on each cell:

    p(V - h) = exp(F h) p(V) + (2 / sigma**2) J (exp(F h) - 1) / F.

For the linear response to ``mu(t) = mu + mu1 exp(i w t)`` (or the same for sigma) the system
is ``p1' = -F p1 - (2/sigma**2) (J1 - S)``, ``J1' = -i w p1`` with the source
``S = mu1 p0`` (mean modulation) or ``S = -sigma sigma1 p0'`` (std modulation), and a jump of
``exp(-i w Tref)`` r1 in ``J1`` at ``Vr``. The rate response follows from the reflecting lower
boundary ``J1(V[0]) = 0`` by superposing the unit-rate homogeneous solution and the sourced one.
"""

import math

import numpy as np
from numba import njit, prange


@njit(cache=True, fastmath=False)
def _cell_coefficients(F, h):
    """exp(F h) and (exp(F h) - 1) / F for one cell (the latter tends to h as F -> 0)."""
    x = F * h
    A = math.exp(x)
    if abs(x) < 1e-12:
        B = h
    else:
        B = math.expm1(x) / F
    return A, B


@njit(cache=True, fastmath=False)
def _steady_state(V, k_reset, drift0, mu, sigma, p_out):
    """Stationary density (normalised to 1, written into ``p_out``) and rate without refractoriness.

    ``drift0[c]`` is ``f`` at the midpoint of cell c = [V[c-1], V[c]] (without mu).
    Returns (r0 in kHz, mean voltage in mV).
    """
    n = V.shape[0]
    s2 = 2.0 / (sigma * sigma)
    p_out[n - 1] = 0.0
    for c in range(n - 1, 0, -1):
        h = V[c] - V[c - 1]
        F = -s2 * (drift0[c] + mu)
        A, B = _cell_coefficients(F, h)
        J = 1.0 if c - 1 >= k_reset else 0.0
        p_out[c - 1] = p_out[c] * A + s2 * J * B
    mass = 0.0
    first_moment = 0.0
    for c in range(1, n):
        h = V[c] - V[c - 1]
        mass += 0.5 * h * (p_out[c] + p_out[c - 1])
        first_moment += 0.5 * h * (V[c] * p_out[c] + V[c - 1] * p_out[c - 1])
    r0 = 1.0 / mass
    for k in range(n):
        p_out[k] *= r0
    return r0, first_moment / mass


@njit(cache=True, fastmath=False)
def _linear_responses(V, k_reset, drift0, mu, sigma, Tref, p0, omega, r1_mu, r1_sigma):
    """Rate response to unit modulations of mu and of sigma at angular frequencies ``omega`` (1/ms).

    ``p0`` is the stationary density from ``_steady_state``; results are written into
    ``r1_mu`` and ``r1_sigma`` (complex, arbitrary common scale for each).
    """
    n = V.shape[0]
    nf = omega.shape[0]
    s2 = 2.0 / (sigma * sigma)
    p_a = np.zeros(nf, np.complex128)  # homogeneous solution with unit output rate
    J_a = np.ones(nf, np.complex128)
    p_m = np.zeros(nf, np.complex128)  # mean-modulation solution, zero output rate
    J_m = np.zeros(nf, np.complex128)
    p_s = np.zeros(nf, np.complex128)  # std-modulation solution, zero output rate
    J_s = np.zeros(nf, np.complex128)
    reinjection = np.empty(nf, np.complex128)
    for j in range(nf):
        reinjection[j] = complex(math.cos(omega[j] * Tref), -math.sin(omega[j] * Tref))
    for c in range(n - 1, 0, -1):
        h = V[c] - V[c - 1]
        F = -s2 * (drift0[c] + mu)
        A, B = _cell_coefficients(F, h)
        src_mu = 0.5 * (p0[c] + p0[c - 1])
        src_sigma = -sigma * (p0[c] - p0[c - 1]) / h
        for j in range(nf):
            iwh = 1j * omega[j] * h
            Jmid = J_a[j] + 0.5 * iwh * p_a[j]
            p_new = p_a[j] * A + s2 * Jmid * B
            J_a[j] = J_a[j] + 0.5 * iwh * (p_a[j] + p_new)
            p_a[j] = p_new
            Jmid = J_m[j] + 0.5 * iwh * p_m[j]
            p_new = p_m[j] * A + s2 * (Jmid - src_mu) * B
            J_m[j] = J_m[j] + 0.5 * iwh * (p_m[j] + p_new)
            p_m[j] = p_new
            Jmid = J_s[j] + 0.5 * iwh * p_s[j]
            p_new = p_s[j] * A + s2 * (Jmid - src_sigma) * B
            J_s[j] = J_s[j] + 0.5 * iwh * (p_s[j] + p_new)
            p_s[j] = p_new
        if c - 1 == k_reset:
            for j in range(nf):
                J_a[j] = J_a[j] - reinjection[j]
    for j in range(nf):
        r1_mu[j] = -J_m[j] / J_a[j]
        r1_sigma[j] = -J_s[j] / J_a[j]


@njit(cache=True, fastmath=False)
def _lowpass_misfit(tau, freq, weight, response):
    """Weighted squared distance between 1/(1 + 2 pi i f tau) and a normalised response."""
    err = 0.0
    for j in range(freq.shape[0]):
        model = 1.0 / (1.0 + 2j * math.pi * freq[j] * tau)
        d = model - response[j]
        err += weight[j] * (d.real * d.real + d.imag * d.imag)
    return err


@njit(cache=True, fastmath=False)
def _fit_lowpass_tau(freq, weight, response, tau_grid):
    """Time constant (ms) of the exponential filter that best fits ``response`` in least squares.

    Scan ``tau_grid`` (increasing), then golden-section search between the neighbours of the
    best grid value.
    """
    best = 0
    best_err = math.inf
    for i in range(tau_grid.shape[0]):
        e = _lowpass_misfit(tau_grid[i], freq, weight, response)
        if e < best_err:
            best_err = e
            best = i
    lo = tau_grid[max(best - 1, 0)]
    hi = tau_grid[min(best + 1, tau_grid.shape[0] - 1)]
    g = 0.5 * (math.sqrt(5.0) - 1.0)
    x1 = hi - g * (hi - lo)
    x2 = lo + g * (hi - lo)
    f1 = _lowpass_misfit(x1, freq, weight, response)
    f2 = _lowpass_misfit(x2, freq, weight, response)
    for _ in range(80):
        if hi - lo < 1e-7 * hi:
            break
        if f1 < f2:
            hi = x2
            x2 = x1
            f2 = f1
            x1 = hi - g * (hi - lo)
            f1 = _lowpass_misfit(x1, freq, weight, response)
        else:
            lo = x1
            x1 = x2
            f1 = f2
            x2 = lo + g * (hi - lo)
            f2 = _lowpass_misfit(x2, freq, weight, response)
    return 0.5 * (lo + hi)


@njit(cache=True, fastmath=False, parallel=True)
def _compute_tables(V, k_reset, drift0, V_lr, k_reset_lr, drift0_lr, Tref, mu_vals, sigma_vals,
                    freq, weight, tau_grid, r_out, V_out, tau_mu_out, tau_sigma_out):
    """Fill the (n_mu, n_sigma) tables: rate (kHz, with refractoriness), mean voltage (mV),
    tau_mu and tau_sigma (ms). The stationary quantities use the voltage grid ``V``, the linear
    responses the (coarser) grid ``V_lr``. ``freq`` (kHz) holds the fit frequencies;
    ``freq[0]`` is the normalisation frequency (weight 0)."""
    n_mu = mu_vals.shape[0]
    n_sigma = sigma_vals.shape[0]
    nf = freq.shape[0]
    omega = 2.0 * math.pi * freq
    for idx in prange(n_mu * n_sigma):
        i = idx // n_sigma
        j = idx % n_sigma
        mu = mu_vals[i]
        sigma = sigma_vals[j]
        p0 = np.empty(V.shape[0])
        r0, v_mean = _steady_state(V, k_reset, drift0, mu, sigma, p0)
        r_out[i, j] = r0 / (1.0 + r0 * Tref)
        V_out[i, j] = v_mean
        p0_lr = np.empty(V_lr.shape[0])
        _steady_state(V_lr, k_reset_lr, drift0_lr, mu, sigma, p0_lr)
        r1_mu = np.empty(nf, np.complex128)
        r1_sigma = np.empty(nf, np.complex128)
        _linear_responses(V_lr, k_reset_lr, drift0_lr, mu, sigma, Tref, p0_lr, omega, r1_mu,
                          r1_sigma)
        norm_mu = r1_mu[0]
        for k in range(nf):
            r1_mu[k] = r1_mu[k] / norm_mu
        tau_mu_out[i, j] = _fit_lowpass_tau(freq, weight, r1_mu, tau_grid)
        # a non-positive static sigma gain has no exponential-filter description (Augustin
        # et al. 2017, around Eq. 88): tau_sigma = 0 marks it, as in the published tables
        norm_sigma = r1_sigma[0]
        if norm_sigma.real > 0.0:
            for k in range(nf):
                r1_sigma[k] = r1_sigma[k] / norm_sigma
            tau_sigma_out[i, j] = _fit_lowpass_tau(freq, weight, r1_sigma, tau_grid)
        else:
            tau_sigma_out[i, j] = 0.0
