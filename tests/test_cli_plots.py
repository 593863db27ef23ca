"""Model plots (brainsweep.explorer.plots_models): figures hold the data they were given."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from brainsweep import evaluation as ev
from brainsweep.explorer.plots_models import min_max, plot_bifurcation, plot_dipoles, plot_fc_matrices, \
    plot_timeseries


def test_min_max_of_a_sine_after_the_transient():
    t = np.arange(0, 2000.0, 0.5)
    x = np.vstack([np.sin(2 * np.pi * 0.01 * t), np.where(t < 100, 5.0, 0.25)])
    lo, hi = min_max(x, transient_samples=400)  # drop the first 200 ms
    np.testing.assert_allclose(lo, [-1.0, 0.25], atol=1e-12)
    np.testing.assert_allclose(hi, [1.0, 0.25], atol=1e-12)
    with pytest.raises(ValueError, match="removes every sample"):
        min_max(x, transient_samples=10_000)


def test_bifurcation_plot_sorts_and_draws_the_envelope():
    values, lows, highs = [0.3, 0.1, 0.2], [-1.0, 0.0, -0.5], [1.0, 0.0, 0.5]
    fig = plot_bifurcation(values, lows, highs, xlabel="mue_ext_mean", ylabel="rates_exc")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    upper, lower = ax.lines[0], ax.lines[1]
    np.testing.assert_array_equal(upper.get_xdata(), [0.1, 0.2, 0.3])
    np.testing.assert_array_equal(upper.get_ydata(), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(lower.get_ydata(), [0.0, -0.5, -1.0])
    amp = plot_bifurcation(values, lows, highs, amplitude=True).axes[0].lines[0]
    np.testing.assert_array_equal(amp.get_ydata(), [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="must be equal 1-D"):
        plot_bifurcation([1, 2], [0], [1, 2])


def test_fc_matrices_side_by_side_with_their_correlation():
    rng = np.random.default_rng(0)
    a, b = np.corrcoef(rng.normal(size=(6, 50))), np.corrcoef(rng.normal(size=(6, 50)))
    fig = plot_fc_matrices(a, b)
    assert len([ax for ax in fig.axes if ax.images]) == 2
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), a)
    assert f"{ev.matrix_correlation(a, b):.3f}" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="differ in shape"):
        plot_fc_matrices(a, b[:5, :5])
    with pytest.raises(ValueError, match="square"):
        plot_fc_matrices(a[:3])


def test_dipole_overlay_and_timeseries():
    t = np.arange(0, 200.0)
    fig = plot_dipoles(t, np.sin(t / 20), best=np.sin(t / 21), initial=np.zeros_like(t))
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels == ["target", "initial", "best fit"]
    with pytest.raises(ValueError, match="best fit"):
        plot_dipoles(t, t, best=t[:-1])
    long_t = np.arange(1, 20_001) * 10.0  # 200 s: shown in seconds
    fig = plot_timeseries(long_t, np.ones((3, long_t.size)), nodes=[0, 2])
    assert fig.axes[0].get_xlabel() == "time (s)" and len(fig.axes[0].lines) == 2
    assert fig.axes[0].lines[0].get_xdata()[-1] == pytest.approx(200.0)
    with pytest.raises(ValueError, match="samples but t has"):
        plot_timeseries(long_t[:5], np.ones((2, 4)))
