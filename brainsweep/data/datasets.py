"""Named empirical data sets read in place from the installed ``tvbo`` package (never copied).

``dk_average`` (tvbo ``database/networks/bids/dk_average``, a BIDS derivative made with
tvboptim): Desikan-Killiany parcellation, 84 regions; structural weights (normalised streamline
counts, arbitrary units), tract lengths (mm) and the empirical resting-state BOLD functional
connectivity (Pearson r, diagonal stored as 0). Source data set: doi:10.1038/s41467-023-38626-y.
Licence: CC-BY-4.0, as stated by the data set's ``dataset_description.json`` (read and checked at
load time); :attr:`NetworkDataset.attribution` gives the credit line to cite.

tvbo's other network files state no licence in the package and are not offered here.

```python
from brainsweep.data import load_dataset
ds = load_dataset("dk_average", normalize="max")   # ds.Cmat, ds.Dmat (mm), ds.labels, ds.FC
print(ds.attribution)
```
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import readers
from .connectomes import normalize_cmat, validate_matrices

__all__ = ["load_dataset", "NetworkDataset", "TVBO_DATASETS"]

#: name -> (folder under the tvbo database, BIDS atlas prefix)
TVBO_DATASETS = {"dk_average": ("networks/bids/dk_average", "atlas-DesikanKilliany")}
_OPEN_LICENCES = ("CC-BY-4.0", "CC0-1.0", "CC-BY-SA-4.0")


@dataclass
class NetworkDataset(readers.Dataset):
    """An empirical network: ``Cmat`` (weights), ``Dmat`` (tract lengths, mm), ``labels`` (one per
    region), ``FC`` (empirical BOLD FC, also ``FCs[0]``), and where it comes from: ``doi``,
    ``url``, ``licence`` (SPDX id as stated by the data set), ``attribution`` and ``path``."""

    labels: list = field(default_factory=list)
    doi: str = ""
    url: str = ""
    licence: str = ""
    attribution: str = ""
    path: str = ""
    units: dict = field(default_factory=dict)

    @property
    def FC(self) -> np.ndarray:
        return self.FCs[0]

    @property
    def n_regions(self) -> int:
        return self.Cmat.shape[0]


def load_dataset(name_or_path, normalize=None, drop_regions=None, *, database=None):
    """A named data set (``"dk_average"``, from the installed tvbo package or ``database``: the
    tvbo package or database folder) as a :class:`NetworkDataset`, or any other path as
    :func:`brainsweep.data.readers.load_dataset` reads it. normalize: None, "max" or "rowsum"
    (weights only); drop_regions: indices removed from every matrix and the labels."""
    if str(name_or_path) not in TVBO_DATASETS:
        return readers.load_dataset(name_or_path, normalize=normalize, drop_regions=drop_regions)
    from ..models.symbolic import tvbo_database

    db = tvbo_database(database)
    if db is None:
        raise FileNotFoundError(f"data set {name_or_path!r} is read from the tvbo package, which was not found: "
                                "pip install 'brainsweep[tvbo]' (or pip install --no-deps tvbo==0.5.3), or set "
                                "$BRAINSWEEP_TVBO_PATH")
    folder, prefix = TVBO_DATASETS[str(name_or_path)]
    return _read_bids(db / folder, prefix, str(name_or_path), normalize, drop_regions)


def _matrix(folder: Path, prefix: str, measure: str) -> tuple[np.ndarray, dict]:
    tsv = folder / f"{prefix}_meas-{measure}_relmat.dense.tsv"
    meta = json.loads((folder / f"{prefix}_meas-{measure}_relmat.json").read_text())
    arr = np.loadtxt(tsv, delimiter="\t", ndmin=2)
    sizes = [ax.get("Size") for ax in meta.get("Axes", [])]
    if sizes and list(arr.shape) != sizes:
        raise ValueError(f"{tsv}: shape {arr.shape}, but its JSON sidecar says {sizes}")
    return arr, meta


def _read_bids(folder: Path, prefix: str, name: str, normalize, drop_regions) -> NetworkDataset:
    desc = json.loads((folder / "dataset_description.json").read_text())
    licence = str(desc.get("License", ""))
    if licence not in _OPEN_LICENCES:
        raise ValueError(f"{folder}: licence {licence!r} is not one that allows redistribution/use here")
    W, w_meta = _matrix(folder, prefix, "streamlineCount")
    L, l_meta = _matrix(folder, prefix, "tractLength")
    F, f_meta = _matrix(folder, prefix, "BoldCorrelation")
    if l_meta.get("MeasureUnits") != "mm":
        raise ValueError(f"{folder}: tract lengths in {l_meta.get('MeasureUnits')!r}, expected 'mm'")
    with open(folder / f"{prefix}_nodeindices.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    labels = [r["label"] for r in sorted(rows, key=lambda r: int(r["matrix_index"]))]
    if len(labels) != W.shape[0]:
        raise ValueError(f"{folder}: {len(labels)} labels for {W.shape[0]} regions")
    if drop_regions is not None:
        keep = np.setdiff1d(np.arange(W.shape[0]), np.asarray(drop_regions, dtype=int))
        W, L, F = (m[np.ix_(keep, keep)] for m in (W, L, F))
        labels = [labels[k] for k in keep]
    W, L = validate_matrices(W, L, str(folder))
    if normalize is not None:
        W = normalize_cmat(W, normalize)
    source = (desc.get("SourceDatasets") or [{}])[0]
    doi, url = str(source.get("DOI", "")), str(source.get("URL", ""))
    attribution = (f"{desc.get('Name', name)} ({licence}), from doi:{doi} ({url}); as distributed in tvbo's "
                   f"database, generated by {', '.join(g.get('Name', '') for g in desc.get('GeneratedBy', []))}")
    return NetworkDataset(Cmat=W, Dmat=L, FCs=[F], BOLDs=[], subjects=["average"], name=name, labels=labels,
                          doi=doi, url=url, licence=licence, attribution=attribution, path=str(folder),
                          units={"Cmat": w_meta.get("MeasureUnits", ""), "Dmat": "mm",
                                 "FC": f_meta.get("MeasureUnits", "")})  # fmt: skip
