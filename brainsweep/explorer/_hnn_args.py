"""Checked arguments of :class:`~brainsweep.explorer.hnn_eval.HNNEvaluator`: hnn-core's import,
the network builder, the target dipole, the objective names and the numbers; each bad value
raises ``ValueError``/``TypeError`` naming the argument and what was expected."""

from __future__ import annotations

import inspect
import math
import os

import numpy as np

from . import _plain

INSTALL_HINT = "pip install brainsweep[hnn]  (installs hnn-core and NEURON wheels)"
#: objective name -> score name; hnn-core's ``obj_fun`` names and short aliases
_OBJECTIVES = {"rmse": "dipole_rmse", "dipole_rmse": "dipole_rmse",
               "corr": "dipole_corr", "dipole_corr": "dipole_corr",
               "psd_band": "maximize_psd", "maximize_psd": "maximize_psd"}


def _import_hnn():
    """hnn_core (and NEURON behind it), or an ImportError naming the extra to install."""
    try:
        import neuron  # noqa: F401 - hnn-core imports it too; fail here with the install hint
        import hnn_core
    except ImportError as err:
        raise ImportError(f"HNNEvaluator needs hnn-core and NEURON, which are not installed here "
                          f"({err}); install them with: {INSTALL_HINT}") from err
    try:  # the functions hnn-core's Optimizer scores with (private: checked once, here)
        from hnn_core.dipole import _anticorr, _rmse, average_dipoles  # noqa: F401
        from hnn_core.optimization.objective_functions import _get_relative_power  # noqa: F401
    except ImportError as err:
        raise ImportError(f"hnn-core {hnn_core.__version__} lacks the scoring functions of hnn-core 0.6's "
                          f"Optimizer ({err}); install a matching version: {INSTALL_HINT}") from err
    return hnn_core



def _network_function(network):
    """The function building the network: a model of ``hnn_core`` by name
    (``jones_2009_model``, ``law_2021_model``, ``calcium_model``, ``neymotin_2020_model``) or
    ``"module:qualname"`` of the user's own builder."""
    from ._evaluator_ref import _import_target
    hnn_core = _import_hnn()
    if not isinstance(network, str) or not network:
        raise TypeError(f"network: expected the name of an hnn-core network model (e.g. 'jones_2009_model') "
                        f"or 'module:function', got {network!r}")
    if ":" in network:
        try:
            fn = _import_target(network)
        except Exception as err:  # noqa: BLE001 - say what could not be imported
            raise ValueError(f"network: cannot import {network!r} ({type(err).__name__}: {err})") from err
    else:
        models = sorted(n for n in dir(hnn_core.network_models) if n.endswith("_model")
                        and callable(getattr(hnn_core.network_models, n)))
        if network not in models:
            raise ValueError(f"network: hnn-core {hnn_core.__version__} has no network model {network!r} "
                             f"(its models: {', '.join(models)}; or give 'module:function')")
        fn = getattr(hnn_core.network_models, network)
    if not callable(fn):
        raise TypeError(f"network: {network!r} is a {type(fn).__name__}, not a function building a Network")
    return fn


def _as_call_kwargs(kwargs: dict) -> dict:
    """Lists become tuples: YAML and stored references have no tuples, hnn-core wants
    ``mesh_shape=(10, 10)``."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}


def _plain_kwargs(kwargs) -> dict:
    if kwargs is None:
        return {}
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise TypeError(f"network_kwargs: expected a mapping of keyword arguments, got {kwargs!r}")
    try:
        return _plain.decode(_plain.encode(dict(kwargs)))
    except TypeError as err:
        raise TypeError(f"network_kwargs: values must be plain data (numbers, strings, lists, "
                        f"mappings) so that the study can record them: {err}") from err


def _target_arrays(target):
    """``(t, agg)`` in ms and nAm from an hnn-core Dipole, a brainsweep DipoleData, a
    ``(t, data)`` pair or a path to hnn's text format; None for None."""
    if target is None:
        return None
    if isinstance(target, (str, os.PathLike)):
        from ..data import read_dipole
        d = read_dipole(os.fspath(target))
        t, agg = d.t, d.agg
    elif hasattr(target, "times") and isinstance(getattr(target, "data", None), dict):  # hnn_core.Dipole
        if "agg" not in target.data:
            raise ValueError(f"target: the Dipole has no 'agg' component (it has {sorted(target.data)})")
        t, agg = target.times, target.data["agg"]
    elif hasattr(target, "t") and hasattr(target, "agg"):  # brainsweep.data.DipoleData
        t, agg = target.t, target.agg
    elif isinstance(target, (tuple, list)) and len(target) == 2:
        t, agg = target
    else:
        raise TypeError(f"target: expected an hnn_core Dipole, a brainsweep DipoleData, a (t_ms, dipole) "
                        f"pair or a path to a dipole text file, got {type(target).__name__}")
    t = np.array(t, dtype=float)
    agg = np.array(agg, dtype=float)
    if agg.ndim == 2 and agg.shape[1] >= 1 and agg.shape[0] == t.size:
        agg = agg[:, 0]  # (t, data) with hnn's columns agg[, L2, L5]
    if t.ndim != 1 or agg.shape != t.shape or t.size < 2:
        raise ValueError(f"target: expected 1-D times and dipole of the same length >= 2, got shapes "
                         f"{t.shape} and {agg.shape}")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(agg))) or np.any(np.diff(t) <= 0):
        raise ValueError("target: times (ms) must be finite and strictly increasing, the dipole finite")
    return t, agg


def _number(name, v, *, positive=True, allow_none=False):
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
        raise ValueError(f"{name}: expected a finite number, got {v!r}")
    if positive and v <= 0:
        raise ValueError(f"{name}: expected a number > 0, got {v!r}")
    return float(v)


def _objective_names(objective) -> tuple:
    names = (objective,) if isinstance(objective, str) else tuple(objective)
    if not names:
        raise ValueError("objective: name at least one of 'rmse', 'corr', 'psd_band'")
    bad = [n for n in names if n not in _OBJECTIVES]
    if bad:
        raise ValueError(f"objective: unknown {bad} (expected 'rmse' (dipole_rmse), 'corr' (dipole_corr) "
                         f"or 'psd_band' (maximize_psd), or several of them)")
    return tuple(dict.fromkeys(_OBJECTIVES[n] for n in names))


def _f_bands(f_bands, relative_bandpower):
    if f_bands is None:
        raise ValueError("f_bands: the 'psd_band' objective needs frequency bands [(lo_hz, hi_hz), ...]")
    bands = [tuple(float(x) for x in b) for b in f_bands]
    if any(len(b) != 2 or not (0 <= b[0] < b[1]) for b in bands):
        raise ValueError(f"f_bands: expected (lo_hz, hi_hz) pairs with 0 <= lo < hi, got {f_bands!r}")
    if relative_bandpower is None:
        raise ValueError("relative_bandpower: the 'psd_band' objective needs a weight per band (or one float)")
    if isinstance(relative_bandpower, (int, float)):
        weights = float(relative_bandpower)
    else:
        weights = [float(w) for w in relative_bandpower]
        if len(weights) != len(bands):
            raise ValueError(f"relative_bandpower: {len(weights)} weights for {len(bands)} bands")
    return [list(b) for b in bands], weights


def _set_params_name(fn) -> str:
    """``module:qualname`` of ``set_params``, as the evaluator's identity names it."""
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', type(fn).__qualname__)}"


def _wants_seed(fn) -> bool:
    """Whether ``set_params`` takes the run seed (a ``seed`` or ``**kwargs`` parameter)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    return "seed" in sig.parameters or any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
