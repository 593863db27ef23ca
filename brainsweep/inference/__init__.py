"""Simulation-based inference on study files: amortised neural posterior estimation (sbi's NPE).

>>> from brainsweep.inference import SBI, features, posterior
>>> sbi = SBI(simulations=2000, features=features.psd_bands(key="v_pyr"), calibration=200)
>>> res = sbi.study(model, space, "sbi.h5", run_kwargs=dict(duration=4000)).run()
>>> samples = posterior(res).sample(10_000, x=x_obs)   # or res.posterior(), also load(path).posterior()

Importing this package gives ``Results`` (``brainsweep.explorer``) its SBI methods
(``posterior``, ``plot_posterior``, ``check_calibration``, ``plot_calibration``,
``predictive_check``) through ``Results.register_reader``: the explorer never imports it.

Needs the optional dependency ``sbi`` (``pip install brainsweep[sbi]``; PyTorch), imported only
when an estimator is trained or rebuilt.
"""

from ..explorer import Results
from . import features
from ._results import READER as _READER
from ..explorer.pernode import per_node_bounds
from ._posterior_io import Posterior
from ._results import calibration, plot_calibration_of as plot_calibration, plot_posterior, posterior, training_data
from .predictive import plot_predictive, predictive_check
from .sbc import calibrate
from .strategy import SBI

Results.register_reader("sbi", _READER)  # load(path).posterior(), .check_calibration(), ...

__all__ = ["SBI", "features", "posterior", "Posterior", "calibration", "calibrate", "plot_calibration",
           "plot_posterior", "training_data", "predictive_check", "plot_predictive", "per_node_bounds"]
