"""Memory of runs without sampling_dt (issue 14, item 6): long runs are sampled every 1 ms by
default instead of every integration step, short runs keep every step, and a run that would
need more than half the RAM warns (naming duration and sampling_dt) before allocating."""

import warnings

import numpy as np
import pytest

from brainsweep.models import HopfModel
from brainsweep.models import engine
from brainsweep.models.engine import DEFAULT_OUTPUT_BUDGET, MemoryUseWarning, default_sampling_dt


def _hopf(n, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.uniform(0, 1, (n, n))
    np.fill_diagonal(c, 0)
    m = HopfModel(Cmat=c / c.sum(axis=1).max())
    m.params.update(sigma_ou=0.05, K_gl=0.3)
    return m


def test_default_sampling_step_keeps_every_step_only_while_it_is_small():
    # 68 regions, x and y, float64: 60 s at 0.1 ms would be 653 MB per run -> 1 ms (65 MB)
    assert 60_000 / 0.1 * 68 * 2 * 8 > DEFAULT_OUTPUT_BUDGET
    assert default_sampling_dt(60_000.0, 0.1, 68, 2) == 1.0
    assert default_sampling_dt(2000.0, 0.1, 68, 2) == 0.1    # 21.8 MB: every step
    assert default_sampling_dt(60_000.0, 0.1, 68, 0) == 0.1  # nothing recorded (BOLD only)
    assert default_sampling_dt(600_000.0, 0.3, 68, 2) == pytest.approx(1.2)  # a multiple of dt
    assert default_sampling_dt(600_000.0, 2.0, 68, 2) == 2.0


def test_a_long_run_without_sampling_dt_is_the_1_ms_run():
    """100 nodes x 10 s at dt = 0.1 ms would record 160 MB: sampled every 1 ms, the same
    numbers as sampling_dt=1.0 given explicitly, in run and in run_batch alike."""
    m = _hopf(100)
    out = m.run(duration=10_000.0, seed=3)
    np.testing.assert_allclose(out["t"], np.arange(1, 10_001) * 1.0)
    explicit = m.run(duration=10_000.0, sampling_dt=1.0, seed=3)
    np.testing.assert_array_equal(out["x"], explicit["x"])
    batch = m.run_batch([{"K_gl": 0.3}, {"K_gl": 0.5}], seeds=[3, 4], duration=10_000.0)
    np.testing.assert_array_equal(batch[0]["x"], out["x"])
    assert batch[1]["x"].shape == (100, 10_000)
    short = m.run(duration=100.0, seed=3)  # 1.6 MB: every step, as before
    np.testing.assert_allclose(short["t"], np.arange(1, 1001) * 0.1)


def test_a_run_needing_more_than_half_the_ram_warns_before_allocating():
    m = _hopf(10)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MemoryUseWarning)  # stops the run before it allocates
        with pytest.raises(MemoryUseWarning) as info:
            m.run(duration=1e10, seed=1)  # 1e10 samples of 2 x 10 values: 1.6 TB
    msg = str(info.value)
    assert "duration = 1e+10 ms" in msg and "sampling_dt = 1 ms (not given: the default)" in msg
    assert "about 1600.0 GB" in msg and "of RAM" in msg


def test_the_warning_names_an_explicit_sampling_dt_and_the_run_goes_on(monkeypatch):
    m = _hopf(10)
    need = 2 * 10 * 500 * 8  # x and y of 10 nodes, 500 samples: the recorded outputs alone
    monkeypatch.setattr(engine, "_physical_memory", lambda: need)  # half of it is too much
    with pytest.warns(MemoryUseWarning, match=r"duration = 1000 ms sampled every sampling_dt = 2 ms \(dt"):
        out = m.run(duration=1000.0, sampling_dt=2.0, seed=1)
    assert out["x"].shape == (10, 500)
    monkeypatch.setattr(engine, "_physical_memory", lambda: 10**12)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MemoryUseWarning)
        m.run(duration=1000.0, sampling_dt=2.0, seed=1)
