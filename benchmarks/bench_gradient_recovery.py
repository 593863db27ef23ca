"""Recovery of a per-region frequency gradient with 2 x 68 parameters (issue 16, recovery (2)).

Jansen-Rit on the 68-region TVB connectome (brainsweep.data 'tvb68', delays = tract length /
3 m/s), deterministic, Heun, dt 0.1 ms, output v_pyr every 1 ms, every node from the same
initial state (0, 5, 5, 0, 0, 0). Free: a and b of every region (``a__0..a__67``,
``b__0..b__67``), all starting at the same values. Target: each region's peak frequency follows
a gradient from 11 Hz in the occipital regions (cuneus, pericalcarine, lateral occipital,
lingual) to 7 Hz in the region farthest from them, linear in the distance (mm) of its centre to
the nearest occipital centre. Loss: :class:`peak_frequency_loss` (TVB-O's form: mean over
regions of 1 - correlation of the region's Welch PSD with a Lorentzian at its target frequency).
Fitted by ``Study(model, space, GradientDescent(...), objective=...)`` (exact gradients by the
discrete adjoint, every iterate stored).

Reported: correlation of fitted and target peak frequencies (argmax of each region's Welch PSD,
0.25 Hz bins, on a longer validation run at the best iterate), mean absolute error (Hz),
steps, CPU seconds (process_time) of the study.

    nice python benchmarks/bench_gradient_recovery.py --steps 20 --lr 0.001 --json recovery.json

Measured 2026-12-02 (shared 2-core machine, load ~10): 20 Adam steps (lr 0.001) from a = b =
0.06 everywhere (every region at 9.5 Hz), loss 0.418 -> 0.073 (best at step 13), fitted vs
target peak frequencies r = 0.988, mean |error| 0.19 Hz, 35.6 CPU s (1.78 s per step).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

from brainsweep.data import load_connectome
from brainsweep.evaluation import peak_frequency
from brainsweep.evaluation.differentiable import peak_frequency_loss
from brainsweep.explorer import GradientDescent, ParameterSpace, Study, gradient_history
from brainsweep.models import JansenRitModel

OCCIPITAL = ("cuneus", "pericalcarine", "lateraloccipital", "lingual")
INITIAL = np.array([0.0, 5.0, 5.0, 0.0, 0.0, 0.0])
START = {"a": 0.06, "b": 0.06}   # every region: a ~9.5 Hz limit cycle (tvboptim's A, B, mu = 0.22)


def target_frequencies(sc, high=11.0, low=7.0):
    """Per region: ``high`` Hz at the occipital regions down to ``low`` Hz at the farthest one,
    linear in the distance (mm) of its centre to the nearest occipital centre."""
    occ = np.array([any(lab.endswith("_" + o) for o in OCCIPITAL) for lab in sc.labels])
    if not occ.any():
        raise ValueError(f"no occipital region ({OCCIPITAL}) among the labels of {sc.name}")
    d = np.linalg.norm(sc.centres[:, None, :] - sc.centres[None, occ, :], axis=-1).min(axis=1)
    return high - (high - low) * d / d.max(), occ


def setup(nodes=None, seconds=2.5, transient_ms=500.0, mu=0.22):
    """(model, objective, run kwargs, target Hz, space) of the recovery problem; ``nodes``: keep
    only these regions of the connectome (a smaller problem for tests)."""
    sc = load_connectome("tvb68")
    target, _ = target_frequencies(sc)
    C, D = sc.Cmat, sc.Dmat
    if nodes is not None:
        nodes = np.asarray(nodes)
        C, D, target = C[np.ix_(nodes, nodes)], D[np.ix_(nodes, nodes)], target[nodes]
    m = JansenRitModel(Cmat=C, Dmat=D)
    m.params.update(A=3.25, B=22.0, mu=mu, **START)
    n = m.network.n_nodes
    run = dict(duration=1000.0 * seconds, dt=0.1, sampling_dt=1.0, integrator="heun",
               initial_state=np.tile(INITIAL, (n, 1)))
    transient = int(round(transient_ms))
    obj = peak_frequency_loss(target, 1000.0, 1000, "v_pyr", band=(3.0, 20.0), width=1.0, transient=transient)
    space = ParameterSpace(bounds={**{f"a__{i}": (0.04, 0.1) for i in range(n)},
                                   **{f"b__{i}": (0.04, 0.09) for i in range(n)}})
    return m, obj, run, target, space


def fitted_peaks(m, row, n, seconds=5.0):
    """Peak frequency (Hz, 0.25 Hz bins) of every region on a ``seconds`` run at the iterate
    ``row`` (a__i, b__i), after 1 s."""
    m = m.copy()
    m.params.update(a=np.array([row[f"a__{i}"] for i in range(n)], float),
                    b=np.array([row[f"b__{i}"] for i in range(n)], float))
    out = m.run(duration=1000.0 * seconds, dt=0.1, sampling_dt=1.0, integrator="heun", seed=0,
                initial_state=np.tile(INITIAL, (n, 1)))
    return peak_frequency(out["v_pyr"][:, 1000:], 1000.0, band=(3.0, 20.0), average=False, nperseg=4000)


def recover(steps=20, optimizer="adam", lr=0.001, nodes=None, seconds=2.5, path=None):
    """Run the fit; a dict of the measured numbers."""
    m, obj, run, target, space = setup(nodes, seconds)
    n = m.network.n_nodes
    gd = GradientDescent(optimizer, lr=lr, steps=steps, starts=1,
                         start=[{name: START[name[0]] for name in space.names}])
    with tempfile.TemporaryDirectory() as tmp:
        study = Study(m, space, gd, objective=obj, run_kwargs=run, path=path or os.path.join(tmp, "fit.h5"),
                      seed=0)
        w0, c0 = time.perf_counter(), time.process_time()
        res = study.run(progress=False)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        h = gradient_history(res).sort_values("step")
    best = h.loc[h.loss.idxmin()]
    start_peaks = fitted_peaks(m, h.iloc[0], n)
    peaks = fitted_peaks(m, best, n)
    return {"nodes": n, "parameters": 2 * n, "steps": int(len(h)), "optimizer": optimizer, "lr": lr,
            "simulated_s": seconds, "cpu_s": cpu, "wall_s": wall, "cpu_s_per_step": cpu / len(h),
            "loss_start": float(h.loss.iloc[0]), "loss_best": float(best.loss), "best_step": int(best.step),
            "corr": float(np.corrcoef(peaks, target)[0, 1]), "mae_hz": float(np.mean(np.abs(peaks - target))),
            "start_peak_hz": [float(start_peaks.min()), float(start_peaks.max())],
            "target_hz": target.tolist(), "fitted_hz": peaks.tolist(), "losses": h.loss.tolist()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--optimizer", default="adam", choices=["adam", "lbfgsb"])
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--seconds", type=float, default=2.5, help="simulated seconds per iterate")
    ap.add_argument("--json", help="write the numbers here")
    args = ap.parse_args(argv)
    r = recover(args.steps, args.optimizer, args.lr, seconds=args.seconds)
    print(f"Jansen-Rit, {r['nodes']} regions, {r['parameters']} parameters (a, b per region), "
          f"{r['optimizer']} lr {r['lr']}, {r['simulated_s']} s per iterate")
    print(f"steps {r['steps']}, CPU {r['cpu_s']:.1f} s ({r['cpu_s_per_step']:.2f} s/step), wall {r['wall_s']:.1f} s")
    print(f"loss {r['loss_start']:.4f} -> {r['loss_best']:.4f} (step {r['best_step']}); peaks at the start "
          f"{r['start_peak_hz'][0]:.2f}-{r['start_peak_hz'][1]:.2f} Hz")
    print(f"fitted vs target peak frequency: r = {r['corr']:.3f}, mean |error| = {r['mae_hz']:.2f} Hz")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(r, fh)


if __name__ == "__main__":
    sys.exit(main())
