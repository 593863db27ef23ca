"""Timing of brainsweep.evaluation next to neurolib 0.6.2's utils.functions (and a simulation).

    python benchmarks/bench_evaluation.py [--neurolib-python /tmp/ref-neurolib/bin/python] [--sim]

The neurolib column needs a Python with ``neurolib==0.6.2`` installed (given by
``--neurolib-python`` or the ``NEUROLIB_PYTHON`` environment variable); it is skipped if absent.
Both columns run on the same input arrays (saved to a temporary .npy). ``--sim`` also times a
60 s Hopf network simulation on tvb68 (needs brainsweep.models) for scale.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from brainsweep import evaluation as ev

N_NODES, N_TR = 80, 1200  # 80 regions, 40 min of BOLD at TR = 2 s
FS_NEURAL = 1000.0  # Hz (sampling_dt = 1 ms)

_NEUROLIB_SCRIPT = r"""
import json, sys, time
import numpy as np
from neurolib.utils import functions as func
bold, neural = np.load(sys.argv[1]), np.load(sys.argv[2])
def tm(f, reps):
    f()
    t0 = time.perf_counter()
    for _ in range(reps):
        f()
    return (time.perf_counter() - t0) / reps * 1e3
res = {}
res["fc"] = tm(lambda: func.fc(bold), 50)
res["matrix_correlation"] = tm(lambda: func.matrix_correlation(func.fc(bold), func.fc(bold[::-1])), 20)
t0 = time.perf_counter(); f1 = func.fcd(bold); res["fcd"] = (time.perf_counter() - t0) * 1e3
f2 = func.fcd(bold[::-1])
res["ks_distance"] = tm(lambda: func.matrix_kolmogorov(f1, f2), 5)
try:
    res["welch_psd"] = tm(lambda: func.getMeanPowerSpectrum(neural, dt=1.0), 3)
except Exception as exc:
    res["welch_psd"] = f"fails: {type(exc).__name__}: {str(exc)[:60]}"
print(json.dumps(res))
"""


def _time(f, reps):
    f()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e3


def _neurolib_column(python, bold, neural):
    if not python or not Path(python).exists():
        return {}, "neurolib python not given (--neurolib-python or NEUROLIB_PYTHON): column skipped"
    with tempfile.TemporaryDirectory() as tmp:
        pb, pn = Path(tmp, "bold.npy"), Path(tmp, "neural.npy")
        np.save(pb, bold)
        np.save(pn, neural)
        proc = subprocess.run([python, "-c", _NEUROLIB_SCRIPT, str(pb), str(pn)], capture_output=True,
                              text=True, timeout=900)
    if proc.returncode != 0:
        return {}, f"neurolib run failed: {proc.stderr.strip().splitlines()[-1:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1]), ""


def _simulation_ms():
    try:
        from brainsweep.data import load_connectome
        from brainsweep.models import HopfModel

        sc = load_connectome("tvb68", normalize="max")
        m = HopfModel(Cmat=sc.Cmat, Dmat=sc.Dmat)
        m.run(duration=100)  # compile
        t0 = time.perf_counter()
        m.run(duration=60_000, sampling_dt=1.0, seed=1)
        return (time.perf_counter() - t0) * 1e3
    except Exception as exc:  # the models package is optional for this benchmark
        return f"n/a ({type(exc).__name__}: {exc})"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--neurolib-python", default=os.environ.get("NEUROLIB_PYTHON"))
    ap.add_argument("--sim", action="store_true", help="also time a 60 s Hopf simulation on tvb68")
    args = ap.parse_args(argv)

    rng = np.random.default_rng(0)
    bold = rng.standard_normal((N_NODES, N_NODES)) @ rng.standard_normal((N_NODES, N_TR)) / np.sqrt(N_NODES)
    neural = rng.standard_normal((N_NODES, 60_000))  # 60 s at 1 kHz
    fcd1, fcd2 = ev.fcd(bold), ev.fcd(bold[::-1])
    f, S = ev.welch_psd(neural, FS_NEURAL)

    ours = {
        "fc": _time(lambda: ev.fc(bold), 200),
        "matrix_correlation": _time(lambda: ev.matrix_correlation(ev.fc(bold), ev.fc(bold[::-1])), 100),
        "fcd": _time(lambda: ev.fcd(bold, window=30, step=5), 20),
        "ks_distance": _time(lambda: ev.ks_distance(fcd1, fcd2), 20),
        "welch_psd": _time(lambda: ev.welch_psd(neural, FS_NEURAL), 5),
        "spectral_loss": _time(lambda: ev.spectral_loss(S, S[::-1]), 50),
    }
    inputs = {
        "fc": f"{N_NODES}x{N_TR}", "matrix_correlation": "2 FCs incl.", "fcd": f"{N_NODES}x{N_TR}, w30 s5",
        "ks_distance": f"2 FCD {fcd1.shape[0]}x{fcd1.shape[0]}", "welch_psd": f"{N_NODES}x60000 @1kHz",
        "spectral_loss": f"{S.shape[0]}x{S.shape[1]}",
    }
    theirs, note = _neurolib_column(args.neurolib_python, bold, neural)

    try:
        import threadpoolctl
        blas = threadpoolctl.threadpool_info()
        threads = ",".join(str(i.get("num_threads")) for i in blas if i.get("user_api") == "blas") or "?"
    except ImportError:
        threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"brainsweep.evaluation timings (median ms; numpy {np.__version__}, BLAS threads {threads})\n")
    print(f"| {'operation':<20} | {'input':<22} | {'brainsweep ms':>13} | {'neurolib 0.6.2 ms':>30} | {'speed-up':>8} |")
    print(f"|{'-' * 22}|{'-' * 24}|{'-' * 15}|{'-' * 32}|{'-' * 10}|")
    for key, ms in ours.items():
        other = theirs.get(key, "-")
        if isinstance(other, float):
            ratio, other = f"{other / ms:.0f}x", f"{other:.2f}"
        else:
            ratio = "-"
        print(f"| {key:<20} | {inputs[key]:<22} | {ms:>13.3f} | {str(other)[:30]:>30} | {ratio:>8} |")
    if note:
        print(f"\n{note}")
    if args.sim:
        sim = _simulation_ms()
        sim_txt = f"{sim:.0f} ms" if isinstance(sim, float) else sim
        print(f"\nfor scale: Hopf model, tvb68, 60 s simulated at dt 0.1 ms: {sim_txt}")


if __name__ == "__main__":
    sys.exit(main())
