"""Gradient descent, CMA-ES, Evolution and BayesOpt on the same problems (issue 16).

Every strategy minimises the very same differentiable objective of the same model study
(``Study(model, space, strategy, objective=<brainsweep.evaluation.differentiable objective>)``:
GradientDescent gets the loss and its exact gradient by the discrete adjoint, the others store
the same ``loss``). Reported per problem and strategy: evaluations (stored runs), CPU seconds
(``time.process_time`` of the whole serial study: simulations, gradients, the strategy's own
ask/tell, HDF5 storage), the best loss and the problem's recovery metric at the best run.

Problems
--------
``jr_ab``      TVB-O's notebook problem, small: global Jansen-Rit ``a``, ``b`` (1/ms) on a
               10-region part of tvb68 (every 7th region), tvboptim's defaults (A 3.25, B 22,
               mu 0.22), deterministic Heun, dt 0.1 ms, 1.5 s; target: the node-averaged Welch
               spectrum (1-40 Hz) of a run with hidden a = 0.1, b = 0.05; loss
               ``spectral_correlation_loss``. Bounds a 0.065-0.14, b 0.034-0.07. Metric: largest
               relative error of the best a, b (the issue asks < 2 % from a grid of starts).
               GD: Adam lr 0.005, 3 x 3 grid of starts, 15 steps each (135 runs); the others at
               the same 135 evaluations (BayesOpt 60: a GP on 135 points is its own cost).
``jr_136``     The per-region frequency gradient of bench_gradient_recovery.py (Jansen-Rit on
               tvb68, a and b of each of the 68 regions, 136 parameters; peak_frequency_loss;
               2.5 s per run). Metric: correlation of fitted and target peak frequencies (5 s
               validation run at the best point). GD: Adam lr 0.001, 20 steps from the uniform
               start. The others at about GD's CPU budget (a forward run costs ~1/4 of a
               gradient step): CMA-ES and Evolution 120 runs; BayesOpt on 136 dimensions at a
               small budget (its cost per ask is the point).
``hopf_fc``    Hopf on tvb68 (Cmat / max, delays at 20 m/s, w 0.06 rad/ms, OU noise sigma 0.02,
               Euler, dt 0.1 ms, output x every 1 ms, 10 s, the first 0.5 s left out): free
               ``K_gl`` and the bifurcation parameter of every region ``a__0..a__67`` (69
               parameters); target FC from a run (another seed) with hidden K_gl and a drawn
               per region; loss ``fc_fit_loss`` on x. Each run has its own noise seed (held fixed
               within a gradient). Metric: corr(fitted FC, target FC) on a 30 s run at the best
               point (fresh seed), the error of K_gl and corr(fitted a, true a).

Run (each problem/strategy may be run alone; rows are merged into the JSON):

    nice python benchmarks/bench_strategy_comparison.py --json strategy_comparison.json
    nice python benchmarks/bench_strategy_comparison.py --problems jr_ab --strategies cmaes --json ...

Measured: see the table at the end of this docstring (filled in from the JSON).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from brainsweep.data import load_connectome
from brainsweep.evaluation.differentiable import fc_fit_loss, spectral_correlation_loss
from brainsweep.evaluation.spectra import welch_psd
from brainsweep.explorer import CMAES, BayesOpt, Evolution, GradientDescent, ParameterSpace, Study
from brainsweep.inference._pernode import model_evaluation
from brainsweep.models import HopfModel, JansenRitModel

STRATEGIES = ("gd", "cmaes", "evolution", "bayesopt")
_HERE = Path(__file__).resolve().parent


def _recovery_bench():
    spec = importlib.util.spec_from_file_location("bench_gradient_recovery", _HERE / "bench_gradient_recovery.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@dataclass
class Problem:
    """A model study every strategy runs: the model, its explored space, the differentiable
    objective, run settings, the strategies' settings, and ``metric(best_row) -> dict``."""

    name: str
    model: object
    space: ParameterSpace
    objective: object
    run_kwargs: dict
    strategies: dict
    metric: Callable
    truth: dict = field(default_factory=dict)


# -- problem 1: TVB-O's notebook (global a, b) ----------------------------------------------------

JR_PARAMS = dict(A=3.25, B=22.0, mu=0.22, a=0.1, b=0.05)
JR_INITIAL = np.array([0.0, 5.0, 5.0, 0.0, 0.0, 0.0])
JR_NOISE = 0.0       # deterministic: with input noise the exact gradient of one realisation explodes (chaos)
JR_TRANSIENT = 1000  # samples (ms) left out of every spectrum


