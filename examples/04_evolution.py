"""Evolutionary optimisation (deap): the unit circle, then a whole-brain FC fit.

    python examples/04_evolution.py              # BRAINSWEEP_FAST=1: tiny

1. Points (x, y) evolve towards the unit circle (fitness |x^2 + y^2 - 1|, minimised).
2. Hopf network on tvb68: K_gl and a evolve so that the FC of the simulated activity x matches
   the FC of a run with hidden parameters (fc_fit, maximised).
Writes evo_circle.h5, evo_fc.h5, 04_circle_population.png, 04_circle_fitness.png, 04_fc_fitness.png.
"""

import os

from brainsweep import evaluation as ev
from brainsweep.data import load_connectome
from brainsweep.explorer import Evolution, ParameterSpace, Study
from brainsweep.models import HopfModel
from brainsweep.mpi import is_root

FAST = os.environ.get("BRAINSWEEP_FAST") == "1"


def circle(params):
    return {"fitness": abs(params["x"] ** 2 + params["y"] ** 2 - 1)}


space = ParameterSpace(bounds={"x": (-5.0, 5.0), "y": (-5.0, 5.0)})
evo = Evolution(weights=(-1.0,), pop_init=40 if FAST else 100, pop=20 if FAST else 50, generations=6 if FAST else 12)
res = Study(circle, space, evo, path="evo_circle.h5", seed=1, overwrite=True).run(progress=False)
if is_root():
    res.plot_population("x", "y", generation=-1).savefig("04_circle_population.png", dpi=80)
    res.plot_fitness().savefig("04_circle_fitness.png", dpi=80)
    print("closest to the circle:\n", res.best(3)[["x", "y", "fitness", "generation"]].to_string())

# -- a network: recover hidden (K_gl, a) from an FC ------------------------------------------
HIDDEN = {"K_gl": 0.6, "a": -0.05}
RUN = dict(duration=2000.0 if FAST else 10_000.0, sampling_dt=5.0)
sc = load_connectome("tvb68", normalize="max")
model = HopfModel(Cmat=sc.Cmat, Dmat=sc.Dmat)
model.params.update(w=0.05, sigma_ou=0.02, signalV=100.0)
target = model.run_batch([HIDDEN], seeds=[999], **RUN)[0]
fc_target = ev.fc(target["x"][:, target["t"] >= 500.0])

space = ParameterSpace(bounds={"K_gl": (0.0, 2.0), "a": (-0.5, 0.2)})
evo = Evolution(weights=(1.0,), objectives=["fc_fit"], pop_init=8 if FAST else 40, pop=6 if FAST else 20,
                generations=2 if FAST else 8)
res = Study(model, space, evo, path="evo_fc.h5", seed=1, overwrite=True, run_kwargs=RUN,
            objective=ev.fit_fc(fc_target, key="x", transient_ms=500.0)).run(progress=not FAST)
if is_root():
    res.plot_fitness().savefig("04_fc_fitness.png", dpi=80)
    best = res.best(1)
    print(f"hidden {HIDDEN}; best K_gl={best['K_gl'].iloc[0]:.3f}, a={best['a'].iloc[0]:.3f}, "
          f"fc_fit={best['fc_fit'].iloc[0]:.3f}")
