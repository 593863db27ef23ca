"""Make the tvb-library reference fixture for the Jansen-Rit model with sigmoidal Jansen-Rit coupling.

Run once, by hand, in a throwaway environment that has tvb-library (NOT the project's test venv):

    /root/.pyenv/versions/3.12.1/bin/python -m venv /tmp/ref-tvb
    /tmp/ref-tvb/bin/pip install tvb-library          # 2.10.0 was used
    /tmp/ref-tvb/bin/python tests/data/make_zoo_fixtures/make_tvb_fixture.py

Writes tests/data/zoo_jansenrit_tvb.npz with
  * dfun_*: tvb's JansenRit.dfun (its numba kernel) at 40 random states and coupling inputs, for two
    parameter sets (the TVB-O example values used as brainsweep defaults, and tvb-library's class defaults);
  * heun_*: a deterministic Heun run (HeunDeterministic, dt = 0.1 ms, no noise) of a 6-node delayed
    network with SigmoidalJansenRit coupling, started from a constant initial history, Raw monitor,
    all six state variables kept every 1 ms.
The tests never run this script; they only read the .npz file. See tests/data/README_zoo.md.
"""

from pathlib import Path

import numpy as np
import tvb
from tvb.datatypes.connectivity import Connectivity
from tvb.simulator.coupling import SigmoidalJansenRit
from tvb.simulator.integrators import HeunDeterministic
from tvb.simulator.models.jansen_rit import JansenRit
from tvb.simulator.monitors import Raw
from tvb.simulator.simulator import Simulator

OUT = Path(__file__).resolve().parents[1] / "zoo_jansenrit_tvb.npz"
PARAM_NAMES = ["A", "B", "a", "b", "v0", "nu_max", "r", "J", "a_1", "a_2", "a_3", "a_4", "mu"]
# TVB-O Jansen-Rit example values (= brainsweep's JansenRitModel defaults); tvb-library's class defaults
# differ in a (0.1), b (0.05) and mu (0.22).
TVBO = dict(A=3.25, B=22.0, a=0.04, b=0.04, v0=5.52, nu_max=0.0025, r=0.56, J=135.0,
            a_1=1.0, a_2=0.8, a_3=0.25, a_4=0.25, mu=0.15)
COUPLING = dict(a=1.0, cmin=0.0, cmax=0.005, r=0.56, midpoint=6.0)
N_STATES = 40
N_NODES = 6
DT = 0.1  # ms
DURATION = 500.0  # ms
SPEED = 4.0  # mm/ms (= m/s)


def jr_model(values):
    return JansenRit(**{k: np.array([float(v)]) for k, v in values.items()})


def random_states(rng):
    """Half in a physiological range, half in tvb's state_variable_range (sigmoids saturated)."""
    half = N_STATES // 2
    lo = np.array([-0.05, -5.0, -5.0, -1.0, -10.0, -10.0])
    hi = np.array([0.25, 30.0, 30.0, 1.0, 10.0, 10.0])
    phys = rng.uniform(lo, hi, (half, 6))
    rng_tvb = JansenRit.state_variable_range.default
    lo2 = np.array([rng_tvb[f"y{i}"][0] for i in range(6)])
    hi2 = np.array([rng_tvb[f"y{i}"][1] for i in range(6)])
    wide = rng.uniform(lo2, hi2, (N_STATES - half, 6))
    return np.vstack([phys, wide])


def dfun_at(model, states, coupling):
    model.configure()
    y = states.T[:, :, None]  # (nvar, nnode, nmode)
    c = np.repeat(coupling[None, :, None], 2, axis=0)  # (ncvar=2, nnode, nmode); dfun reads row 0
    return model.dfun(y, c)[:, :, 0].T  # (n_states, 6)


def heun_run(rng):
    weights = rng.uniform(0.0, 1.0, (N_NODES, N_NODES))
    np.fill_diagonal(weights, 0.0)
    lengths = rng.uniform(5.0, 60.0, (N_NODES, N_NODES))
    lengths = 0.5 * (lengths + lengths.T)
    np.fill_diagonal(lengths, 0.0)
    init_state = np.column_stack([
        rng.uniform(0.0, 0.15, N_NODES), rng.uniform(5.0, 25.0, N_NODES), rng.uniform(5.0, 20.0, N_NODES),
        rng.uniform(-0.5, 0.5, N_NODES), rng.uniform(-2.0, 2.0, N_NODES), rng.uniform(-2.0, 2.0, N_NODES),
    ])  # (n_nodes, 6)
    conn = Connectivity(weights=weights, tract_lengths=lengths, speed=np.array([SPEED]),
                        region_labels=np.array([f"n{i}" for i in range(N_NODES)]),
                        centres=np.zeros((N_NODES, 3)))
    conn.configure()
    horizon = int(np.rint(lengths / SPEED / DT).max()) + 1
    history = np.repeat(init_state.T[None, :, :, None], horizon, axis=0)  # (horizon, 6, n_nodes, 1), constant
    model = jr_model(TVBO)
    model.variables_of_interest = ("y0", "y1", "y2", "y3", "y4", "y5")
    sim = Simulator(model=model, connectivity=conn,
                    coupling=SigmoidalJansenRit(**{k: np.array([v]) for k, v in COUPLING.items()}),
                    integrator=HeunDeterministic(dt=DT), monitors=[Raw()],
                    initial_conditions=history, simulation_length=DURATION)
    sim.configure()
    (t, y), = sim.run()
    y = y[:, :, :, 0]  # (n_steps, 6, n_nodes)
    every = int(round(1.0 / DT))
    idx = np.arange(every - 1, t.size, every)
    return dict(heun_weights=weights, heun_lengths=lengths, heun_speed=SPEED, heun_dt=DT,
                heun_duration=DURATION, heun_init_state=init_state,
                # tvb counts steps from the end of the initial history, so its time axis starts at
                # horizon * dt; heun_t is the time since the start of the integration (ms)
                heun_t=(idx + 1) * DT, heun_t_tvb=t[idx],
                heun_states=np.ascontiguousarray(y[idx].transpose(1, 2, 0)),  # (6, n_nodes, n_samples)
                heun_idelays=np.rint(lengths / SPEED / DT).astype(int))


def main():
    rng = np.random.default_rng(2024)
    states = random_states(rng)
    coupling = rng.uniform(0.0, 0.02, N_STATES)
    tvb_defaults = {k: float(getattr(JansenRit, k).default[0]) for k in PARAM_NAMES}
    out = dict(
        param_names=np.array(PARAM_NAMES),
        dfun_states=states, dfun_coupling=coupling,
        dfun_params_tvbo=np.array([TVBO[k] for k in PARAM_NAMES]),
        dfun_tvbo=dfun_at(jr_model(TVBO), states, coupling),
        dfun_params_tvb_defaults=np.array([tvb_defaults[k] for k in PARAM_NAMES]),
        dfun_tvb_defaults=dfun_at(jr_model(tvb_defaults), states, coupling),
        coupling_names=np.array(list(COUPLING)), coupling_values=np.array(list(COUPLING.values())),
        tvb_version=str(getattr(tvb, "__version__", "tvb-library 2.10.0")),
    )
    out.update(heun_run(rng))
    np.savez_compressed(OUT, **out)
    print(OUT, OUT.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
