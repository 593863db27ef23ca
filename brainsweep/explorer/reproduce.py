"""Re-run a stored run and compare it with what the file holds, value by value."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .results import load
from .storage import StudyFile, StudyFileError, load_evaluator

__all__ = ["reproduce"]


def reproduce(path, idx: int) -> dict:
    """Evaluate run ``idx`` of the study at ``path`` again (same parameters, same seed)
    and compare every stored scalar and array with the new values.

    Returns ``{"idx", "status", "match", "compared", "differences"}``; ``match`` is True when
    every value is bit-identical. Needs the evaluator the study pickled into the file
    (a model with its objective, or a module-level function importable here).
    """
    res = load(path)
    idx = int(idx)
    if idx not in res.df.index:
        raise KeyError(f"run {idx} is not stored in {path}")
    with StudyFile.open(str(path), "r") as f:
        try:
            evaluator = load_evaluator(f.h5)
        except Exception as err:  # noqa: BLE001
            raise StudyFileError(f"{path}: the study's evaluator cannot be loaded here ({err}); "
                                 f"is the module that defines it importable?") from err
        params = f.registered_points(idx, 1)[0]
    if evaluator is None:
        raise StudyFileError(f"{path}: the study's evaluate function could not be pickled when the study "
                             f"was created (a lambda or closure?), so it cannot be re-run")
    seed = int(res.df.loc[idx, "seed"])
    new = evaluator.evaluate_chunk([(idx, params, seed)])[0]
    stored = res.run(idx)
    differences, compared = [], []
    if new.status != res.df.loc[idx, "status"]:
        differences.append(f"status: stored {res.df.loc[idx, 'status']!r}, now {new.status!r} ({new.message})")
    fresh = {**new.scalars, **new.values}
    for key, value in fresh.items():
        compared.append(key)
        if key not in stored:
            differences.append(f"{key}: not stored")
        elif not _same(stored[key], value):
            differences.append(f"{key}: differs ({_describe(stored[key], value)})")
    return {"idx": idx, "status": new.status, "match": not differences, "compared": compared,
            "differences": differences, "params": params, "seed": seed}


def _same(a, b) -> bool:
    if isinstance(b, dict):
        return isinstance(a, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in b)
    if isinstance(b, pd.DataFrame):
        return isinstance(a, pd.DataFrame) and a.shape == b.shape and a.equals(b)
    if isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and a.shape == b.shape and a.dtype == b.dtype and \
            np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(b, float) and np.isnan(b):
        return isinstance(a, float) and np.isnan(a)
    return a == b


def _describe(a, b) -> str:
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape and a.dtype.kind in "fi":
        return f"max |difference| {np.max(np.abs(a.astype(float) - b.astype(float))):.3g}"
    return f"stored {a!r:.60}, now {b!r:.60}"
