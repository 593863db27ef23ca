"""Data: structural connectomes (TVB's ``tvb-data``, user folders, .mat/.npz) and readers for
empirical targets (FC matrices, time series, hnn dipole files).

```python
from brainsweep.data import load_connectome, read_dipole
sc = load_connectome("tvb68", normalize="max")   # sc.Cmat, sc.Dmat (mm), sc.labels, sc.centres
dip = read_dipole("yes_trial_S1_ERP_all_avg.txt")  # dip.t (ms), dip.agg (nAm)
```
"""

from .connectomes import TVB_CONNECTOMES, Connectome, load_connectome, normalize_cmat
from .readers import Dataset, DipoleData, load_dataset, read_dipole, read_matrix, read_timeseries

__all__ = ["load_connectome", "Connectome", "TVB_CONNECTOMES", "normalize_cmat", "load_dataset", "Dataset",
           "read_dipole", "DipoleData", "read_matrix", "read_timeseries"]
from .datasets import TVBO_DATASETS, NetworkDataset, load_dataset, network_catalog  # noqa: E402  (after readers)
__all__ += ["NetworkDataset", "TVBO_DATASETS", "network_catalog"]
