"""Optimisation overhead: Evolution and BayesOpt through Study, against neurolib 0.6.2.

    python benchmarks/bench_optim.py [--quick] [--neurolib-python /tmp/ref-neurolib-evo/bin/python]

Prints one table. For each case: evaluations, wall time, time spent inside the
evaluation function, and the framework overhead (wall - evaluation time) per
evaluation and per generation/batch:
  * Evolution, population 100, fitness functions sleeping 1 ms and 100 ms, through
    ``Study.run`` in-process (strategy + bookkeeping + HDF5 storage of every run);
  * the same strategy in a bare ask/tell loop (no storage: the strategy's own cost);
  * the issue's unit-circle example (pop_init 100, pop 50, 10 generations) through
    ``Study.run``, and neurolib 0.6.2's ``Evolution`` on the same example as a ratio,
    if a Python with neurolib 0.6.2 is given / found (its evolution module needs
    ``numpy<2 pandas<2.3 tables<3.11``: make a venv with
    ``python3.11 -m venv /tmp/ref-neurolib-evo && /tmp/ref-neurolib-evo/bin/pip install
    neurolib==0.6.2 'numpy<2' 'pandas<2.3' 'tables<3.11'``);
  * BayesOpt, 60 calls in batches of 4 on the unit circle (skopt's ask/tell dominates).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

from brainsweep.explorer import BayesOpt, Evolution, ParameterSpace, Study
from brainsweep.explorer.strategy import Outcome

SPACE = ParameterSpace(bounds={"x": (-5.0, 5.0), "y": (-5.0, 5.0)})
_SPENT = {"s": 0.0}


def _timed(sleep_s):
    def circle_sleep(params):
        t0 = time.perf_counter()
        if sleep_s:
            time.sleep(sleep_s)
        out = {"fitness": abs(params["x"] ** 2 + params["y"] ** 2 - 1)}
        _SPENT["s"] += time.perf_counter() - t0
        return out
    circle_sleep.__qualname__ = f"circle_sleep_{int(sleep_s * 1000)}ms"
    return circle_sleep


def bench_study(label, strategy, sleep_s, tmp):
    _SPENT["s"] = 0.0
    path = os.path.join(tmp, f"{label.replace(' ', '_')}.h5")
    t0 = time.perf_counter()
    res = Study(_timed(sleep_s), SPACE, strategy, path=path, seed=1).run(progress=False)
    wall = time.perf_counter() - t0
    n = len(res.df)
    tag = "generation" if "generation" in res.df else "iteration"
    steps = res.df[tag].nunique()
    best = res.df["fitness"].min()
    return _row(label, n, steps, wall, _SPENT["s"], best)


def bench_loop(label, strategy, sleep_s):
    """The strategy alone: a bare ask/tell loop without storage."""
    fn = _timed(sleep_s)
    _SPENT["s"] = 0.0
    t0 = time.perf_counter()
    strategy.start(SPACE, 1)
    n = steps = 0
    best = float("inf")
    while (batch := strategy.ask()) is not None:
        outs = []
        for p in batch.points:
            s = fn(p)
            best = min(best, s["fitness"])
            outs.append(Outcome(n, p, "ok", s))
            n += 1
        strategy.tell(batch, outs)
        strategy.get_state()
        steps += 1
    return _row(label, n, steps, time.perf_counter() - t0, _SPENT["s"], best)


def _row(label, n, steps, wall, spent, best):
    over = wall - spent
    return {"case": label, "evals": n, "wall s": wall, "eval s": spent, "evals/s": n / wall,
            "overhead ms/eval": 1e3 * over / n, "overhead ms/step": 1e3 * over / steps, "best": best}


NEUROLIB_SCRIPT = r"""
import json, logging, os, sys, tempfile, time
logging.disable(logging.CRITICAL)
os.chdir(tempfile.mkdtemp())
from neurolib.optimize.evolution import Evolution
from neurolib.utils.parameterSpace import ParameterSpace

def optimize_me(traj):
    ind = evolution.getIndividualFromTraj(traj)
    return (abs((ind.x ** 2 + ind.y ** 2) - 1),), {}

