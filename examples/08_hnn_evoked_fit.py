"""hnn-core's evoked-response optimisation (its example ``optimize_evoked.py``, hnn-core 0.6.1) run
through brainsweep with the real biophysical network (NEURON): every simulation stored, resumable,
one whole simulation per MPI rank.

    python examples/08_hnn_evoked_fit.py [dipole.txt]        # needs: pip install brainsweep[hnn]
    mpiexec -n 5 python examples/08_hnn_evoked_fit.py        # 4 ranks simulate, batches of 4
    mpiexec -n 3 python examples/08_hnn_evoked_fit.py --reduced   # 3x3 pyramidal cells (~45x cheaper)
    BRAINSWEEP_FAST=1 python examples/08_hnn_evoked_fit.py   # tiny: 3x3 cells, 1 trial, 4 runs

As in hnn-core's example: the measured MEG dipole ``yes_trial_S1_ERP_all_avg.txt`` (default:
``../shared/data`` beside this repository), the hand-tuned drives evprox1, evdist1, evprox2, the
three evprox2 parameters searched within the example's constraints, 3 trials averaged, dipoles
scaled by 3000 and smoothed over 30 ms, RMSE to the measured dipole up to its last sample
(hnn-core's ``_rmse`` drops the sample at tstop), 50 Bayesian evaluations. The drives keep
hnn-core's seeds (``seed_from_run=False``), so every parameter set sees the same noise
realisation, exactly the objective hnn-core's ``Optimizer`` minimises. hnn-core's optimiser
evaluates the hand-tuned point first; brainsweep's BayesOpt starts from ``n_initial`` random
points, and the hand-tuned point is simulated separately for comparison.

Writes hnn_evoked_fit.h5 (``--reduced``: hnn_evoked_fit_reduced.h5; fast mode:
hnn_evoked_fit_fast.h5); except in fast mode also docs/images/hnn_dipoles.png (target, initial,
optimised) and docs/images/hnn_convergence.png. One simulation of hnn-core's default 10x10
network costs ~127 CPU-s per 170 ms trial here, the reduced 3x3 one ~2.8 CPU-s; the reduced
network's dipoles are scaled by 3000 * 100/9 (see ``scale_for``) to be comparable.
"""

import os
import sys
from pathlib import Path

from brainsweep.data import read_dipole
from brainsweep.explorer import BayesOpt, ParameterSpace, Study
from brainsweep.explorer.hnn_eval import HNNEvaluator
from brainsweep.mpi import is_root, world

FAST = os.environ.get("BRAINSWEEP_FAST") == "1"
REDUCED = FAST or "--reduced" in sys.argv[1:]
MEASURED = Path(__file__).resolve().parents[2] / "shared" / "data" / "yes_trial_S1_ERP_all_avg.txt"

# -- hnn-core's example, unchanged ----------------------------------------------------------------------
n_drive_cells = 1
cell_specific = False
weights_ampa_p1 = {"L2_basket": 0.08831, "L2_pyramidal": 0.01525, "L5_basket": 0.19934, "L5_pyramidal": 0.00865}
synaptic_delays_p = {"L2_basket": 0.1, "L2_pyramidal": 0.1, "L5_basket": 1.0, "L5_pyramidal": 1.0}
weights_ampa_d1 = {"L2_basket": 0.006562, "L2_pyramidal": 0.000007, "L5_pyramidal": 0.142300}
weights_nmda_d1 = {"L2_basket": 0.019482, "L2_pyramidal": 0.004317, "L5_pyramidal": 0.080074}
synaptic_delays_d1 = {"L2_basket": 0.1, "L2_pyramidal": 0.1, "L5_pyramidal": 0.1}


def set_params(net, params):
    net.add_evoked_drive("evprox1", mu=26.61, sigma=2.47, numspikes=1, location="proximal",
                         weights_ampa=weights_ampa_p1, synaptic_delays=synaptic_delays_p,
                         n_drive_cells=n_drive_cells, cell_specific=cell_specific)
    net.add_evoked_drive("evdist1", mu=63.53, sigma=3.85, numspikes=1, location="distal",
                         weights_ampa=weights_ampa_d1, weights_nmda=weights_nmda_d1,
                         synaptic_delays=synaptic_delays_d1, n_drive_cells=n_drive_cells,
                         cell_specific=cell_specific)
    weights_ampa_p2 = {"L2_basket": 0.000003, "L2_pyramidal": 1.438840, "L5_basket": 0.008958,
                       "L5_pyramidal": params["evprox2_ampa_L5_pyramidal"]}
    net.add_evoked_drive("evprox2", mu=params["evprox2_mu"], sigma=params["evprox2_sigma"], numspikes=1,
                         location="proximal", weights_ampa=weights_ampa_p2, synaptic_delays=synaptic_delays_p,
                         n_drive_cells=n_drive_cells, cell_specific=cell_specific)


