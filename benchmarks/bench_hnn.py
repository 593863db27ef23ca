"""hnn-core's network through brainsweep: CPU time of one simulation, brainsweep versus plain hnn-core.

    python benchmarks/bench_hnn.py per-sim [--full] [--repeat 3] [--n-trials 1]

The problem is examples/08_hnn_evoked_fit.py (hnn-core's ``optimize_evoked`` example): its
``set_params``, hand-tuned initial point, the measured dipole (../shared/data or ``--target``),
scale 3000, 30 ms smoothing, tstop = the dipole's last time, fixed drive seeds.

per-sim
    CPU-seconds per simulation (``time.process_time`` of this process: NEURON runs here) of
    the reduced network (3x3 pyramidal cells; ``--full``: hnn-core's 10x10) for the example's
    initial point, through ``HNNEvaluator`` and through plain hnn-core (``simulate_dipole``,
    scale, smooth, average, ``_rmse``: its Optimizer's path), alternating; fastest of
    ``--repeat``. The two RMSEs must be equal.

The optimisation side by side with hnn-core's ``Optimizer`` is benchmarks/bench_hnn_vs_optimizer.py.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "08_hnn_evoked_fit.py"


def example_module():
    """examples/08 as a module (its study runs only under ``__main__``)."""
    name = "hnn_evoked_example"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, EXAMPLE)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def read_target(args):
    ex = example_module()
    return ex.read_target([None, args.target] if args.target else [None])


# -- per-simulation cost ---------------------------------------------------------------------------------
def _plain_hnn_once(ex, target, reduced, n_trials):
    import hnn_core
    from hnn_core.dipole import Dipole, _rmse, average_dipoles
    net = hnn_core.neymotin_2020_model(mesh_shape=(3, 3)) if reduced else hnn_core.neymotin_2020_model()
    ex.set_params(net, ex.initial_params)
    tstop = float(target.t[-1])
    dpls = hnn_core.simulate_dipole(net, tstop=tstop, n_trials=n_trials, verbose=False)
    for dpl in dpls:
        dpl.scale(ex.scale_for(reduced))
        dpl.smooth(ex.window_length)
    return _rmse(average_dipoles(dpls), Dipole(target.t, target.agg), tstop=tstop)


def per_sim(args):
    ex = example_module()
    target = read_target(args)
    ev = ex.make_evaluator(target, reduced=not args.full, trials=args.n_trials)
    ev(ex.initial_params)  # builds the network and loads NEURON's mechanisms once
    best = {"brainsweep": np.inf, "hnn-core": np.inf}
    scores = {}
    for _ in range(args.repeat):
        for label in best:
            c0 = time.process_time()
            if label == "brainsweep":
                scores[label] = ev(ex.initial_params)["dipole_rmse"]
            else:
                scores[label] = _plain_hnn_once(ex, target, not args.full, args.n_trials)
            best[label] = min(best[label], (time.process_time() - c0) / args.n_trials)
    network = "10x10 (hnn-core default)" if args.full else "3x3 (reduced)"
    for label, cpu in best.items():
        print(json.dumps({"bench": "per_sim", "who": label, "network": network, "tstop_ms": float(target.t[-1]),
                          "cpu_s_per_trial": round(cpu, 3), "rmse": scores[label]}))
    if scores["brainsweep"] != scores["hnn-core"]:
        raise SystemExit(f"the two paths disagree: {scores}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("per-sim")
    p.add_argument("--target", default=None, help="dipole file (default: ../shared/data/yes_trial_S1_ERP_all_avg.txt)")
    p.add_argument("--n-trials", type=int, default=1)
    p.add_argument("--full", action="store_true", help="hnn-core's default 10x10 network")
    p.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    for label in ("n_trials", "repeat"):
        if getattr(args, label) < 1:
            parser.error(f"--{label.replace('_', '-')}: expected an integer >= 1")
    per_sim(args)


if __name__ == "__main__":
    main()
