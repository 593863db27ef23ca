"""Benchmark brainsweep's model engine against neurolib 0.6.2 (plain script, prints a table).

For each model in MODELS: an ~80-region delayed network (tvb-data's 76-region connectome,
weights normalised to row sum 1, fibre lengths in mm) simulated for DURATION ms at dt = 0.1 ms,
with and without BOLD, single runs and ``run_batch`` of 16 parameter sets. Each measurement
runs in its own subprocess (so peak RSS is per measurement) and reports wall and CPU seconds
of the simulation call (compilation / cache loading excluded and reported separately),
node-steps per CPU-second and peak RSS. neurolib runs in its own virtual environment
(``--neurolib-python`` or $NEUROLIB_PYTHON, default /tmp/ref-neurolib/bin/python); its
columns are skipped when that interpreter is missing or the model has no neurolib counterpart.

Each row is the fastest of ``--repeat`` measurements (default 3; brainsweep and neurolib runs
alternate, so a busy or throttled machine slows both sides alike, and the minimum is the figure
least disturbed by other load, as with ``timeit``).

Usage:  python benchmarks/bench_models.py [--duration 60000] [--models hopf,fhn] [--batch 16] [--repeat 3]

Adding a model = one entry in MODELS:
    dict(name=..., cls="module:Class", neurolib="module:Class" or None,
         params={...} (both sides; neurolib_params={...} to override there),
         batch_param="K_gl", batch_values=(lo, hi), bold=True (False: model has no BOLD input))
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = [
    dict(name="hopf", cls="brainsweep.models.hopf:HopfModel", neurolib="neurolib.models.hopf:HopfModel",
         params={"K_gl": 0.6, "sigma_ou": 0.01}, batch_param="K_gl", batch_values=(0.1, 1.0)),
    dict(name="fhn", cls="brainsweep.models.fitzhugh_nagumo:FitzHughNagumoModel",
         neurolib="neurolib.models.fhn:FHNModel",
         params={"K_gl": 0.6, "sigma_ou": 0.01}, batch_param="K_gl", batch_values=(0.1, 1.0)),
    dict(name="kuramoto", cls="brainsweep.models.kuramoto:KuramotoModel", neurolib=None,
         params={"k": 1.0, "sigma_ou": 0.01}, batch_param="k", batch_values=(0.1, 2.0), bold=False),
    dict(name="wc", cls="brainsweep.models.wilson_cowan:WilsonCowanModel", neurolib="neurolib.models.wc:WCModel",
         params={"K_gl": 0.6, "exc_ext": 0.75, "sigma_ou": 0.01}, batch_param="K_gl", batch_values=(0.1, 1.0)),
    dict(name="ww", cls="brainsweep.models.wong_wang:WongWangModel", neurolib="neurolib.models.ww:WWModel",
         params={"K_gl": 0.6, "sigma_ou": 0.001}, batch_param="K_gl", batch_values=(0.1, 2.0)),
    dict(name="aln", cls="brainsweep.models.aln:ALNModel", neurolib="neurolib.models.aln:ALNModel",
         params={"mue_ext_mean": 1.57, "mui_ext_mean": 1.6, "sigma_ou": 0.09, "b": 5.0},
         batch_param="mue_ext_mean", batch_values=(1.0, 2.0)),
]

DT = 0.1
SAMPLING_DT = 1.0
HERE = Path(__file__).resolve().parent


def _connectome():
    """(Cmat, Dmat): tvb-data's 76 regions, weights normalised to row sum 1 (cached as .npz)."""
    import numpy as np

    cache = Path(tempfile.gettempdir()) / "bench_models_tvb76.npz"
    if cache.exists():
        f = np.load(cache)
        return f["Cmat"], f["Dmat"]
    from brainsweep.data import load_connectome

    sc = load_connectome("tvb76", normalize="rowsum")
    np.savez(cache, Cmat=sc.Cmat, Dmat=sc.Dmat)
    return sc.Cmat, sc.Dmat