def jr_ab(steps=15, grid=8, evals=None, bayes_calls=80, optimizer="adam", lr=0.002, seconds=2.0):
    sc = load_connectome("tvb68")
    keep = np.arange(0, 68, 7)[:10]
    m = JansenRitModel(Cmat=sc.Cmat[np.ix_(keep, keep)], Dmat=sc.Dmat[np.ix_(keep, keep)])
    m.params.update(JR_PARAMS, sigma_ou=JR_NOISE)
    run = dict(duration=1000.0 * seconds, dt=0.1, sampling_dt=1.0, integrator="heun",
               initial_state=np.tile(JR_INITIAL, (10, 1)))
    f, S = welch_psd(m.run(seed=10_000, **run)["v_pyr"][:, JR_TRANSIENT:], 1000.0, nperseg=500)
    band = (f >= 1) & (f <= 40)
    obj = spectral_correlation_loss(S.mean(axis=0)[band], 1000.0, 500, "v_pyr", band=(1.0, 40.0),
                                    transient=JR_TRANSIENT)
    m.params.update(a=0.08, b=0.04)  # the study's defaults are not the hidden values
    space = ParameterSpace(bounds={"a": (0.05, 0.146), "b": (0.025, 0.073)})  # 8 x 8 grid: starts >= 4 % off
    n = evals or grid * grid * steps
    strategies = {
        "gd": GradientDescent(optimizer, lr=lr, steps=steps, starts=grid * grid, start="grid"),
        "cmaes": CMAES(sigma0=0.3, max_evals=n),
        "evolution": Evolution(pop_init=max(4, n // 5), pop=max(4, n // 5), generations=4),
        "bayesopt": BayesOpt(n_calls=min(n, bayes_calls), n_initial=10, batch=4),
    }
    truth = {"a": JR_PARAMS["a"], "b": JR_PARAMS["b"]}

    def metric(row):
        errs = {k: abs(row[k] - v) / v for k, v in truth.items()}
        return {"a": float(row["a"]), "b": float(row["b"]), "max_rel_error": float(max(errs.values())),
                "within_2pct": bool(max(errs.values()) < 0.02)}

    return Problem("jr_ab", m, space, obj, run, strategies, metric, truth)


# -- problem 2: 136 region-specific parameters ----------------------------------------------------

def jr_136(steps=20, evals=120, bayes_calls=20, nodes=None, seconds=2.5):
    rb = _recovery_bench()
    m, obj, run, target, space = rb.setup(nodes, seconds)
    n = m.network.n_nodes
    start = {name: rb.START[name[0]] for name in space.names}
    strategies = {
        "gd": GradientDescent("adam", lr=0.001, steps=steps, starts=1, start=[start]),
        "cmaes": CMAES(sigma0=0.25, max_evals=evals, x0=start),
        "evolution": Evolution(pop_init=evals // 3, pop=evals // 6, generations=5),
        "bayesopt": BayesOpt(n_calls=bayes_calls, n_initial=min(10, bayes_calls), batch=2),
    }

    def metric(row):
        peaks = rb.fitted_peaks(m, row, n)
        return {"corr_peak_hz": float(np.corrcoef(peaks, target)[0, 1]),
                "mae_hz": float(np.mean(np.abs(peaks - target)))}

    return Problem("jr_136", m, space, obj, run, strategies, metric)


# -- problem 3: Hopf K_gl and per-region a to an FC target ----------------------------------------

HOPF = dict(w=0.06, sigma_ou=0.02, signalV=20.0)


def hopf_network(nodes=None):
    """Hopf model on tvb68 (or the regions ``nodes`` of it), Cmat scaled to a maximum of 1."""
    sc = load_connectome("tvb68")
    C, D = sc.Cmat, sc.Dmat
    if nodes is not None:
        C, D = C[np.ix_(nodes, nodes)], D[np.ix_(nodes, nodes)]
    m = HopfModel(Cmat=C / C.max(), Dmat=D)
    m.params.update(HOPF)
    return m


def hopf_fc(steps=30, lr=0.005, evals=150, bayes_calls=20, nodes=None, seconds=10.0, K_true=None, seed=3,
            start_K=0.2, start_a=-0.2):
    """The FC problem; ``nodes``: keep only these regions of tvb68 (a small problem for tests)."""
    m = hopf_network(nodes)
    n = m.network.n_nodes
    rng = np.random.default_rng(seed)
    K_true = (0.4 if n > 20 else 1.0) if K_true is None else K_true
    a_true = rng.uniform(-0.15, -0.02, n)
    run = dict(duration=1000.0 * seconds, dt=0.1, sampling_dt=1.0)
    transient = 500
    truth = m.copy()
    truth.params.update(K_gl=K_true, a=a_true)
    target = np.corrcoef(truth.run(seed=10_000 + seed, **run)["x"][:, transient:])
    obj = fc_fit_loss(target, "x", transient=transient)
    space = ParameterSpace(bounds={"K_gl": (0.0, 2.0 * K_true), **{f"a__{i}": (-0.25, -0.005) for i in range(n)}})
    start = {"K_gl": start_K * K_true, **{f"a__{i}": start_a for i in range(n)}}
    m.params.update(K_gl=start["K_gl"], a=start_a)
    strategies = {
        "gd": GradientDescent("adam", lr=lr, steps=steps, starts=1, start=[start]),
        "cmaes": CMAES(sigma0=0.25, max_evals=evals, x0=start),
        "evolution": Evolution(pop_init=evals // 3, pop=evals // 6, generations=5),
        "bayesopt": BayesOpt(n_calls=bayes_calls, n_initial=min(10, bayes_calls), batch=2),
    }

    def metric(row):
        return hopf_recovery(m, row, target, K_true, a_true, transient=transient)

    return Problem("hopf_fc", m, space, obj, run, strategies, metric, {"K_gl": K_true, "a": a_true.tolist()})


def hopf_point(m, row):
    """A copy of the Hopf model at the study row's K_gl and a__i."""
    n = m.network.n_nodes
    fit = m.copy()
    fit.params.update(K_gl=float(row["K_gl"]), a=np.array([row[f"a__{i}"] for i in range(n)], float))
    return fit


def hopf_recovery(m, row, target, K_true, a_true, transient=500, seconds=30.0, seed=77):
    """corr(FC of a ``seconds`` run at ``row``, target FC), |K_gl error| / K_true, corr(a, a_true)."""
    fit = hopf_point(m, row)
    x = fit.run(duration=1000.0 * seconds, dt=0.1, sampling_dt=1.0, seed=seed)["x"][:, transient:]
    iu = np.triu_indices(len(a_true), 1)
    a_fit = np.asarray(fit.params["a"], float)
    return {"fc_corr": float(np.corrcoef(np.corrcoef(x)[iu], target[iu])[0, 1]),
            "K_gl": float(row["K_gl"]), "K_rel_error": float(abs(row["K_gl"] - K_true) / K_true),
            "a_corr": float(np.corrcoef(a_fit, a_true)[0, 1]) if np.ptp(a_fit) > 0 else float("nan"),
            "a_rmse": float(np.sqrt(np.mean((a_fit - a_true) ** 2)))}


PROBLEMS = {"jr_ab": jr_ab, "jr_136": jr_136, "hopf_fc": hopf_fc}


# -- running ----------------------------------------------------------------------------------------

def study_of(problem: Problem, strategy_name: str, path: str, seed: int = 0) -> Study:
    """The study of ``problem`` by one strategy (per-node names go through the per-node evaluation
    for the strategies without gradients)."""
    strategy = problem.strategies[strategy_name]
    if strategy_name == "gd":
        return Study(problem.model, problem.space, strategy, objective=problem.objective,
                     run_kwargs=dict(problem.run_kwargs), path=path, seed=seed)
    ev = model_evaluation(problem.model, problem.space, objective=problem.objective, run_kwargs=problem.run_kwargs)
    return Study(ev, problem.space, strategy, path=path, seed=seed)


def run_one(problem: Problem, strategy_name: str, seed: int = 0) -> dict:
    """One strategy on one problem: evaluations, CPU seconds, best loss and the recovery metric."""
    with tempfile.TemporaryDirectory() as tmp:
        c0, w0 = time.process_time(), time.perf_counter()
        res = study_of(problem, strategy_name, os.path.join(tmp, "s.h5"), seed).run(progress=False)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        df = res.df
    ok = df[df["status"] == "ok"]
    best = ok.loc[ok["loss"].idxmin()]
    return {"problem": problem.name, "strategy": strategy_name, "parameters": len(problem.space.names),
            "evaluations": int(len(df)), "ok": int(len(ok)), "cpu_s": cpu, "wall_s": wall,
            "loss_first": float(df["loss"].iloc[0]), "loss_best": float(best["loss"]),
            **problem.metric(best), "settings": problem.strategies[strategy_name].config()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=list(STRATEGIES))
    ap.add_argument("--json", help="merge the rows into this JSON file (a list of rows)")
    args = ap.parse_args(argv)
    rows = []
    if args.json and os.path.exists(args.json):
        with open(args.json) as fh:
            rows = json.load(fh)
    for pname in args.problems:
        problem = PROBLEMS[pname]()
        for sname in args.strategies:
            r = run_one(problem, sname)
            r["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            rows = [x for x in rows if (x["problem"], x["strategy"]) != (pname, sname)] + [r]
            shown = {k: v for k, v in r.items() if k not in ("settings",)}
            print(json.dumps(shown, default=float), flush=True)
            if args.json:
                with open(args.json, "w") as fh:
                    json.dump(rows, fh, indent=1, default=float)


if __name__ == "__main__":
    sys.exit(main())
