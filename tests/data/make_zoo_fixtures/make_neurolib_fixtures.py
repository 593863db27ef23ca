"""Make the neurolib 0.6.2 reference fixtures for the Wilson-Cowan, Wong-Wang and thalamic models.

Run once, by hand, in a throwaway environment that has neurolib (NOT the project's test venv):

    /root/.pyenv/versions/3.12.1/bin/python -m venv /tmp/ref-neurolib
    /tmp/ref-neurolib/bin/pip install neurolib==0.6.2
    /tmp/ref-neurolib/bin/python tests/data/make_zoo_fixtures/make_neurolib_fixtures.py

Writes tests/data/zoo_wc_neurolib.npz, zoo_ww_neurolib.npz, zoo_thalamic_neurolib.npz.
The tests never run this script; they only read the .npz files. See tests/data/README_zoo.md.
"""

from pathlib import Path

import numpy as np
import neurolib
from neurolib.models.thalamus import ThalamicMassModel
from neurolib.models.wc import WCModel
from neurolib.models.ww import WWModel

OUT = Path(__file__).resolve().parents[1]
N_NODES = 10
SIGNAL_V = 20.0  # m/s (= mm/ms)
DT = 0.1  # ms
SAMPLE_EVERY = 10  # keep every 10th Euler step (1 ms) so each file stays small


def network(seed):
    """Fixed random 10-node network: row-normalised weights, symmetric fibre lengths 10-100 mm."""
    rng = np.random.default_rng(seed)
    cmat = rng.uniform(0.0, 1.0, (N_NODES, N_NODES))
    np.fill_diagonal(cmat, 0.0)
    cmat /= cmat.sum(axis=1, keepdims=True)
    dmat = rng.uniform(10.0, 100.0, (N_NODES, N_NODES))
    dmat = 0.5 * (dmat + dmat.T)
    np.fill_diagonal(dmat, 0.0)
    return rng, cmat, dmat


def scalar_params(params, names):
    return {f"param_{k}": np.float64(params[k]) for k in names}


def make_wc():
    rng, cmat, dmat = network(seed=101)
    exc_init = rng.uniform(0.0, 0.1, (N_NODES, 1))
    inh_init = rng.uniform(0.0, 0.1, (N_NODES, 1))
    m = WCModel(Cmat=cmat, Dmat=dmat, seed=0)
    m.params.update(duration=300.0, dt=DT, signalV=SIGNAL_V, K_gl=0.6, exc_ext=1.0, inh_ext=0.0, sigma_ou=0.0)
    m.params["exc_init"] = exc_init.copy()
    m.params["inh_init"] = inh_init.copy()
    m.run()
    idx = np.arange(SAMPLE_EVERY - 1, m.t.size, SAMPLE_EVERY)
    names = ["tau_exc", "tau_inh", "c_excexc", "c_excinh", "c_inhexc", "c_inhinh", "a_exc", "a_inh",
             "mu_exc", "mu_inh", "exc_ext", "inh_ext", "K_gl", "signalV", "sigma_ou", "tau_ou"]
    np.savez_compressed(
        OUT / "zoo_wc_neurolib.npz",
        Cmat=cmat, Dmat=dmat, exc_init=exc_init[:, 0], inh_init=inh_init[:, 0],
        dt=DT, duration=300.0, t=m.t[idx], exc=m.exc[:, idx], inh=m.inh[:, idx],
        neurolib_version=neurolib.__version__ if hasattr(neurolib, "__version__") else "0.6.2",
        **scalar_params(m.params, names),
    )


def make_ww():
    rng, cmat, dmat = network(seed=202)
    ses_init = rng.uniform(0.0, 0.1, (N_NODES, 1))
    sis_init = rng.uniform(0.0, 0.1, (N_NODES, 1))
    m = WWModel(Cmat=cmat, Dmat=dmat, seed=0)
    m.params.update(duration=400.0, dt=DT, signalV=SIGNAL_V, K_gl=2.0, sigma_ou=0.0)
    m.params["ses_init"] = ses_init.copy()
    m.params["sis_init"] = sis_init.copy()
    m.run()
    # states: every 1 ms at t = 1 .. 399 ms.  neurolib stores in r_exc[:, k] the rate computed from the
    # state at step k-1, so the rate belonging to the state at index k is r_exc[:, k + 1].
    idx = np.arange(SAMPLE_EVERY - 1, m.t.size - 1, SAMPLE_EVERY)
    names = ["a_exc", "b_exc", "d_exc", "tau_exc", "gamma_exc", "w_exc", "exc_current", "a_inh", "b_inh",
             "d_inh", "tau_inh", "w_inh", "inh_current", "J_NMDA", "J_I", "w_ee", "K_gl", "signalV",
             "sigma_ou", "tau_ou"]
    np.savez_compressed(
        OUT / "zoo_ww_neurolib.npz",
        Cmat=cmat, Dmat=dmat, ses_init=ses_init[:, 0], sis_init=sis_init[:, 0],
        dt=DT, duration=400.0, t=m.t[idx], se=m.se[:, idx], si=m.si[:, idx],
        r_exc=m.r_exc[:, idx + 1], r_inh=m.r_inh[:, idx + 1],
        # neurolib 0.6.2 reads tau_inh = params["tau_exc"] in its integrator, so s_I relaxes with tau_exc
        effective_tau_inh=np.float64(m.params["tau_exc"]),
        **scalar_params(m.params, names),
    )


THALAMIC_STATE = ["V_t", "V_r", "Q_t", "Q_r", "Ca", "h_T_t", "h_T_r", "m_h1", "m_h2", "s_et", "s_gt",
                  "s_er", "s_gr", "ds_et", "ds_gt", "ds_er", "ds_gr"]


def make_thalamic():
    m = ThalamicMassModel(seed=5)  # neurolib's own random initial V_t, V_r (seeded); other states 0 / Ca_0
    dt = m.params["dt"]  # 0.01 ms, neurolib's default for this model
    m.params.update(duration=1000.0, d_phi=0.0)
    init = {k: float(np.asarray(m.params[k + "_init"]).ravel()[0]) for k in THALAMIC_STATE}
    m.run()
    every = int(round(1.0 / dt))
    idx = np.arange(every - 1, m.t.size, every)
    final = {f"final_{k}": float(np.asarray(m.state[k]).ravel()[-1]) for k in THALAMIC_STATE}
    names = ["tau", "Q_max", "theta", "sigma", "C1", "C_m", "gamma_e", "gamma_r", "g_L", "g_GABA", "g_AMPA",
             "g_LK", "E_AMPA", "E_GABA", "E_L", "E_K", "E_Ca", "g_T_t", "g_h", "E_h", "alpha_Ca", "tau_Ca",
             "Ca_0", "k1", "k2", "k3", "k4", "n_P", "g_inc", "N_tr", "d_phi", "g_T_r", "N_rt", "N_rr",
             "ext_current_t", "ext_current_r"]
    np.savez_compressed(
        OUT / "zoo_thalamic_neurolib.npz",
        dt=dt, duration=1000.0, t=m.t[idx],
        V_t=m.V_t[:, idx], V_r=m.V_r[:, idx], Q_t=m.Q_t[:, idx], Q_r=m.Q_r[:, idx],
        **{f"init_{k}": v for k, v in init.items()}, **final,
        **scalar_params(m.params, names),
    )


if __name__ == "__main__":
    make_wc()
    make_ww()
    make_thalamic()
    for name in ("wc", "ww", "thalamic"):
        path = OUT / f"zoo_{name}_neurolib.npz"
        print(path, path.stat().st_size, "bytes")
