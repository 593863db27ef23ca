"""Storage at scale: runs per second at the start and the end of a large study, file size
against data size, and reload times.

    python benchmarks/bench_storage_scale.py [--small 100000] [--large 30000] [--chunk 64]

Two studies are written through ``StudyFile.write_runs`` exactly as ``Study`` stores them
(batches registered, then finished runs written in chunks; no simulation):

* ``small``: each run returns one score and a 20-value float32 array (rows of one array);
* ``large``: each run returns one score and an 80 x 1000 float32 array (one run group each,
  bucketed 1000 per ``run_set_XXXXX``).

Printed per study: runs/s over the first and the last 10 % of the runs and their change,
the file size against the bytes of the stored arrays, the time of ``load(path).df``
and of ``load(path).run(last)`` (fresh ``load``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from brainsweep.explorer import ParameterSpace, load
from brainsweep.explorer.storage import RunRecord, StudyFile

BATCH = 1000  # points registered per batch, as a grid study with batch_size=1000


def write_study(path: str, n: int, shape: tuple, chunk: int) -> tuple[list, float]:
    """Write ``n`` runs each with a float32 array of ``shape``; return the wall time of
    each chunk (s) and the array bytes stored."""
    space = ParameterSpace({"x": np.arange(float(n))})
    arr = np.ones(shape, np.float32)
    times = []
    with StudyFile.create(path, space, {"bench": "scale"}, 1, {"bench": "1"}) as f:
        for b, first in enumerate(range(0, n, BATCH)):
            points = [{"x": float(i)} for i in range(first, min(n, first + BATCH))]
            f.register_batch(points)
            for j in range(first, first + len(points), chunk):
                now = time.time()
                recs = [RunRecord(i, "ok", i, 0.01, now, "w", {"score": float(i)}, {"arr": arr * i})
                        for i in range(j, min(first + len(points), j + chunk))]
                t0 = time.perf_counter()
                f.write_runs(recs, {"batch": b})
                times.append((len(recs), time.perf_counter() - t0))
    return times, n * arr.nbytes


def rate(times: list) -> float:
    return sum(k for k, _ in times) / sum(t for _, t in times)


def reload_times(path: str, last: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    res = load(path)
    _ = res.df
    t_df = time.perf_counter() - t0
    res = load(path)
    t0 = time.perf_counter()
    run = res.run(last)
    t_run = time.perf_counter() - t0 + 0.0
    assert float(run["arr"].flat[0]) == float(last)
    return t_df, t_run


def bench(name: str, n: int, shape: tuple, chunk: int, tmp: str) -> dict:
    path = os.path.join(tmp, f"{name}.h5")
    times, data = write_study(path, n, shape, chunk)
    tenth = max(1, len(times) // 10)
    start, end = rate(times[:tenth]), rate(times[-tenth:])
    size = os.path.getsize(path)
    t_df, t_run = reload_times(path, n - 1)
    os.remove(path)
    return {"study": name, "runs": n, "runs/s all": rate(times), "runs/s first 10%": start,
            "runs/s last 10%": end, "change %": 100 * (end / start - 1), "file MB": size / 1e6,
            "array MB": data / 1e6, "file/data": size / data, "load().df s": t_df,
            "load().run(last) s": t_run}


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", type=int, default=100_000, help="runs returning 20 float32 values")
    ap.add_argument("--large", type=int, default=30_000, help="runs returning an 80 x 1000 float32 array")
    ap.add_argument("--chunk", type=int, default=64, help="finished runs written per write_runs call")
    ap.add_argument("--dir", default=None, help="folder for the study files (default: a temporary one)")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for name, n, shape in (("small 20 f32", args.small, (20,)), ("large 80x1000 f32", args.large, (80, 1000))):
            if n > 0:
                rows.append(bench(name, n, shape, args.chunk, tmp))
    keys = list(rows[0])
    print(" | ".join(keys))
    for r in rows:
        print(" | ".join(f"{r[k]:.3g}" if isinstance(r[k], float) else str(r[k]) for k in keys))
    return rows


if __name__ == "__main__":
    main()
