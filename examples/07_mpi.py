"""The same study under MPI: no change to the script.

    python examples/07_mpi.py                      # one process
    mpiexec -n 3 python examples/07_mpi.py         # rank 0 writes the file, ranks 1-2 simulate
    mpiexec -n 3 brainsweep run study.yaml         # a YAML study file, the same way

Every rank runs this file; Study.run sees the MPI launcher and uses the MPI executor. Rank 0
drives the grid and is the only process that opens mpi_grid.h5; the other ranks evaluate chunks
of runs (each chunk one batched numba call) and send the results back. Every rank gets the
Results at the end, so guard plots and prints with is_root(). A killed job resumes from the file
when started again (drop overwrite=True for that). BRAINSWEEP_FAST=1: tiny.
"""

import os

from brainsweep import evaluation as ev
from brainsweep.data import load_connectome
from brainsweep.explorer import GridSearch, ParameterSpace, Study
from brainsweep.models import HopfModel
from brainsweep.mpi import is_root

FAST = os.environ.get("BRAINSWEEP_FAST") == "1"
RUN = dict(duration=2000.0 if FAST else 20_000.0, sampling_dt=5.0)

sc = load_connectome("tvb68", normalize="max")
model = HopfModel(Cmat=sc.Cmat, Dmat=sc.Dmat)
model.params.update(a=-0.05, w=0.05, sigma_ou=0.02, signalV=100.0)
target = model.run_batch([{"K_gl": 0.6}], seeds=[999], **RUN)[0]  # every rank computes the same target
fc_target = ev.fc(target["x"][:, target["t"] >= 500.0])

K = [0.0, 0.3, 0.6, 0.9] if FAST else [round(0.1 * k, 1) for k in range(16)]
sigma = [0.01, 0.02] if FAST else [0.005, 0.01, 0.02, 0.05]
study = Study(model, ParameterSpace({"K_gl": K, "sigma_ou": sigma}), GridSearch(), path="mpi_grid.h5", seed=7,
              overwrite=True, run_kwargs=RUN, objective=ev.fit_fc(fc_target, key="x", transient_ms=500.0))
res = study.run(progress=not FAST)
if is_root():
    print(res)
    print(f"rank 0: pid {os.getpid()}; runs per worker (host:pid):", res.df["worker"].value_counts().to_dict())
    res.plot_grid("K_gl", "sigma_ou", "fc_fit").savefig("07_fc_fit.png", dpi=80)
    print(res.best(3, key="fc_fit", minimize=False)[["K_gl", "sigma_ou", "fc_fit"]].to_string())
