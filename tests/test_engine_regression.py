"""Stored noisy runs reproduce bit for bit: the engine's numerics are pinned by a fixture.

``tests/data/engine_regression.npz`` holds runs made with an earlier engine (commit cd121d6; see
``tests/data/engine_make_regression.py``): batched and single, Euler and Heun, OU and white noise,
a stimulus, BOLD. A study stored then must give the same numbers under ``brainsweep reproduce``
now, so any change of arithmetic order, random stream or scheme shows up here. Exactness needs
the same floating-point library results as where the fixture was made (x86-64 Linux, glibc).
"""

import importlib.util
import platform
import sys
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).with_name("data")

pytestmark = pytest.mark.skipif(
    not (sys.platform == "linux" and platform.machine() == "x86_64"),
    reason="the fixture pins x86-64 Linux libm results bit for bit",
)


def _maker():
    spec = importlib.util.spec_from_file_location("engine_make_regression", DATA / "engine_make_regression.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("model", ["hopf", "fhn", "wc", "ww"])
def test_noisy_runs_reproduce_the_stored_numbers_bit_for_bit(model):
    stored = np.load(DATA / "engine_regression.npz")
    want = {k.split("/", 1)[1]: stored[k] for k in stored.files if k.startswith(model + "/")}
    got = {k: np.asarray(v) for k, v in _maker().cases()[model]().items()}
    assert sorted(got) == sorted(want)
    for key, value in want.items():
        assert np.all(np.isfinite(value)) and np.ptp(value) > 0, key  # a real, moving signal
        differ = np.flatnonzero(got[key] != value)
        assert differ.size == 0, f"{model} {key}: {differ.size} of {value.size} values differ, first at {differ[0]}"
