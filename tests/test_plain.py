"""Plain-data encoding of stored documents: round trips, and refusal of anything that is not data."""

import math
import os

import numpy as np
import pytest

from brainsweep.explorer import _plain


def test_round_trip_keeps_values_dtypes_and_shapes():
    doc = {"n": 3, "x": 0.1, "nan": float("nan"), "inf": -math.inf, "ok": True, "none": None,
           "s": "K_gl", "list": [1, [2.5, "a"]], "tuple": (1, 2),
           "f64": np.linspace(0, 1, 7).reshape(7, 1), "u32": np.arange(5, dtype=np.uint32),
           "bools": np.array([True, False]), "names": np.array(["a", "bc"]), "scalar": np.float32(1.5),
           "empty": np.zeros((0, 3))}
    back = _plain.decode(_plain.encode(doc))
    assert back["n"] == 3 and back["x"] == 0.1 and math.isnan(back["nan"]) and back["inf"] == -math.inf
    assert back["ok"] is True and back["none"] is None and back["s"] == "K_gl"
    assert back["list"] == [1, [2.5, "a"]] and back["tuple"] == [1, 2]
    for key in ("f64", "u32", "bools", "names", "empty"):
        assert back[key].dtype == doc[key].dtype and back[key].shape == doc[key].shape
        np.testing.assert_array_equal(back[key], doc[key])
    assert back["scalar"] == 1.5 and type(back["scalar"]) is float
    back["f64"][0, 0] = 9.0  # decoded arrays are writable copies


class _Marker:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("bad, where", [
    ({"a": _Marker()}, "state['a']"),
    ({"a": [1, {"b": object()}]}, "state['a'][1]['b']"),
    ({1: "x"}, "key 1"),
    ({"a": np.array([object()], dtype=object)}, "dtype object"),
    ({"a": np.array([1 + 2j])}, "complex128"),
    ({"__ndarray__": 1}, "reserved"),
])
def test_refuses_what_is_not_plain_data_naming_where(bad, where):
    with pytest.raises(TypeError, match="cannot be stored|not a string|reserved") as err:
        _plain.encode(bad)
    assert where in str(err.value)


def test_decode_refuses_an_object_array_spec():
    crafted = b'{"a": {"__ndarray__": {"dtype": "|O", "shape": [1], "data": "AAAAAAAAAAA="}}}'
    with pytest.raises(ValueError, match="not plain data"):
        _plain.decode(crafted)


def test_or_none_keeps_plain_documents_and_drops_others():
    doc = {"kind": "function", "fixed": {"a": np.arange(3)}}
    assert _plain.or_none(doc) is doc
    assert _plain.or_none({"fixed": {"f": open}}) is None