def _load(path: str):
    mod, name = path.split(":")
    return getattr(__import__(mod, fromlist=[name]), name)


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ----------------------------------------------------------------------------- workers


def worker_brainsweep(entry: dict, mode: str, duration: float, batch: int, cmat_path: str) -> dict:
    import numpy as np

    f = np.load(cmat_path)
    cls = _load(entry["cls"])
    t0 = time.perf_counter()
    m = cls(Cmat=f["Cmat"], Dmat=f["Dmat"])
    m.params.update(entry["params"])
    m.run(duration=10.0, dt=DT, seed=1)  # compile or load the cached kernel
    if mode.startswith("batch"):  # the parallel batch kernel is a function of its own
        m.run_batch([{}, {}], seeds=1, duration=10.0, dt=DT)
    warm = time.perf_counter() - t0
    bold = mode.endswith("bold")
    w0, c0 = time.perf_counter(), time.process_time()
    if mode.startswith("batch"):
        lo, hi = entry["batch_values"]
        sets = [{entry["batch_param"]: v} for v in np.linspace(lo, hi, batch)]
        outs = m.run_batch(sets, seeds=1, duration=duration, dt=DT, sampling_dt=10.0, bold=bold,
                           outputs=[m.spec()["output_names"][0]])  # fmt: skip
        runs = len(outs)
    else:
        m.run(duration=duration, dt=DT, sampling_dt=SAMPLING_DT, bold=bold, seed=1)
        runs = 1
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    n = f["Cmat"].shape[0]
    return dict(wall=wall, cpu=cpu, rate=runs * n * duration / DT / cpu, rss=_rss_mb(), warm=warm)


def worker_neurolib(entry: dict, mode: str, duration: float, cmat_path: str) -> dict:
    import numpy as np

    f = np.load(cmat_path)
    cls = _load(entry["neurolib"])
    m = cls(Cmat=f["Cmat"], Dmat=f["Dmat"])
    m.params.update(entry.get("neurolib_params", entry["params"]))
    m.params["dt"] = DT
    m.params["sampling_dt"] = SAMPLING_DT
    m.params["duration"] = 10.0
    m.run()  # numba JIT compile (neurolib does not cache)
    m.params["duration"] = duration
    w0, c0 = time.perf_counter(), time.process_time()
    if mode == "single_bold":
        m.run(bold=True, chunkwise=True)
    else:
        m.run()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    n = f["Cmat"].shape[0]
    return dict(wall=wall, cpu=cpu, rate=n * duration / DT / cpu, rss=_rss_mb())


def compile_times(entry: dict, cmat_path: str) -> tuple[float, float]:
    """(first call in a fresh kernel cache, first call in a new process with that cache) in s."""
    code = (
        "import time, numpy as np, sys; sys.path.insert(0, %r)\n"
        "from bench_models import _load\n"
        "f = np.load(%r); t = time.perf_counter(); import brainsweep.models\n"
        "cls = _load(%r); m = cls(Cmat=f['Cmat'], Dmat=f['Dmat']); t = time.perf_counter()\n"
        "m.run(duration=10.0, seed=1); print(time.perf_counter() - t)\n"
    ) % (str(HERE), cmat_path, entry["cls"])
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, BRAINSWEEP_KERNEL_DIR=d)
        out = [float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                    check=True).stdout.split()[-1]) for _ in range(2)]  # fmt: skip
    return out[0], out[1]


# ----------------------------------------------------------------------------- driver


