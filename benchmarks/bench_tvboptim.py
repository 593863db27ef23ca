"""brainsweep vs tvboptim 0.4.0 on TVB-O's Jansen-Rit gradient fit: seconds per gradient step on
CPU and the loss after the same number of Adam steps.

The problem (TVB-O's notebook, deterministic): Jansen-Rit (tvboptim's default parameters:
a = 0.1, b = 0.05 /ms, mu = 0.22) on the 68-region TVB connectome (brainsweep.data 'tvb68';
delays = tract length / 3 m/s, rounded to steps of dt for both), sigmoidal delayed coupling,
Heun with the coupling held across both stages (both codes' scheme), dt = 0.1 ms, every node
starting from tvboptim's initial state (0, 5, 5, 0, 0, 0). Output y1 - y2 every 1 ms; loss =
1 - Pearson correlation of the node-averaged Welch PSD (1-40 Hz, after a transient) with the
PSD of a run with hidden a = 0.1, b = 0.05. Both fit free a and b from the same start with Adam
(optax's formula), same lr and number of steps: tvboptim with ``OptaxOptimizer(loss,
optax.adam(lr))`` (jax reverse mode, float32 as jax's default, or float64 with --x64),
brainsweep with ``Study(model, space, GradientDescent("adam", ...), objective=...)`` (discrete
adjoint, float64, every iterate stored).

tvboptim runs in its own venv (``pip install tvboptim==0.4.0`` into /tmp/tvboptim-venv) through
benchmarks/_tvboptim_jr.py, which prints JSON. CPU seconds are process_time (all threads);
the first tvboptim step (jit compilation) is reported apart.

    nice python benchmarks/bench_tvboptim.py --seconds 1 --steps 15 --nperseg 250
    nice python benchmarks/bench_tvboptim.py --seconds 10 --steps 3

Measured 2026-12-02 on a shared 2-core machine (load ~10), CPU s per step (process_time):
1 s simulated, 15 steps: brainsweep 0.63, tvboptim 4.56 (7.2x), loss after 15 steps 0.02533
vs 0.02531; 10 s simulated, 3 steps: brainsweep 6.8, tvboptim 56.5 (8.3x), losses equal to
5 digits at every step. tvboptim with one scan instead of blocks of 1000 steps: 5.6 s per
1 s step (slower); 10 s in one scan was not tried (reverse mode would keep every step's carry,
delay buffer included).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from brainsweep.data import load_connectome
from brainsweep.evaluation.differentiable import spectral_correlation_loss
from brainsweep.evaluation.spectra import welch_psd
from brainsweep.explorer import GradientDescent, ParameterSpace, Study, gradient_history
from brainsweep.models import JansenRitModel

HERE = os.path.dirname(os.path.abspath(__file__))
TVBOPTIM_PARAMS = dict(A=3.25, B=22.0, a=0.1, b=0.05, v0=5.52, nu_max=0.0025, r=0.56, J=135.0, a_1=1.0,
                       a_2=0.8, a_3=0.25, a_4=0.25, mu=0.22, coupling_a=1.0, coupling_cmin=0.0,
                       coupling_cmax=0.005, coupling_midpoint=6.0, coupling_r=0.56)
INITIAL = np.array([0.0, 5.0, 5.0, 0.0, 0.0, 0.0])
HIDDEN = {"a": 0.1, "b": 0.05}


def problem(seconds, dt=0.1, sampling_dt=1.0, nperseg=1000, transient_ms=500.0, band=(1.0, 40.0)):
    """(model at the start's other values, objective, run kwargs, description dict)."""
    sc = load_connectome("tvb68")
    m = JansenRitModel(Cmat=sc.Cmat, Dmat=sc.Dmat)
    m.params.update(TVBOPTIM_PARAMS)
    n = m.network.n_nodes
    run = dict(duration=1000.0 * seconds, dt=dt, sampling_dt=sampling_dt, integrator="heun",
               initial_state=np.tile(INITIAL, (n, 1)))
    fs = 1000.0 / sampling_dt
    transient = int(round(transient_ms / sampling_dt))
    target_out = m.run(seed=0, **run)["v_pyr"][:, transient:]        # a, b = HIDDEN (tvboptim's defaults)
    f, S = welch_psd(target_out, fs, nperseg=nperseg)
    keep = (f >= band[0]) & (f <= band[1])
    target = S.mean(axis=0)[keep]
    obj = spectral_correlation_loss(target, fs, nperseg, "v_pyr", band=band, transient=transient)
    steps = m.network.delay_steps(m.params["signalV"], dt)
    desc = dict(weights=np.asarray(m.network.Cmat, float), delays=steps * dt, fs=fs, nperseg=nperseg,
                transient=transient, keep=keep, target_psd=target, dt=dt, duration=run["duration"],
                sample_every=int(round(sampling_dt / dt)), initial_state=INITIAL,
                param_names=np.array(list(TVBOPTIM_PARAMS)), param_values=np.array(list(TVBOPTIM_PARAMS.values())))
    return m, obj, run, desc


def run_tvboptim(desc, start, lr, steps, python, x64, block_size):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "problem.npz")
        np.savez(path, start=np.array(start), lr=lr, steps=steps, x64=x64, block_size=block_size, **desc)
        env = dict(os.environ, JAX_PLATFORMS="cpu")
        out = subprocess.run([python, os.path.join(HERE, "_tvboptim_jr.py"), path], capture_output=True,
                             text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"tvboptim run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout)


def run_brainsweep(m, obj, run, start, lr, steps):
    from brainsweep.evaluation.differentiable import sum_of_squares
    from brainsweep.models.adjoint import gradient

    n = m.network.n_nodes  # warm-up: loads (or compiles once) the adjoint kernels outside the timing
    gradient(m, sum_of_squares(np.zeros((n, 100)), "v_pyr"), ["a"], 100.0, seed=0,
             **{k: v for k, v in run.items() if k != "duration"})
    space = ParameterSpace(bounds={"a": (0.001, 0.2), "b": (0.001, 0.2)})
    gd = GradientDescent("adam", lr=lr, steps=steps, start=[{"a": start[0], "b": start[1]}])
    with tempfile.TemporaryDirectory() as tmp:
        study = Study(m, space, gd, objective=obj, run_kwargs=run, path=os.path.join(tmp, "fit.h5"), seed=0)
        w0, c0 = time.perf_counter(), time.process_time()
        res = study.run(progress=False)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        h = gradient_history(res).sort_values("step")
    return {"losses": h.loss.tolist(), "a": float(h.a.iloc[-1]), "b": float(h.b.iloc[-1]),
            "wall_s_per_step": wall / steps, "cpu_s_per_step": cpu / steps}


def _last_evaluated(tv):
    """tvboptim's (a, b) at its last evaluated iterate (its callback sees the parameters after
    each update; the final state is one update past the last loss)."""
    trace = tv["params_after_each_update"]
    return tuple(trace[-2]) if len(trace) > 1 else (float("nan"), float("nan"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, nargs="+", default=[1.0], help="simulated seconds")
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--lr", type=float, default=0.005)
    ap.add_argument("--start", type=float, nargs=2, default=[0.09, 0.06], metavar=("A", "B"))
    ap.add_argument("--nperseg", type=int, default=1000, help="Welch segment (samples of 1 ms)")
    ap.add_argument("--python", default="/tmp/tvboptim-venv/bin/python", help="tvboptim's venv python")
    ap.add_argument("--x64", action="store_true", help="tvboptim in float64 (jax_enable_x64)")
    ap.add_argument("--block-size", type=int, default=1000,
                    help="tvboptim's Heun(block_size=...): steps per checkpointed block (0: one scan)")
    ap.add_argument("--skip-tvboptim", action="store_true")
    args = ap.parse_args(argv)
    rows = []
    for sec in args.seconds:
        m, obj, run, desc = problem(sec, nperseg=args.nperseg)
        bs = run_brainsweep(m, obj, run, args.start, args.lr, args.steps)
        tv = None if args.skip_tvboptim else run_tvboptim(desc, args.start, args.lr, args.steps, args.python,
                                                           args.x64, args.block_size)
        rows.append({"seconds": sec, "steps": args.steps, "lr": args.lr, "start": args.start,
                     "brainsweep": bs, "tvboptim": tv})
        print(f"\n{sec:g} s simulated, {args.steps} Adam steps (lr {args.lr}) from a, b = {args.start}; "
              f"hidden a, b = {HIDDEN['a']}, {HIDDEN['b']}")
        print(f"{'':12} {'CPU s/step':>11} {'wall s/step':>12} {'loss step 0':>12} {'loss last':>10} "
              f"{'a':>8} {'b':>8}")
        for name, r in (("brainsweep", bs), ("tvboptim", tv)):
            if r is None:
                continue
            a, b = (r["a"], r["b"]) if name == "brainsweep" else _last_evaluated(r)
            print(f"{name:12} {r['cpu_s_per_step']:11.3f} {r['wall_s_per_step']:12.3f} {r['losses'][0]:12.5f} "
                  f"{r['losses'][-1]:10.5f} {a:8.5f} {b:8.5f}")
        if tv is not None:
            print(f"tvboptim first step (jit compile included): {tv['first_step_cpu_s']:.1f} CPU s, "
                  f"{tv['first_step_wall_s']:.1f} wall s; {tv['dtype']}, jax {tv['jax']}")
            print(f"speed-up per step (CPU): {tv['cpu_s_per_step'] / bs['cpu_s_per_step']:.1f}x")
    print(json.dumps(rows))


if __name__ == "__main__":
    sys.exit(main())
