"""Plain-data encoding of strategy states and other stored documents: JSON, never pickle.

A study file is handed around and archived; reading it must never run code from it.
Everything brainsweep stores besides arrays (strategy states, evaluator references,
objective settings) is therefore encoded here as JSON text:

- ``None``, ``bool``, ``int``, ``float`` (``nan``/``inf`` included), ``str``;
- ``list`` and ``tuple`` (decoded as lists);
- ``dict`` with ``str`` keys;
- numpy arrays of booleans, integers, floats or unicode strings, and numpy scalars
  (decoded as Python scalars).

Anything else is refused with a ``TypeError`` naming where in the document it sits.
"""

from __future__ import annotations

import base64
import json

import numpy as np

__all__ = ["encode", "decode", "or_none"]

_ARRAY = "__ndarray__"
_KINDS = "biufU"


def encode(doc) -> bytes:
    """``doc`` as UTF-8 JSON bytes; ``TypeError`` for anything not plain data."""
    return json.dumps(_to_json(doc, "state"), allow_nan=True, separators=(",", ":")).encode()


def or_none(doc):
    """``doc`` if :func:`encode` accepts it, else None (e.g. a reference naming a value that is
    not plain data: it then cannot be recorded)."""
    try:
        encode(doc)
    except TypeError:
        return None
    return doc


def decode(data: bytes):
    """The document :func:`encode` wrote (arrays back as numpy arrays)."""
    if isinstance(data, np.ndarray):
        data = data.tobytes()
    return _from_json(json.loads(bytes(data).decode()))


def _to_json(obj, where: str):
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, float)):
        return obj
    if isinstance(obj, np.generic):
        if obj.dtype.kind in "biuf":
            return obj.item()
        if obj.dtype.kind == "U":
            return str(obj)
        raise TypeError(f"{where}: numpy scalar of dtype {obj.dtype} cannot be stored as plain data")
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in _KINDS:
            raise TypeError(f"{where}: array of dtype {obj.dtype} cannot be stored as plain data "
                            f"(booleans, integers, floats or unicode strings only)")
        arr = np.ascontiguousarray(obj)
        return {_ARRAY: {"dtype": arr.dtype.str, "shape": list(arr.shape),
                         "data": base64.b64encode(arr.tobytes()).decode("ascii")}}
    if isinstance(obj, (list, tuple)):
        return [_to_json(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: key {k!r} is not a string (plain data needs string keys)")
            if k == _ARRAY:
                raise TypeError(f"{where}: key {_ARRAY!r} is reserved")
            out[k] = _to_json(v, f"{where}[{k!r}]")
        return out
    raise TypeError(f"{where}: a {type(obj).__module__}.{type(obj).__qualname__} cannot be stored as "
                    f"plain data (None, bool, int, float, str, list, dict, numpy arrays only)")


def _from_json(obj):
    if isinstance(obj, list):
        return [_from_json(v) for v in obj]
    if isinstance(obj, dict):
        if set(obj) == {_ARRAY}:
            spec = obj[_ARRAY]
            dtype = np.dtype(spec["dtype"])
            if dtype.kind not in _KINDS:
                raise ValueError(f"stored array of dtype {dtype} is not plain data")
            raw = base64.b64decode(spec["data"])
            return np.frombuffer(raw, dtype=dtype).reshape(spec["shape"]).copy()
        return {k: _from_json(v) for k, v in obj.items()}
    return obj
