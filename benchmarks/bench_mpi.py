"""MPI executor: strong scaling of a model grid and the coordinator's capacity.

    python benchmarks/bench_mpi.py [--runs 64] [--duration 2000] [--trivial 20000]

1. Strong scaling: a grid of ``--runs`` runs of an 80-region Hopf network with delays
   (``--duration`` ms each, dt 0.1 ms), on 1 and on 2 worker ranks (``mpiexec -n 2`` and
   ``-n 3``; rank 0 only coordinates and writes). Parallel efficiency = T1 / (2 T2).
2. Coordinator capacity: ``--trivial`` runs of a function returning one float, through
   1, 2, 4 and 8 worker ranks (oversubscribed on a small machine): runs stored per second.

Each configuration is a separate ``mpiexec`` of this script, timed inside rank 0
from the start of ``Study.run`` to its return (MPI start-up excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _hopf80():
    from brainsweep.models import HopfModel
    rng = np.random.default_rng(1)
    C = rng.uniform(0, 1, (80, 80)) * (rng.uniform(size=(80, 80)) < 0.3)
    np.fill_diagonal(C, 0)
    D = rng.uniform(20, 200, (80, 80))
    m = HopfModel(Cmat=C, Dmat=D)
    m.params.update(sigma_ou=0.01, signalV=10.0)
    return m


class MeanX:
    def __call__(self, out):
        return {"mean_x": float(out["x"].mean())}


def trivial(params):
    return {"v": params["i"] * 0.5}


def worker_main(mode: str, path: str, runs: int, duration: float) -> None:
    from brainsweep.explorer import ParameterSpace, Study
    from brainsweep.mpi import is_root
    if mode == "model":
        study = Study(_hopf80(), ParameterSpace({"K_gl": list(np.linspace(0, 1, runs))}), path=path,
                      objective=MeanX(), run_kwargs=dict(duration=duration, sampling_dt=10.0), seed=1)
    else:
        study = Study(trivial, ParameterSpace({"i": list(range(runs))}), path=path, seed=1)
    t0 = time.perf_counter()
    res = study.run(progress=False)
    dt = time.perf_counter() - t0
    if is_root():
        assert len(res.df) == runs and (res.df["status"] == "ok").all()
        print("RESULT " + json.dumps({"seconds": dt, "runs": runs}))


def _mpiexec() -> str:
    exe = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
    if exe is None:
        sys.exit("mpiexec not found: pip install mpich")
    return exe


def launch(n_ranks: int, mode: str, runs: int, duration: float, tmp: str) -> float:
    path = os.path.join(tmp, f"{mode}_{n_ranks}_{runs}.h5")
    cmd = [_mpiexec(), "-n", str(n_ranks), sys.executable, __file__, "--worker", mode, path,
           str(runs), str(duration)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stderr[-2000:]}")
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[7:])["seconds"]


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=64)
    ap.add_argument("--duration", type=float, default=2000.0)
    ap.add_argument("--trivial", type=int, default=20000)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    launch(2, "model", 2, 100.0, tmp)  # compile / fill numba's cache once
    t1 = launch(2, "model", args.runs, args.duration, tmp)
    t2 = launch(3, "model", args.runs, args.duration, tmp)
    print(f"\nStrong scaling, {args.runs} runs of an 80-region Hopf network, {args.duration:.0f} ms each "
          f"(dt 0.1 ms, delays), {os.cpu_count()} cores\n")
    print("| worker ranks | wall s | runs/s | speed-up | parallel efficiency |")
    print("|---|---|---|---|---|")
    print(f"| 1 | {t1:.2f} | {args.runs / t1:.2f} | 1.00 | 100% |")
    print(f"| 2 | {t2:.2f} | {args.runs / t2:.2f} | {t1 / t2:.2f} | {100 * t1 / (2 * t2):.0f}% |")
    print(f"\nCoordinator capacity, {args.trivial:,} trivial runs (one float each)\n")
    print("| worker ranks | wall s | runs stored/s |")
    print("|---|---|---|")
    for workers in (1, 2, 4, 8):
        t = launch(workers + 1, "trivial", args.trivial, 0.0, tmp)
        print(f"| {workers} | {t:.2f} | {args.trivial / t:,.0f} |")


if __name__ == "__main__":
    main()
