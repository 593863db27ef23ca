"""Make tests/data/definitions_regression.npz: runs of the models brainsweep now defines as YAML
(``brainsweep/models/definitions``), made with their hand-written Python/numba classes of commit
a397734, so ``tests/test_model_definitions.py`` shows that the compiled definitions give the same
numbers bit for bit (Jansen-Rit, Kuramoto and the thalamic model are not in
``engine_regression.npz``; Wong-Wang and Wilson-Cowan are added with Heun).

Made with: the seven model files of a397734 (hopf.py ... thalamic.py) copied to /tmp/bs_old/bs_old/
with ``from .base``/``from .params`` changed to ``from brainsweep.models.base``/``...params``, then
``python tests/data/definitions_make_regression.py --old /tmp/bs_old``. (Equivalently: a git
worktree of a397734 on PYTHONPATH and no ``--old``.)
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path

import numpy as np

MODULES = {"JansenRitModel": "jansen_rit", "KuramotoModel": "kuramoto", "ThalamicMassModel": "thalamic",
           "WongWangModel": "wong_wang", "WilsonCowanModel": "wilson_cowan"}


def _engine_maker():
    """engine_make_regression.py next to this file (its random delayed network)."""
    spec = importlib.util.spec_from_file_location("engine_make_regression", Path(__file__).with_name(
        "engine_make_regression.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _named(prefix, outputs):
    return {f"{prefix}_{k}": np.asarray(v) for k, v in outputs.items()}


def cases(package: str = "brainsweep.models"):
    """{model: callable returning its dict of arrays}; classes from ``package`` (its modules
    jansen_rit, kuramoto, ... as in brainsweep.models)."""
    from brainsweep.models import PulseTrain, Sinusoid

    def cls(name):
        return getattr(importlib.import_module(f"{package}.{MODULES[name]}"), name)

    c, d = _engine_maker().network(n=8, seed=11)
    run = dict(duration=200.0, sampling_dt=4.0)

    def jansen_rit():
        m = cls("JansenRitModel")(Cmat=c, Dmat=d)
        m.params.update(sigma_ou=0.002, coupling_a=2.0)
        out = {}
        for r, o in enumerate(m.run_batch([{"mu": v} for v in (0.1, 0.15, 0.2)], seeds=[3, 4, 5], bold=True, tr=50.0,
                                          **run)):
            out.update(_named(f"batch{r}", o))
        stim = {"p": PulseTrain(amplitude=0.05, period=100.0, width=5.0)}
        out.update(_named("euler", m.run(seed=9, integrator="euler", stimulus=stim, **run)))
        return out

    def kuramoto():
        m = cls("KuramotoModel")(Cmat=c, Dmat=d)
        m.params.update(sigma_ou=0.05, sigma_white=0.02, omega=np.linspace(0.05, 0.1, len(c)))
        out = _named("euler", m.run(seed=2, **run))
        out.update(_named("heun", m.run(seed=2, integrator="heun", **run)))
        return out

    def thalamic():
        m = cls("ThalamicMassModel")()
        stim = {"s_et": Sinusoid(amplitude=0.5, frequency=8.0)}
        return _named("euler", m.run(seed=1, duration=300.0, sampling_dt=2.0, stimulus=stim))

    def wong_wang():
        m = cls("WongWangModel")(Cmat=c, Dmat=d)
        m.params.update(sigma_ou=0.005, sigma_white=0.001)
        return _named("heun", m.run(seed=4, integrator="heun", bold=True, tr=50.0, **run))

    def wilson_cowan():
        m = cls("WilsonCowanModel")(Cmat=c, Dmat=d)
        m.params.update(sigma_ou=0.02, exc_ext=0.8)
        return _named("heun", m.run(seed=6, integrator="heun", **run))

    return {"jansen_rit": jansen_rit, "kuramoto": kuramoto, "thalamic": thalamic, "wong_wang": wong_wang,
            "wilson_cowan": wilson_cowan}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--old", help="folder holding the package bs_old with the hand-written model files")
    ns = ap.parse_args()
    package = "brainsweep.models"
    if ns.old:
        sys.path.insert(0, ns.old)
        package = "bs_old"
    arrays = {f"{name}/{k}": v for name, make in cases(package).items() for k, v in make().items()}
    np.savez_compressed(Path(__file__).with_name("definitions_regression.npz"), **arrays)
    print(f"{len(arrays)} arrays written")
