"""Make tests/data/aln_neurolib_table_points.npz from neurolib 0.6.2's shipped ALN table.

Run ONCE in a separate environment with neurolib installed (never imported by brainsweep):
    /root/.pyenv/versions/3.12.1/bin/python -m venv /tmp/ref-neurolib
    /tmp/ref-neurolib/bin/pip install neurolib==0.6.2
    /tmp/ref-neurolib/bin/python tests/data/aln_make_neurolib_fixtures.py table
    /tmp/ref-neurolib/bin/python tests/data/aln_make_neurolib_fixtures.py single
    /tmp/ref-neurolib/bin/python tests/data/aln_make_neurolib_fixtures.py network
"""

import os
import sys

import numpy as np
from importlib.metadata import version

HERE = os.path.dirname(os.path.abspath(__file__))


def table_points():
    import h5py
    import neurolib

    path = os.path.join(os.path.dirname(neurolib.__file__), "models", "aln", "aln-precalc",
                        "quantities_cascade.h5")
    with h5py.File(path, "r") as hf:
        mu, sigma = hf["mu_vals"][()], hf["sigma_vals"][()]
        mu_idx = np.array([0, 30, 60, 90, 120, 170, 230, 300, 349])
        sigma_idx = np.array([0, 9, 20, 35, 50, 63])
        sub = np.ix_(mu_idx, sigma_idx)
        np.savez(os.path.join(HERE, "aln_neurolib_table_points.npz"),
                 mu=mu[mu_idx], sigma=sigma[sigma_idx], r=hf["r_ss"][()][sub],
                 V=hf["V_mean_ss"][()][sub], tau_mu=hf["tau_mu_exp"][()][sub],
                 tau_sigma=hf["tau_sigma_exp"][()][sub],
                 grid=np.array([mu[0], mu[-1], mu.size, sigma[0], sigma[-1], sigma.size]),
                 source=f"neurolib {version('neurolib')} models/aln/aln-precalc/quantities_cascade.h5")


#: fixed initial state used by both neurolib and brainsweep in the single-node comparison
SINGLE_IC = dict(mufe=0.5, mufi=0.5, IA=0.0, seem=0.05, seim=0.05, siem=0.05, siim=0.05,
                 seev=0.0005, seiv=0.0005, siev=0.001, siiv=0.001, rates_exc=0.005,
                 rates_inh=0.005)
#: (mue_ext_mean, mui_ext_mean, a, b): neurolib's down state, up state and two points of the
#: oscillatory region without adaptation; with adaptation (a=15 nS, b=40 pA) an up state and an
#: oscillation
SINGLE_POINTS = [(0.5, 1.5, 0.0, 0.0), (3.0, 2.0, 0.0, 0.0), (1.0, 0.5, 0.0, 0.0),
                 (0.5, 0.0, 0.0, 0.0), (4.5, 2.0, 15.0, 40.0), (2.5, 0.0, 15.0, 40.0)]


def _oscillation_frequency(x, dt):
    """Frequency (Hz) from the mean interval between the maxima of x (sampled every dt ms) that
    stand out by more than 10% of its range; 0 for a fixed point."""
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(x, prominence=max(0.1 * np.ptp(x), 1e-9))
    return 0.0 if peaks.size < 2 else float(1000.0 / (np.diff(peaks).mean() * dt))


def single_node():
    from neurolib.models.aln import ALNModel

    m = ALNModel()
    stats = []
    for mue, mui, a, b in SINGLE_POINTS:
        _set_ic(m, 1)
        m.params.update(mue_ext_mean=mue, mui_ext_mean=mui, mue_ou=np.array([mue]),
                        mui_ou=np.array([mui]), sigma_ou=0.0, a=a, b=b, duration=3000.0)
        m.run()
        r = m.rates_exc[0]
        last = r[-10000:]  # last 1000 ms at dt = 0.1 ms
        stats.append([last.mean(), last.max() - last.min(), _oscillation_frequency(r[-20000:], 0.1),
                      m.IA[0, -10000:].mean()])
    np.savez(os.path.join(HERE, "aln_neurolib_single_node.npz"), points=np.array(SINGLE_POINTS),
             stats=np.array(stats), ic_names=np.array(list(SINGLE_IC)),
             ic_values=np.array(list(SINGLE_IC.values())), duration=3000.0, dt=0.1,
             columns=np.array(["mean rates_exc over last 1 s (Hz)", "max-min (Hz)",
                               "oscillation frequency over the last 2 s (Hz, from maxima)", "mean IA, last 1 s (pA)"]),
             source=f"neurolib {version('neurolib')} ALNModel, defaults, sigma_ou=0")


def _set_ic(m, n):
    for k, v in SINGLE_IC.items():
        shape = (n, 1) if k in ("IA", "rates_exc", "rates_inh") else (n,)
        m.params[f"{k}_init"] = np.full(shape, v)


def small_network():
    """4 nodes, delays from Dmat / signalV, no noise: per-node mean / max-min of rates_exc."""
    from neurolib.models.aln import ALNModel

    rng = np.random.default_rng(3)
    Cmat = rng.uniform(0.0, 1.0, (4, 4))
    np.fill_diagonal(Cmat, 0.0)
    Dmat = rng.uniform(20.0, 120.0, (4, 4))
    Dmat = (Dmat + Dmat.T) / 2
    results = {}
    for label, (mue, mui) in {"up": (2.5, 1.0), "osc": (1.0, 0.5)}.items():
        m = ALNModel(Cmat=Cmat, Dmat=Dmat)
        _set_ic(m, 4)
        m.params.update(mue_ext_mean=mue, mui_ext_mean=mui, mue_ou=np.full(4, mue),
                        mui_ou=np.full(4, mui), sigma_ou=0.0, duration=3000.0)
        m.run()
        last = m.rates_exc[:, -10000:]
        results[label] = np.c_[last.mean(axis=1), last.max(axis=1) - last.min(axis=1),
                               [_oscillation_frequency(r[-20000:], 0.1) for r in m.rates_exc]]
        results[label + "_point"] = np.array([mue, mui])
    np.savez(os.path.join(HERE, "aln_neurolib_network.npz"), Cmat=Cmat, Dmat=Dmat, **results,
             ic_names=np.array(list(SINGLE_IC)), ic_values=np.array(list(SINGLE_IC.values())),
             columns=np.array(["mean rates_exc over last 1 s (Hz)", "max-min (Hz)",
                               "oscillation frequency over the last 2 s (Hz, from maxima)"]),
             source=f"neurolib {version('neurolib')} ALNModel(Cmat, Dmat), defaults "
                    f"(signalV 20 m/s, c_gl 0.3, Ke_gl 250), sigma_ou=0, 3000 ms")


if __name__ == "__main__":
    {"table": table_points, "single": single_node, "network": small_network}[sys.argv[1]]()
