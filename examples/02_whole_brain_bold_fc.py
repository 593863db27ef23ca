"""Whole-brain Hopf network on the default connectome (tvb68) with BOLD, fitted to an FC.

    python examples/02_whole_brain_bold_fc.py [fc_emp.csv]     # BRAINSWEEP_FAST=1: tiny

The target is your empirical FC (a 68 x 68 matrix in CSV/TXT/NPY), or, without an argument, the
BOLD FC of a run with hidden parameters (global coupling K_gl = 0.6). One simulation is shown,
then K_gl is swept and each run's BOLD FC is correlated with the target. Writes bold_fc.h5,
02_bold.png, 02_fc_sweep.png, 02_fc_best.png and prints the best K_gl.
"""

import os
import sys

import numpy as np

from brainsweep import evaluation as ev
from brainsweep.data import load_connectome, read_matrix
from brainsweep.explorer import GridSearch, ParameterSpace, Study
from brainsweep.explorer.plots_models import plot_fc_matrices, plot_timeseries
from brainsweep.models import HopfModel
from brainsweep.mpi import is_root

FAST = os.environ.get("BRAINSWEEP_FAST") == "1"
HIDDEN_K = 0.6
RUN = dict(duration=20_000.0 if FAST else 60_000.0, sampling_dt=10.0, bold=True, tr=500.0)
TRANSIENT_MS = 10_000.0

sc = load_connectome("tvb68", normalize="max")
model = HopfModel(Cmat=sc.Cmat, Dmat=sc.Dmat)
model.params.update(a=-0.05, w=0.05, sigma_ou=0.05, signalV=100.0)  # noisy oscillators near the bifurcation

if len(sys.argv) > 1:
    fc_emp, target = read_matrix(sys.argv[1]), sys.argv[1]
else:  # a synthetic "empirical" FC from a run with a hidden coupling strength and its own seed
    out = model.run_batch([{"K_gl": HIDDEN_K}], seeds=[999], **RUN)[0]
    fc_emp, target = ev.fc(out["BOLD"][:, out["BOLD_t"] >= TRANSIENT_MS]), f"synthetic (K_gl={HIDDEN_K})"
    if is_root():
        plot_timeseries(out["BOLD_t"], out["BOLD"], ylabel="BOLD", title="BOLD, 12 of 68 regions") \
            .savefig("02_bold.png", dpi=80)

K_values = [0.2, 0.6, 1.4] if FAST else [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4]
study = Study(model, ParameterSpace({"K_gl": K_values}), GridSearch(), path="bold_fc.h5", seed=1,
              objective=ev.fit_fc(fc_emp, transient_ms=TRANSIENT_MS, keep=True), run_kwargs=RUN,
              overwrite=True)
res = study.run(progress=not FAST)
if is_root():
    best = res.best(1, key="fc_fit", minimize=False)
    k_best, idx = float(best["K_gl"].iloc[0]), int(best.index[0])
    res.plot_sweep("K_gl", "fc_fit").savefig("02_fc_sweep.png", dpi=80)
    plot_fc_matrices(res.run(idx)["fc"], fc_emp, titles=(f"simulated, K_gl={k_best}", f"target: {target}")) \
        .savefig("02_fc_best.png", dpi=70)
    print(res.df[["K_gl", "fc_fit"]].to_string())
    print(f"best K_gl = {k_best} (fc_fit {best['fc_fit'].iloc[0]:.3f}); target {target}")
