"""Make tvb_reference.npz: short deterministic TVB runs of tvbo database models, the reference
for tests/test_yaml_models.py::test_agreement_with_tvb_library.

Run once, in a throwaway environment (not brainsweep's):
    python3 -m venv /tmp/tvbref && /tmp/tvbref/bin/pip install tvb-library==2.10.0 pyyaml
    /tmp/tvbref/bin/pip install --no-deps tvbo==0.5.3          # only for its YAML files
    /tmp/tvbref/bin/python tests/data/tvb_yaml_fixtures/make_tvb_fixtures.py

For each case: tvb-library's model class with every parameter that the tvbo YAML file declares
set to the file's value (so both sides use the same numbers), tvb-library's coupling class with
the tvbo coupling file's values, a 4-node network (fixed weights, tract lengths in mm, speed
3 mm/ms -> delays of 3-12 steps), HeunDeterministic dt = 0.1 ms, a constant history equal to the
initial state, Raw monitor of all state variables, SIM_MS ms. Stored per case: initial state
(nodes x vars), trajectories (vars x nodes x samples, every STRIDE-th step), and the names of
YAML parameters tvb-library lacks (only Kuramoto's coupling N: tvb-library divides by the number
of nodes, so the test sets coupling_N = 4).
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import yaml
from tvb.datatypes.connectivity import Connectivity
from tvb.simulator import coupling as tvb_coupling
from tvb.simulator import integrators, models, monitors, simulator

HERE = Path(__file__).resolve().parent
DB = Path(importlib.util.find_spec("tvbo").submodule_search_locations[0]) / "database"
DT = 0.1
SIM_MS = 100.0
SPEED = 3.0
STRIDE = 5  # keep every 5th step (t = 0.5, 1.0, ... ms)
# (tvbo model file, tvb-library model class, tvbo coupling file, tvb-library coupling class)
CASES = [
    ("Generic2dOscillator", "Generic2dOscillator", "Linear", "Linear"),
    ("JansenRit", "JansenRit", "SigmoidalJansenRit", "SigmoidalJansenRit"),
    ("SupHopf", "SupHopf", "Difference", "Difference"),
    ("WilsonCowan", "WilsonCowan", "Linear", "Linear"),
    ("ReducedWongWangExcInh", "ReducedWongWangExcInh", "Linear", "Linear"),
    ("Kuramoto", "Kuramoto", "KuramotoCoupling", "Kuramoto"),
]
# Not used: LarterBreakspear (tvb-library names most parameters differently) and MontbrioPazoRoxin
# (tvb-library orders the state variables r, V; the tvbo file V, r).


def network():
    W = np.array([[0.0, 0.8, 0.3, 0.0], [0.5, 0.0, 0.6, 0.2], [0.1, 0.7, 0.0, 0.9], [0.4, 0.0, 0.5, 0.0]])
    L = np.array([[0.0, 9.0, 21.0, 30.0], [9.0, 0.0, 15.0, 36.0], [21.0, 15.0, 0.0, 12.0], [30.0, 36.0, 12.0, 0.0]])
    return W, L


def set_from_yaml(obj, yaml_params: dict, prefix=""):
    missing = []
    for name, entry in (yaml_params or {}).items():
        value = entry["value"] if isinstance(entry, dict) else entry
        if hasattr(obj, name):
            setattr(obj, name, np.array([float(value)]).astype(np.asarray(getattr(obj, name)).dtype))
        else:
            missing.append(prefix + name)
    return missing


def run_case(model_file, model_cls, coupling_file, coupling_cls, W, L):
    ydoc = yaml.safe_load((DB / "models" / f"{model_file}.yaml").read_text())
    cdoc = yaml.safe_load((DB / "coupling_functions" / f"{coupling_file}.yaml").read_text())
    model = getattr(models, model_cls)()
    missing = set_from_yaml(model, ydoc.get("parameters"))
    cpl = getattr(tvb_coupling, coupling_cls)()
    missing += set_from_yaml(cpl, cdoc.get("parameters"), "coupling_")
    svars = list(ydoc["state_variables"])
    assert list(model.state_variables) == svars, (model.state_variables, svars)
    model.variables_of_interest = tuple(svars)
    conn = Connectivity(weights=W, tract_lengths=L, speed=np.array([SPEED]), centres=np.zeros((4, 3)),
                        region_labels=np.array([f"r{k}" for k in range(4)]))
    conn.configure()
    horizon = int(np.rint(L / SPEED / DT).max()) + 1
    rng = np.random.default_rng(7)
    x0 = np.empty((4, len(svars)))
    for k, s in enumerate(svars):
        lo, hi = model.state_variable_range[s]
        x0[:, k] = rng.uniform(lo + 0.3 * (hi - lo), hi - 0.3 * (hi - lo), 4)
    ic = np.repeat(x0.T[None, :, :, None], horizon, axis=0)
    sim = simulator.Simulator(model=model, connectivity=conn, coupling=cpl,
                              integrator=integrators.HeunDeterministic(dt=DT), monitors=(monitors.Raw(),),
                              simulation_length=SIM_MS, initial_conditions=ic)
    sim.configure()
    (t, y), = sim.run()
    # TVB counts time from the start of the history (t[0] = horizon * dt): one sample per step
    assert len(t) == int(round(SIM_MS / DT)) and np.allclose(np.diff(t), DT), (len(t), t[:3])
    return x0, y[:, :, :, 0].transpose(1, 2, 0), missing


def main():
    W, L = network()
    out = {"W": W, "L": L, "dt": DT, "sim_ms": SIM_MS, "speed": SPEED, "stride": STRIDE}
    meta = {}
    for mf, mc, cf, cc in CASES:
        x0, traj, missing = run_case(mf, mc, cf, cc, W, L)
        out[f"{mf}__x0"] = x0
        out[f"{mf}__traj"] = traj[:, :, STRIDE - 1 :: STRIDE]
        meta[mf] = {"coupling": cf, "tvb_model": mc, "tvb_coupling": cc, "yaml_params_not_in_tvb": missing}
        print(mf, traj.shape, "missing in tvb:", missing)
    out["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(HERE / "tvb_reference.npz", **out)


if __name__ == "__main__":
    main()
