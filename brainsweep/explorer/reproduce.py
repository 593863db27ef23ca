"""Re-run a stored run and compare it with what the file holds, value by value."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._evaluator_ref import load_evaluator
from .results import load
from .storage import StudyFile

__all__ = ["reproduce"]


def reproduce(path, idx: int, trust: bool = False) -> dict:
    """Evaluate run ``idx`` of the study at ``path`` again (same parameters, same seed)
    and compare every stored scalar and array with the new values.

    Returns ``{"idx", "status", "match", "compared", "differences", "params", "seed",
    "evaluator"}``; ``match`` is True when every value is bit-identical. The evaluator is
    rebuilt from the plain reference the study recorded (a brainsweep model with its
    objective, or a function importable here by name, whose code must hash as it did).
    A study that recorded only a pickle of its evaluator needs ``trust=True``, because
    unpickling runs whatever code the file's author put in it.
    """
    res = load(path)
    idx = int(idx)
    if idx not in res.df.index:
        raise KeyError(f"run {idx} is not stored in {path}")
    with StudyFile.open(str(path), "r") as f:
        evaluator = load_evaluator(f, trust=trust)
        params = f.registered_points(idx, 1)[0]
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
            "differences": differences, "params": params, "seed": seed, "evaluator": evaluator.identity}


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