pars = ParameterSpace(["x", "y"], [[-5.0, 5.0], [-5.0, 5.0]])
evolution = Evolution(optimize_me, pars, weightList=[-1.0], POP_INIT_SIZE=100, POP_SIZE=50, NGEN=10,
                      filename="evo.hdf")
t0 = time.perf_counter()
evolution.run(verbose=False)
wall = time.perf_counter() - t0
best = min(p.fitness.values[0] for gen in evolution.history.values() for p in gen)
n = 100 + 9 * 50
print(json.dumps({"wall": wall, "n": n, "best": best}))
"""


def bench_neurolib(python):
    if not python or not os.path.exists(python):
        return None, f"skipped: no Python with neurolib 0.6.2 at {python!r}"
    try:
        out = subprocess.run([python, "-c", NEUROLIB_SCRIPT], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        return None, "skipped: neurolib run timed out (900 s)"
    if out.returncode != 0:
        return None, "skipped: neurolib failed: " + out.stderr.strip().splitlines()[-1][:200]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    row = {"case": "neurolib 0.6.2 Evolution, circle example", "evals": r["n"], "wall s": r["wall"],
           "eval s": float("nan"), "evals/s": r["n"] / r["wall"],
           "overhead ms/eval": 1e3 * r["wall"] / r["n"], "overhead ms/step": 1e3 * r["wall"] / 10,
           "best": r["best"]}
    return row, ""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer generations (smoke run)")
    ap.add_argument("--neurolib-python", default="/tmp/ref-neurolib-evo/bin/python")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore", DeprecationWarning)
    gens_1ms, gens_100ms = (3, 2) if args.quick else (10, 3)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(bench_loop("Evolution pop 100, 0 ms fn, ask/tell loop only",
                               Evolution(pop_init=100, pop=100, generations=gens_1ms), 0.0))
        rows.append(bench_study("Evolution pop 100, 1 ms fn, Study",
                                Evolution(pop_init=100, pop=100, generations=gens_1ms), 1e-3, tmp))
        rows.append(bench_study("Evolution pop 100, 100 ms fn, Study",
                                Evolution(pop_init=100, pop=100, generations=gens_100ms), 0.1, tmp))
        nsga = Evolution(weights=(-1.0,), pop_init=100, pop=100, generations=gens_1ms, algorithm="nsga2")
        rows.append(bench_study("NSGA-II pop 100, 1 ms fn, Study", nsga, 1e-3, tmp))
        circle = bench_study("circle example (100 + 9 x 50), 0 ms fn, Study",
                             Evolution(pop_init=100, pop=50, generations=10), 0.0, tmp)
        rows.append(circle)
        ref, note = bench_neurolib(args.neurolib_python)
        if ref is not None:
            rows.append(ref)
        rows.append(bench_study("BayesOpt GP gp_hedge 60 calls x4, Study",
                                BayesOpt(n_calls=60, n_initial=10, batch=4), 0.0, tmp))
        rows.append(bench_study("BayesOpt GP EI sampling 60 calls x4, Study",
                                BayesOpt(n_calls=60, n_initial=10, batch=4, acq_func="EI",
                                         acq_optimizer="sampling", acq_optimizer_kwargs={"n_points": 2000}),
                                0.0, tmp))
    cols = ["evals", "wall s", "eval s", "evals/s", "overhead ms/eval", "overhead ms/step", "best"]
    print(f"{'case':<52}" + "".join(f"{c:>17}" for c in cols))
    for r in rows:
        print(f"{r['case']:<52}" + "".join(
            f"{r[c]:>17d}" if isinstance(r[c], int) else f"{r[c]:>17.4g}" for c in cols))
    if ref is not None:
        print(f"\ncircle example: brainsweep {circle['wall s']:.2f} s vs neurolib {ref['wall s']:.2f} s "
              f"-> {ref['wall s'] / circle['wall s']:.0f}x faster (same population and generations)")
    else:
        print("\nneurolib comparison " + note)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