def _sub(python: str, args: list[str]) -> dict | None:
    res = subprocess.run([python, str(Path(__file__).resolve()), *args], capture_output=True, text=True)
    if res.returncode != 0:
        print(f"  ! {' '.join(args[:3])} failed: {res.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


def _best(results: list) -> dict | None:
    """The fastest of repeated measurements (highest node-steps per CPU-second); peak RSS is the largest."""
    ok = [r for r in results if r]
    if not ok:
        return None
    best = dict(max(ok, key=lambda r: r["rate"]))
    best["rss"] = max(r["rss"] for r in ok)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=60_000.0, help="simulated ms per run (default 60 s)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3,
                    help="measurements per row, the fastest kept (as timeit does; default 3)")
    ap.add_argument("--models", default=",".join(e["name"] for e in MODELS))
    ap.add_argument("--neurolib-python", default=os.environ.get("NEUROLIB_PYTHON", "/tmp/ref-neurolib/bin/python"))
    ap.add_argument("--worker", nargs=5, metavar=("SIDE", "MODEL", "MODE", "DURATION", "CMAT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error(f"--repeat must be at least 1, got {args.repeat}")
    entries = {e["name"]: e for e in MODELS}
    if args.worker:
        side, name, mode, dur, cmat = args.worker
        fn = worker_brainsweep if side == "brainsweep" else worker_neurolib
        extra = (args.batch,) if side == "brainsweep" else ()
        print(json.dumps(fn(entries[name], mode, float(dur), *extra, cmat)))
        return

    import numpy as np

    cmat_path = str(Path(tempfile.gettempdir()) / "bench_models_net.npz")
    C, D = _connectome()
    np.savez(cmat_path, Cmat=C, Dmat=D)
    have_nl = Path(args.neurolib_python).exists()
    import numba

    print(f"# {C.shape[0]}-region tvb76 network with delays, {args.duration / 1000:g} s at dt = {DT} ms, "
          f"sampling_dt {SAMPLING_DT} ms (batch: 10 ms), numba {numba.__version__}, "
          f"threading layer {numba.config.THREADING_LAYER}, {os.cpu_count()} CPUs, best of {args.repeat}")  # fmt: skip
    header = ("| model | run | brainsweep wall s | CPU s | M node-steps/CPU-s | peak RSS MB | "
              "neurolib wall s | CPU s | M node-steps/CPU-s | peak RSS MB | speed-up per CPU-s |")  # fmt: skip
    lines = [header, "|" + "---|" * 11]
    comp = []
    for name in args.models.split(","):
        e = entries[name]
        modes = ("single", "single_bold", "batch", "batch_bold") if e.get("bold", True) else ("single", "batch")
        nl_modes = ("single", "single_bold") if have_nl and e["neurolib"] else ()
        nl = {m: [] for m in nl_modes}
        mine = {m: [] for m in modes}
        for _ in range(args.repeat):  # brainsweep and neurolib alternate, so both see the same machine state
            for mode in nl_modes:
                nl[mode].append(_sub(args.neurolib_python, ["--worker", "neurolib", name, mode, str(args.duration),
                                                            cmat_path]))  # fmt: skip
            for mode in modes:
                mine[mode].append(_sub(sys.executable, ["--worker", "brainsweep", name, mode, str(args.duration),
                                                        cmat_path, "--batch", str(args.batch)]))  # fmt: skip
        nl = {m: _best(v) for m, v in nl.items()}
        for mode in modes:
            ours = _best(mine[mode])
            ref = nl.get("single_bold" if mode.endswith("bold") else "single")
            label = mode.replace("batch", f"batch {args.batch}").replace("_bold", " + BOLD")
            o = ours or dict(wall=float("nan"), cpu=float("nan"), rate=float("nan"), rss=float("nan"))
            row = f"| {name} | {label} | {o['wall']:.1f} | {o['cpu']:.1f} | {o['rate'] / 1e6:.1f} | {o['rss']:.0f} |"
            if ref:
                row += (f" {ref['wall']:.1f} | {ref['cpu']:.1f} | {ref['rate'] / 1e6:.1f} | {ref['rss']:.0f} |"
                        f" {o['rate'] / ref['rate']:.1f}x |")  # fmt: skip
            else:
                row += " - | - | - | - | - |"
            lines.append(row)
            print(row, flush=True)
        first, again = compile_times(e, cmat_path)
        comp.append(f"| {name} | {first:.1f} | {again:.2f} |")
    print()
    print("\n".join(lines))
    print("\n| model | first call, empty kernel cache (s) | first call, new process, cached (s) |\n|---|---|---|")
    print("\n".join(comp))


if __name__ == "__main__":
    main()
