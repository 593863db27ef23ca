"""Storage throughput: brainsweep's study file vs pypet's own storage vs raw PyTables.

    python benchmarks/bench_storage.py [--runs 2000] [--pypet-runs 500] [--big 100000]

For each payload — (a) one float, (b) a float32 80x1000 array, (c) an 80x80 float64
matrix — it prints runs stored per second and the time to load ``df`` and all arrays
back, for
  * brainsweep, writer only (``StudyFile.write_runs`` of finished records, what rank 0 does),
  * brainsweep, ``Study.run`` end to end in-process (evaluation + bookkeeping + storage),
  * pypet's ``Environment`` storing one result node per run (pypet's default way),
  * raw PyTables appends into one open file (the practical limit),
and the time to build ``df`` of a study with ``--big`` scalar runs. All in one run.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
import warnings

import numpy as np
import tables

from brainsweep.explorer import ParameterSpace, Study, load
from brainsweep.explorer.storage import RunRecord, StudyFile

PAYLOADS = {
    "a: float": lambda: None,
    "b: f32 80x1000": lambda: np.ones((80, 1000), np.float32),
    "c: f64 80x80": lambda: np.ones((80, 80)),
}


def _space(n):
    return ParameterSpace({"x": np.arange(float(n))})


def bench_writer(path, n, make):
    arr = make()
    f = StudyFile.create(path, _space(n), {"bench": 1}, 1, {"bench": "1"})
    f.register_batch(_space(n).grid_points())
    now = time.time()
    recs = [RunRecord(i, "ok", i, 0.0, now, "w", {"score": float(i)}, {} if arr is None else {"arr": arr})
            for i in range(n)]
    t0 = time.perf_counter()
    for j in range(0, n, 64):
        f.write_runs(recs[j:j + 64], {"batch": 0})
    dt = time.perf_counter() - t0
    f.close()
    return n / dt, _reload(path)


def _reload(path):
    t0 = time.perf_counter()
    res = load(path)
    t_df = time.perf_counter() - t0
    if "arr" in res.scores or res.df.empty:
        return t_df, 0.0
    t0 = time.perf_counter()
    arrays = res.arrays("arr")
    t_arr = time.perf_counter() - t0
    return t_df, t_arr if arrays else 0.0


def bench_study(path, n, make):
    arr = make()

    def evaluate(p):
        out = {"score": p["x"]}
        if arr is not None:
            out["arr"] = arr
        return out

    t0 = time.perf_counter()
    Study(evaluate, _space(n), path=path, overwrite=True).run(progress=False)
    return n / (time.perf_counter() - t0)


def bench_pypet(path, n, make):
    from pypet import Environment, cartesian_product
    arr = make()

    def job(traj):
        traj.f_add_result("score", traj.x)
        if arr is not None:
            traj.f_add_result("arr", arr)

    logging.disable(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = Environment(trajectory="bench", filename=path, overwrite_file=True, log_config=None,
                          multiproc=False, complevel=0, log_stdout=False)
        traj = env.trajectory
        traj.f_add_parameter("x", 0.0)
        traj.f_explore(cartesian_product({"x": [float(v) for v in range(n)]}))
        t0 = time.perf_counter()
        env.run(job)
        dt = time.perf_counter() - t0
        env.disable_logging()
        from pypet import Trajectory
        t0 = time.perf_counter()
        tr = Trajectory(filename=path)
        tr.f_load(index=-1, load_parameters=2, load_results=2)
        scores = [tr.results.runs.f_get(name).score for name in tr.f_get_run_names()]
        t_load = time.perf_counter() - t0
    logging.disable(logging.NOTSET)
    assert len(scores) == n
    return n / dt, t_load


def bench_raw(path, n, make):
    arr = make()
    with tables.open_file(path, "w") as h5:
        table = h5.create_table("/", "scores", {"idx": tables.Int64Col(), "score": tables.Float64Col()})
        earr = None if arr is None else h5.create_earray("/", "arr", tables.Atom.from_dtype(arr.dtype),
                                                         (0,) + arr.shape, chunkshape=(1,) + arr.shape)
        t0 = time.perf_counter()
        for j in range(0, n, 64):
            m = min(64, n - j)
            rows = np.zeros(m, dtype=table.dtype)
            rows["idx"] = np.arange(j, j + m)
            table.append(rows)
            if earr is not None:
                earr.append(np.broadcast_to(arr, (m,) + arr.shape))
            h5.flush()
        dt = time.perf_counter() - t0
    t0 = time.perf_counter()
    with tables.open_file(path) as h5:
        h5.root.scores.read()
        if arr is not None:
            h5.root.arr.read()
    return n / dt, time.perf_counter() - t0


def bench_big_df(path, n):
    f = StudyFile.create(path, _space(n), {"bench": 1}, 1, {"bench": "1"})
    f.register_batch(_space(n).grid_points())
    now = time.time()
    t0 = time.perf_counter()
    for j in range(0, n, 5000):
        f.write_runs([RunRecord(i, "ok", i, 0.0, now, "w", {"score": float(i), "fc_fit": 0.5})
                      for i in range(j, min(n, j + 5000))], {"batch": 0})
    t_write = time.perf_counter() - t0
    f.close()
    t0 = time.perf_counter()
    res = load(path)
    t_df = time.perf_counter() - t0
    assert len(res.df) == n
    return n / t_write, t_df


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--pypet-runs", type=int, default=500)
    ap.add_argument("--big", type=int, default=100_000)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    rows = []
    for label, make in PAYLOADS.items():
        p = lambda name: os.path.join(tmp, f"{name}_{label[0]}.h5")  # noqa: E731
        w_rate, (w_df, w_arr) = bench_writer(p("writer"), args.runs, make)
        s_rate = bench_study(p("study"), args.runs, make)
        pp_rate, pp_load = bench_pypet(p("pypet"), args.pypet_runs, make)
        raw_rate, raw_load = bench_raw(p("raw"), args.runs, make)
        rows.append((label, w_rate, s_rate, w_df, w_arr, pp_rate, pp_load, raw_rate, raw_load))
    print(f"\nruns: brainsweep and raw {args.runs}, pypet {args.pypet_runs}; no compression\n")
    print("| payload | brainsweep writer runs/s | Study.run runs/s | load df s | load arrays s "
          "| pypet runs/s | pypet load s | raw PyTables runs/s | raw load s | writer / pypet |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, w, s, d, a, pp, pl, raw, rl in rows:
        print(f"| {label} | {w:,.0f} | {s:,.0f} | {d:.3f} | {a:.3f} | {pp:,.0f} | {pl:.2f} "
              f"| {raw:,.0f} | {rl:.3f} | {w / pp:.0f}x |")
    big_rate, big_df = bench_big_df(os.path.join(tmp, "big.h5"), args.big)
    print(f"\n{args.big:,} scalar runs: stored at {big_rate:,.0f} runs/s; load(...).df in {big_df:.2f} s")


if __name__ == "__main__":
    main()
