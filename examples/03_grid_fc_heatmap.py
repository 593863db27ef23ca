"""Grid exploration of a whole-brain network (Hopf on tvb68, BOLD) and its FC-fit heatmap.

    python examples/03_grid_fc_heatmap.py        # BRAINSWEEP_FAST=1: tiny

A 2-D grid over global coupling K_gl and noise strength sigma_ou; each run's BOLD FC is
correlated with the BOLD FC of a run with hidden parameters. Writes hopf_grid.h5 and
03_fc_heatmap.png. Then try:  brainsweep info hopf_grid.h5
                              brainsweep plot hopf_grid.h5 --x K_gl --y sigma_ou --z fc_fit -o fc.png
"""

import os

import numpy as np

from brainsweep import evaluation as ev
from brainsweep.data import load_connectome
from brainsweep.explorer import GridSearch, ParameterSpace, Study
from brainsweep.models import HopfModel
from brainsweep.mpi import is_root

FAST = os.environ.get("BRAINSWEEP_FAST") == "1"
HIDDEN = {"K_gl": 0.6, "sigma_ou": 0.05}
RUN = dict(duration=20_000.0 if FAST else 40_000.0, sampling_dt=10.0, bold=True, tr=500.0)
TRANSIENT_MS = 10_000.0

sc = load_connectome("tvb68", normalize="max")
model = HopfModel(Cmat=sc.Cmat, Dmat=sc.Dmat)
model.params.update(a=-0.05, w=0.05, signalV=100.0)

target = model.run_batch([HIDDEN], seeds=[999], **RUN)[0]
fc_target = ev.fc(target["BOLD"][:, target["BOLD_t"] >= TRANSIENT_MS])

grid = {"K_gl": [0.1, 0.6, 1.8], "sigma_ou": [0.01, 0.05]} if FAST else \
    {"K_gl": np.round(np.linspace(0.0, 1.4, 8), 2).tolist(), "sigma_ou": [0.01, 0.02, 0.05, 0.1, 0.2]}
study = Study(model, ParameterSpace(grid), GridSearch(), path="hopf_grid.h5", seed=2, overwrite=True,
              run_kwargs=RUN, objective=ev.fit_fc(fc_target, transient_ms=TRANSIENT_MS))
res = study.run(progress=not FAST)
if is_root():
    fig = res.plot_grid("K_gl", "sigma_ou", "fc_fit")
    fig.axes[0].set_yscale("log")
    fig.savefig("03_fc_heatmap.png", dpi=80)
    best = res.best(3, key="fc_fit", minimize=False)
    print(best[["K_gl", "sigma_ou", "fc_fit"]].to_string())
    print(f"hidden {HIDDEN}; best K_gl={best['K_gl'].iloc[0]}, sigma_ou={best['sigma_ou'].iloc[0]}")
