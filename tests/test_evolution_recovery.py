"""Parameter recovery on a real model: a Hopf node's spectrum as the target.

A noise-free Stuart-Landau oscillator settles on a limit cycle of radius sqrt(a)
rotating at w rad/ms, so x has its spectral peak at w / 2 pi kHz and variance a / 2.
The target spectrum is simulated with (a, w) = (0.3, 0.3); each strategy must find
parameters whose spectrum has the same peak frequency and power, i.e. recover
(a, w) within the stated tolerances, through Study with the model engine.
"""

import warnings

import numpy as np
import pytest

from brainsweep.evaluation import spectra
from brainsweep.explorer import CMAES, BayesOpt, Evolution, ParameterSpace, Study
from brainsweep.models import HopfModel

A_TRUE, W_TRUE = 0.3, 0.3
FS = 1000.0                      # Hz, sampling_dt = 1 ms
RUN = dict(duration=4000.0, sampling_dt=1.0)
SETTLE = 1000                    # samples (ms) dropped before the spectrum


def _features(x):
    x = x[SETTLE:]
    return (spectra.peak_frequency(x, FS, band=(1.0, 200.0)),
            spectra.band_power(x, FS, band=(1.0, 200.0)))


@pytest.fixture(scope="module")
def target():
    model = HopfModel(params={"a": A_TRUE, "w": W_TRUE})
    model.run(seed=0, **RUN)
    f0, p0 = _features(model["x"][0])
    # the target is what the analytic limit cycle says it is
    assert abs(f0 - W_TRUE / (2 * np.pi) * 1e3) <= 0.5          # one Welch bin (0.5 Hz)
    assert p0 == pytest.approx(A_TRUE / 2, rel=0.02)
    return f0, p0


def _spectral_loss(target):
    f0, p0 = target

    def spectrum_mismatch(out):
        f, p = _features(out["x"][0])
        return {"loss": abs(f - f0) / f0 + abs(np.log(p / p0))}
    return spectrum_mismatch


@pytest.mark.parametrize("strategy", [
    Evolution(pop_init=40, pop=20, generations=15),
    BayesOpt(n_calls=30, n_initial=10, batch=5, acq_func="EI", acq_optimizer="sampling",
             acq_optimizer_kwargs={"n_points": 1000}),
    CMAES(sigma0=0.25, max_evals=150),
], ids=["evolution", "bayesopt", "cmaes"])
def test_hopf_parameters_are_recovered_from_the_spectrum(tmp_path, target, strategy):
    space = ParameterSpace(bounds={"a": (0.05, 1.0), "w": (0.1, 0.6)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        res = Study(HopfModel(), space, strategy, path=tmp_path / "hopf.h5", seed=0,
                    objective=_spectral_loss(target), run_kwargs=RUN).run(progress=False)
    best = res.best(1).iloc[0]
    assert best["a"] == pytest.approx(A_TRUE, rel=0.05)
    assert best["w"] == pytest.approx(W_TRUE, rel=0.02)
