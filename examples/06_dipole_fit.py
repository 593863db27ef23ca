"""Fit a stimulated Jansen-Rit column to an evoked dipole with Bayesian optimisation
(as hnn-core's evoked-response optimisation example).

    python examples/06_dipole_fit.py [dipole.txt]      # BRAINSWEEP_FAST=1: tiny

The target is your dipole in hnn's text format (columns: time in ms, aggregate dipole in nAm,
optional L2, L5), or, without an argument, the response of the model with hidden synaptic gains
(A = 3.25 mV, B = 22 mV). A 10 ms input pulse at 50 ms evokes the response; BayesOpt searches
A and B to minimise the RMSE between the simulated dipole (scale * (y1 - y2)) and the target.
Writes dipole_fit.h5, 06_dipole_fit.png, 06_convergence.png.
"""

import os
import sys

import numpy as np

from brainsweep import evaluation as ev
from brainsweep.data import read_dipole
from brainsweep.explorer import BayesOpt, ParameterSpace, Study
from brainsweep.explorer.plots_models import plot_dipoles
from brainsweep.models import JansenRitModel, PulseTrain
from brainsweep.mpi import is_root

FAST = os.environ.get("BRAINSWEEP_FAST") == "1"
HIDDEN, INITIAL = {"A": 3.25, "B": 22.0}, {"A": 4.0, "B": 18.0}
SCALE = 1.0  # dipole = SCALE * (y1 - y2); fit this too (or use ev.scale_dipole) for a measured dipole

model = JansenRitModel()
model.params.update(a=0.1, b=0.05, mu=0.05)  # classic Jansen-Rit rates, resting (fixed-point) input
model.run(duration=3000.0, seed=0)           # settle at rest: every run starts from this state
rest = model.state.copy()

if len(sys.argv) > 1:
    dip = read_dipole(sys.argv[1])
    t_target, target, label = dip.t, dip.agg, sys.argv[1]
else:
    t_target, target, label = None, None, f"synthetic (A={HIDDEN['A']}, B={HIDDEN['B']})"
duration = 300.0 if t_target is None else float(t_target[-1]) + 1.0
RUN = dict(duration=duration, sampling_dt=1.0, initial_state=rest,
           stimulus={"p": PulseTrain(amplitude=0.3, period=1e9, width=10.0, onset=50.0, n_pulses=1)})
dipole = ev.JansenRitDipole(scale=SCALE)
if target is None:
    out = model.run_batch([HIDDEN], seeds=[0], **RUN)[0]
    t_target, target = out["t"], dipole(out)[0]

# simulated samples start at t = sampling_dt (1 ms): compare from there on
tstart = max(float(t_target[0]), 1.0)
objective = ev.fit_dipole(t_target, target, dipole=dipole, tstart=tstart, keep=True)
space = ParameterSpace(bounds={"A": (2.5, 5.0), "B": (15.0, 30.0)})
bo = BayesOpt(n_calls=16 if FAST else 50, n_initial=8 if FAST else 12, batch=2, objective="dipole_rmse")
res = Study(model, space, bo, path="dipole_fit.h5", seed=1, overwrite=True, objective=objective,
            run_kwargs=RUN).run(progress=not FAST)
if is_root():
    best = res.best(1, key="dipole_rmse")
    run = res.run(int(best.index[0]))
    initial = objective(model.run_batch([INITIAL], seeds=[0], **RUN)[0])  # the starting guess, for comparison
    fitted = t_target >= tstart
    plot_dipoles(t_target[fitted], target[fitted], best=run["dipole"], initial=initial["dipole"], ylabel="dipole (scaled y1 - y2)",
                 title=f"best A={run['A']:.2f} mV, B={run['B']:.2f} mV").savefig("06_dipole_fit.png", dpi=80)
    res.plot_convergence("dipole_rmse").savefig("06_convergence.png", dpi=80)
    print(f"target {label}; initial guess {INITIAL}: rmse {initial['dipole_rmse']:.4f}")
    print(f"best A={run['A']:.3f}, B={run['B']:.3f}: rmse {run['dipole_rmse']:.4f}")
