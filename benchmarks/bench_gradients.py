"""Cost of an exact gradient (discrete adjoint) relative to one forward run, and to central differences.

Jansen-Rit on the 68-region TVB connectome, Heun, dt 0.1 ms, output v_pyr every 1 ms, the
notebook's loss (1 - correlation of the mean Welch spectrum with a target); the gradient is
taken with respect to global a and b and, separately, per-node a and b (2 x 68 values). CPU
seconds (process_time, one thread, best of ``--repeat``) after a warm-up that compiles the kernels.
The gradient keeps at most ``--workspace-mb`` of stored steps (default 100 MB): a run longer
than that is cut into segments, each but the last integrated twice.

Central differences: 2 forward runs per parameter. Measured for the 2 global parameters (with
the relative difference to the adjoint's gradient); for 2 x 68 per-node values their cost is
136 x 2 forward runs (computed from the measured forward time, not run).

    nice -n 10 python benchmarks/bench_gradients.py --seconds 1 2 10

``--zoo``: the same ratio (gradient CPU / forward CPU) for each model of the zoo on the same
network (``--seconds`` simulated, default 1, the model's default integrator and dt 0.1 ms,
outputs every 1 ms, a sum-of-squares loss on one output, gradient with respect to the
parameters listed in ZOO, the first of them per node), one line per model and duration; the
last column is the number of segments of the checkpointed run (all but the last integrated twice).

    nice -n 10 python benchmarks/bench_gradients.py --zoo --seconds 1 10
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from brainsweep.data import load_connectome  # noqa: E402
from brainsweep.evaluation.differentiable import spectral_correlation_loss, sum_of_squares  # noqa: E402
from brainsweep.evaluation.spectra import welch_psd  # noqa: E402
from brainsweep.models import (  # noqa: E402
    ALNModel,
    FitzHughNagumoModel,
    HopfModel,
    JansenRitModel,
    KuramotoModel,
    WilsonCowanModel,
    WongWangModel,
)
from brainsweep.models import adjoint  # noqa: E402
from brainsweep.models.adjoint import gradient  # noqa: E402


def _cpu(fn, repeat):
    best = np.inf
    for _ in range(repeat):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return best, out


def _central(m, obj, dur, run, name, rel=1e-6):
    base = float(m.params[name])
    h = rel * abs(base)
    vals = []
    for sign in (1.0, -1.0):
        m.params.update({name: base + sign * h})
        vals.append(obj(m.run(duration=dur, **run))[0])
    m.params.update({name: base})
    return (vals[0] - vals[1]) / (2 * h)


#: model, output of the loss, parameters (the first per node), parameter values set
ZOO = [
    (HopfModel, "x", ["a", "K_gl"], {}),
    (FitzHughNagumoModel, "x", ["alpha", "K_gl"], {}),
    (WilsonCowanModel, "exc", ["mu_exc", "K_gl"], {}),
    (JansenRitModel, "v_pyr", ["a", "b"], {}),
    (KuramotoModel, "theta", ["omega", "k"], {}),
    (WongWangModel, "r_exc", ["exc_current", "J_NMDA", "K_gl"], {}),
    (ALNModel, "rates_exc", ["ext_exc_current", "c_gl", "b", "a"], dict(a=15.0, b=40.0)),
]


def _n_segments(m, dur, run, wrt):
    s = adjoint._setup(m, dur, run["dt"], run["sampling_dt"], None, run["seed"], None, wrt)
    return len(adjoint._segments(s["n_steps"], adjoint._checkpoint_steps(s, None)))


def zoo(sc, seconds, repeat, only=None):
    """One table line per model (those named ``only``, default all) and duration: forward and
    gradient CPU seconds and their ratio."""
    print("| model | integrator | parameters (first per node) | simulated s | forward CPU s | gradient CPU s | ratio "
          "| segments |")
    print("|---|---|---|---|---|---|---|---|")
    models = [z for z in ZOO if not only or z[0].__name__ in only]
    if only and len(models) != len(set(only)):
        raise SystemExit(f"--model: expected names among {[z[0].__name__ for z in ZOO]}, got {only}")
    for (cls, key, wrt, values), sec in ((z, sec) for z in models for sec in seconds):
        dur = 1000.0 * sec
        m = cls(Cmat=sc.Cmat, Dmat=sc.Dmat)
        m.params.update(values)
        run = dict(dt=0.1, sampling_dt=1.0, seed=1)
        y = m.run(duration=dur, **run)[key]  # also compiles
        obj = sum_of_squares(0.9 * y, key)
        gradient(m, sum_of_squares(0.9 * y[:, :200], key), wrt, 200.0, per_node=wrt[:1], **run)  # compiles
        t_fwd, _ = _cpu(lambda: m.run(duration=dur, **run), repeat)
        t_grad, _ = _cpu(lambda: gradient(m, obj, wrt, dur, per_node=wrt[:1], **run), repeat)
        print(f"| {cls.__name__} | {m.integrator} | {', '.join(wrt)} | {sec:g} | {t_fwd:.3f} | {t_grad:.3f} | "
              f"{t_grad / t_fwd:.2f} | {_n_segments(m, dur, run, wrt)} |", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, nargs="+", default=None,
                    help="simulated seconds (default 1 2; with --zoo 1)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--zoo", action="store_true", help="the cost ratio of every model of the zoo")
    ap.add_argument("--model", nargs="+", default=None, help="with --zoo: only these models (class names, e.g. ALNModel)")
    ap.add_argument("--workspace-mb", type=float, default=None,
                    help="bytes of stored steps a gradient keeps (default brainsweep.models.adjoint.WORKSPACE_BUDGET, "
                         "100 MB); more memory, fewer segments integrated twice")
    args = ap.parse_args(argv)
    if args.workspace_mb is not None:
        adjoint.WORKSPACE_BUDGET = args.workspace_mb * 1e6
    sc = load_connectome("tvb68")
    if args.zoo:
        return zoo(sc, args.seconds or [1.0], args.repeat, args.model)
    m = JansenRitModel(Cmat=sc.Cmat, Dmat=sc.Dmat)
    n = m.network.n_nodes
    run = dict(dt=0.1, sampling_dt=1.0, seed=1, integrator="heun")
    hidden = m.copy()
    hidden.params.update(a=0.045, b=0.042)
    m.run(duration=100.0, **run)  # warm-up (compiles)
    gradient(m, spectral_correlation_loss(np.linspace(1.0, 2.0, 129), 1000.0, 256, "v_pyr"), ["a", "b"], 300.0, **run)
    gradient(m, spectral_correlation_loss(np.linspace(1.0, 2.0, 129), 1000.0, 256, "v_pyr"), ["a", "b"], 300.0,
             per_node=["a", "b"], **run)
    print("| simulated s | forward CPU s | gradient a, b CPU s | ratio | gradient 2x68 CPU s | ratio | "
          "central differences a, b CPU s (ratio) | their rel. difference | central differences 2x68 CPU s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for sec in args.seconds or [1.0, 2.0]:
        dur = 1000.0 * sec
        target = welch_psd(hidden.run(duration=dur, **run)["v_pyr"], 1000.0, nperseg=256)[1].mean(axis=0)
        obj = spectral_correlation_loss(target, 1000.0, 256, "v_pyr")
        t_fwd, _ = _cpu(lambda: m.run(duration=dur, **run), args.repeat)
        t_grad, (loss, g) = _cpu(lambda: gradient(m, obj, ["a", "b"], dur, **run), args.repeat)
        t_node, _ = _cpu(lambda: gradient(m, obj, ["a", "b"], dur, per_node=["a", "b"], **run), 1)
        t0 = time.process_time()
        fd = {p: _central(m, obj, dur, run, p) for p in ("a", "b")}
        t_fd = time.process_time() - t0
        rel = max(abs(g[p] - fd[p]) / abs(fd[p]) for p in fd)
        print(f"| {sec:g} | {t_fwd:.3f} | {t_grad:.3f} | {t_grad / t_fwd:.2f} | {t_node:.3f} | {t_node / t_fwd:.2f} | "
              f"{t_fd:.3f} ({t_fd / t_fwd:.1f}) | {rel:.1e} | {2 * 2 * n * t_fwd:.1f} (est.) |", flush=True)


if __name__ == "__main__":
    main()
