"""Neural mass models on one shared numba engine.

Public API: model classes, ``Param``/``State`` (to define models), ``DivergenceError``,
stimulus helpers, the BOLD helper and ``set_parallel`` (see engine.py for how a model is
integrated). The built-in models except ALN are YAML files in ``definitions/`` compiled by
``brainsweep.models.symbolic``; a new model is such a file, run with ``from_yaml(path)``.
"""

from .aln import ALNModel
from .base import Model
from .bold import BoldResult, simulate_bold
from .engine import DivergenceError, set_parallel
from .fitzhugh_nagumo import FitzHughNagumoModel
from .hopf import HopfModel
from .jansen_rit import JansenRitModel
from .kuramoto import KuramotoModel
from .params import Param, ParameterSet, State
from .stimulus import OUStimulus, PulseTrain, Sinusoid, StepStimulus
from .symbolic import YamlModelError, catalog, from_yaml
from .thalamic import ThalamicMassModel
from .wilson_cowan import WilsonCowanModel
from .wong_wang import WongWangModel

__all__ = [
    "Model", "Param", "State", "ParameterSet", "DivergenceError", "BoldResult", "simulate_bold", "set_parallel",
    "HopfModel", "FitzHughNagumoModel", "KuramotoModel",
    "WilsonCowanModel", "WongWangModel", "ThalamicMassModel", "JansenRitModel", "ALNModel",
    "StepStimulus", "PulseTrain", "Sinusoid", "OUStimulus",
]
__all__ += ["from_yaml", "catalog", "YamlModelError"]
