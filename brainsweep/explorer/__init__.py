"""Explore and optimise parameters; every run stored in a pypet/HDF5 trajectory.

>>> from brainsweep.explorer import ParameterSpace, Study, GridSearch, load
"""

from .executors import PoolExecutor, SerialExecutor
from .results import Results, load
from .runner import run_seed
from .space import Dimension, ParameterSpace
from .storage import StudyFileError
from .strategy import Batch, GridSearch, Outcome, Strategy
from .study import Study
from .gradient import GradientDescent, gradient_history
from .plots_optim import plot_landscape, plot_loss

__all__ = ["ParameterSpace", "Dimension", "Study", "GridSearch", "Strategy", "Batch", "Outcome",
           "load", "Results", "StudyFileError", "SerialExecutor", "PoolExecutor", "run_seed",
           "GradientDescent", "gradient_history", "plot_loss", "plot_landscape"]

try:  # strategies built on deap / scikit-optimize
    from .evolution import Evolution  # noqa: F401
    __all__.append("Evolution")
except ImportError:  # pragma: no cover - during development only
    pass
try:
    from .bayes import BayesOpt  # noqa: F401
    __all__.append("BayesOpt")
except ImportError:  # pragma: no cover
    pass
try:  # CMA-ES on the cma package
    from .cmaes import CMAES  # noqa: F401
    __all__.append("CMAES")
except ImportError:  # pragma: no cover
    pass