constraints = {"evprox2_ampa_L5_pyramidal": (0.01, 1.0), "evprox2_mu": (100.0, 150.0), "evprox2_sigma": (1.0, 20.0)}
initial_params = {"evprox2_ampa_L5_pyramidal": 0.1, "evprox2_mu": 120.0, "evprox2_sigma": 1.0}
n_trials, window_length, scaling_factor, max_iter = 3, 30, 3000, 50

# -- brainsweep -------------------------------------------------------------------------------------------
def scale_for(reduced: bool, scale: float | None = None) -> float:
    """The dipole scale factor: hnn-core's 3000 is for its 10x10 network (100 pyramidal cells a
    layer); in the reduced 3x3 network each of the 9 cells stands for 100/9 of them."""
    if scale is not None:
        return scale
    return scaling_factor * 100 / 9 if reduced else scaling_factor


def make_evaluator(target, reduced=False, trials=n_trials, scale=None):
    """The example's evaluation: hnn-core's Optimizer objective on the measured dipole."""
    return HNNEvaluator(network="neymotin_2020_model",  # hnn-core 0.6's name of jones_2009_model
                        network_kwargs={"mesh_shape": (3, 3)} if reduced else {},
                        set_params=set_params, tstop=float(target.t[-1]),  # hnn-core: dipole_experimental.times[-1]
                        n_trials=trials, smooth_window_len=window_length, scale_factor=scale_for(reduced, scale),
                        target=target, seed_from_run=False)


def read_target(argv):
    files = [a for a in argv[1:] if not a.startswith("--")]
    path = Path(files[0]) if files else MEASURED
    if not path.exists():
        sys.exit(f"measured dipole not found: {path}\n(hnn-core's example downloads it from https://raw.github"
                 f"usercontent.com/jonescompneurolab/hnn/master/data/MEG_detection_data/yes_trial_S1_ERP_all_avg.txt;"
                 f" pass its path as the first argument)")
    return read_dipole(path)


def main():
    target = read_target(sys.argv)
    evaluator = make_evaluator(target, reduced=REDUCED, trials=1 if FAST else n_trials)
    workers = max(1, world().Get_size() - 1)  # under mpiexec rank 0 coordinates, the others simulate
    strategy = (BayesOpt(n_calls=4, n_initial=2, batch=2) if FAST
                else BayesOpt(n_calls=max_iter, n_initial=10, batch=min(workers, 8), acq_func="EI"))
    study_path = ("hnn_evoked_fit_fast.h5" if FAST else "hnn_evoked_fit_reduced.h5" if REDUCED
                  else "hnn_evoked_fit.h5")  # re-running resumes (except in fast mode)
    res = Study(evaluator, ParameterSpace(bounds=constraints), strategy, path=study_path, seed=1,
                overwrite=FAST).run(progress=not FAST)
    if not is_root():
        return
    initial = evaluator(initial_params)  # the hand-tuned point, for comparison
    best = res.run(int(res.best(1, key="dipole_rmse").index[0]))
    print(f"initial (hand-tuned) {initial_params}: rmse {initial['dipole_rmse']:.4f} nAm")
    print("optimised " + ", ".join(f"{k}={best[k]:.4g}" for k in constraints) + f": rmse {best['dipole_rmse']:.4f} nAm")
    print(f"{len(res.df)} simulations stored in {study_path}, {int((res.df['status'] == 'ok').sum())} ok")
    if not FAST:
        from brainsweep.explorer.plots_models import plot_dipoles
        images = Path(__file__).resolve().parents[1] / "docs" / "images"
        images.mkdir(parents=True, exist_ok=True)
        network = "3x3 (reduced)" if REDUCED else "10x10"
        plot_dipoles(target.t, target.agg, best=best["dipole"], initial=initial["dipole"], t_sim=best["dipole_t"],
                     title=f"hnn-core {network} network, {len(res.df)} evaluations, {n_trials} trials each"
                     ).savefig(images / "hnn_dipoles.png", dpi=80)
        res.plot_convergence("dipole_rmse").savefig(images / "hnn_convergence.png", dpi=80)


if __name__ == "__main__":
    main()
