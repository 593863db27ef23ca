"""Evaluation: pure functions of numpy arrays, and objective adapters for studies.

```python
from brainsweep import evaluation as ev
fc_sim = ev.fc(bold)                                   # (n_nodes, n_samples) -> (n, n)
ev.matrix_correlation(fc_sim, fc_emp)                  # upper triangles, diagonal excluded
ev.ks_distance(ev.fcd(bold, window=30, step=5), fcd_emp)
f, S = ev.welch_psd(x, fs=1000 / dt_ms); ev.peak_frequency(x, fs, band=(2, 40))
ev.dipole_rmse(sim_t, sim_dipole, dip.t, dip.agg, smooth_window=30, scale=3000)
objective = ev.combine(ev.fit_fc(fc_emp), ev.fit_fcd(fcd_emp))   # objective(out) -> dict
```
Units: time in ms, frequencies and sampling rates in Hz, dipoles in nAm. No model or storage
imports here. Undefined correlations (constant signals) are reported with
:class:`ConstantSignalWarning` and replaced by documented finite values, never NaN.
"""

from ._checks import ConstantSignalWarning
from .connectivity import bandpass, fc, fcd, ks_distance, matrix_correlation, mean_fc_fit, n_windows, upper_triangle
from .dipole import (dipole_correlation_loss, dipole_rmse, jansen_rit_dipole, resample_dipole, scale_dipole,
                     smooth_dipole)
from .objectives import (Combine, FitDipole, FitFC, FitFCD, FitSpectrum, JansenRitDipole, TargetPeakFrequency,
                         combine, fit_dipole, fit_fc, fit_fcd, fit_spectrum, target_peak_frequency)
from .spectra import band_power, log_spectral_rmse, peak_frequency, spectral_loss, welch_psd

__all__ = [
    "ConstantSignalWarning",
    # connectivity
    "fc", "fcd", "matrix_correlation", "mean_fc_fit", "ks_distance", "bandpass", "upper_triangle", "n_windows",
    # spectra
    "welch_psd", "peak_frequency", "band_power", "spectral_loss", "log_spectral_rmse",
    # dipoles
    "smooth_dipole", "scale_dipole", "resample_dipole", "dipole_rmse", "dipole_correlation_loss",
    "jansen_rit_dipole",
    # objectives
    "fit_fc", "fit_fcd", "fit_spectrum", "target_peak_frequency", "fit_dipole", "combine",
    "FitFC", "FitFCD", "FitSpectrum", "TargetPeakFrequency", "FitDipole", "Combine", "JansenRitDipole",
]
