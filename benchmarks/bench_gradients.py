"""Cost of an exact gradient (discrete adjoint) relative to one forward run of the engine.

Jansen-Rit on the 68-region TVB connectome, Heun, dt 0.1 ms, output v_pyr every 1 ms, the
notebook's loss (1 - correlation of the mean Welch spectrum with a target); the gradient is
taken with respect to global a and b and, separately, per-node a and b (2 x 68 values: the
same cost). CPU seconds (process_time, one thread) after a warm-up that compiles the kernels.

    nice -n 10 python benchmarks/bench_gradients.py --seconds 1 2
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from brainsweep.data import load_connectome  # noqa: E402
from brainsweep.evaluation.differentiable import spectral_correlation_loss  # noqa: E402
from brainsweep.evaluation.spectra import welch_psd  # noqa: E402
from brainsweep.models import JansenRitModel  # noqa: E402
from brainsweep.models.adjoint import gradient  # noqa: E402


def _cpu(fn, repeat):
    best = np.inf
    for _ in range(repeat):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return best, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, nargs="+", default=[1.0, 2.0], help="simulated seconds")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args(argv)
    sc = load_connectome("tvb68")
    m = JansenRitModel(Cmat=sc.Cmat, Dmat=sc.Dmat)
    run = dict(dt=0.1, sampling_dt=1.0, seed=1, integrator="heun")
    hidden = m.copy()
    hidden.params.update(a=0.045, b=0.042)
    print(f"{'sim s':>6} {'forward CPU s':>14} {'gradient CPU s':>15} {'ratio':>6} {'per-node ratio':>15} "
          f"{'all-states ratio':>17}")
    for sec in args.seconds:
        dur = 1000.0 * sec
        target = welch_psd(hidden.run(duration=dur, **run)["v_pyr"], 1000.0, nperseg=256)[1].mean(axis=0)
        obj = spectral_correlation_loss(target, 1000.0, 256, "v_pyr")
        m.run(duration=100.0, **run)                       # warm-up (compiles)
        gradient(m, obj, ["a", "b"], 300.0, **run) if sec == args.seconds[0] else None
        t_fwd, _ = _cpu(lambda: m.run(duration=dur, **run), args.repeat)
        t_grad, (loss, g) = _cpu(lambda: gradient(m, obj, ["a", "b"], dur, **run), args.repeat)
        t_node, _ = _cpu(lambda: gradient(m, obj, ["a", "b"], dur, per_node=["a", "b"], **run), 1)
        # every state kept (memory grows with the run; no segment integrated twice)
        t_all, _ = _cpu(lambda: gradient(m, obj, ["a", "b"], dur, checkpoint_every=10**9, **run), 1)
        print(f"{sec:6.1f} {t_fwd:14.3f} {t_grad:15.3f} {t_grad / t_fwd:6.2f} {t_node / t_fwd:15.2f} "
              f"{t_all / t_fwd:17.2f}"
              f"   loss {loss:.4f} dL/da {g['a']:.4g} dL/db {g['b']:.4g}")


if __name__ == "__main__":
    main()
