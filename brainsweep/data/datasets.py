"""Named empirical data sets: structural connectivity with its empirical BOLD FC.

``dk_average`` (tvbo ``database/networks/bids/dk_average``, a BIDS derivative made with
tvboptim): Desikan-Killiany parcellation, 84 regions; structural weights (normalised streamline
counts, arbitrary units), tract lengths (mm) and the empirical resting-state BOLD functional
connectivity (Pearson r, diagonal stored as 0). Source data set: doi:10.1038/s41467-023-38626-y.
Licence: CC-BY-4.0, as stated by the data set's ``dataset_description.json`` (read and checked at
load time); :attr:`NetworkDataset.attribution` gives the credit line to cite. It is read from the
installed ``tvbo`` package when there is one, else from the unchanged copy shipped in
``brainsweep/data/dk_average`` (with its ``LICENSE.md``), so it works without tvbo.

tvbo's other SC/FC network files (``database/networks/*.yaml``) state no licence for their data:
:func:`network_catalog` lists them (nodes, measures, source, licence stated) and
:func:`load_dataset` refuses them by name with that reason.

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
import yaml

from . import readers
from .connectomes import normalize_cmat, validate_matrices

__all__ = ["load_dataset", "NetworkDataset", "TVBO_DATASETS", "network_catalog", "SAME_DATA"]

#: name -> (folder under the tvbo database, BIDS atlas prefix)
TVBO_DATASETS = {"dk_average": ("networks/bids/dk_average", "atlas-DesikanKilliany")}
_SHIPPED = {"dk_average": Path(__file__).parent / "dk_average"}  # CC-BY-4.0 copies, with LICENSE.md
_OPEN_LICENCES = ("CC-BY-4.0", "CC0-1.0", "CC-BY-SA-4.0", "PDDL-1.0", "ODC-By-1.0")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: the network files are ~3 MB in all
_NETWORK_DESCRIPTORS = ("SC", "SCFC")  # tvbo network files holding connectivity matrices
#: tvbo network files whose matrices equal a loadable data set's to float32 precision (checked in the tests)
SAME_DATA = {"tpl-MNI152NLin2009cAsym_rec-avgMatrix_atlas-DesikanKilliany_desc-SCFC_relmat": "dk_average"}


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
    """A named data set (``"dk_average"``) as a :class:`NetworkDataset`, or any other path as
    :func:`brainsweep.data.readers.load_dataset` reads it. The named set is read from
    ``database`` (the tvbo package or database folder) if given, else from the installed tvbo
    package, else from the copy shipped with brainsweep. normalize: None, "max" or "rowsum"
    (weights only); drop_regions: indices removed from every matrix and the labels. A tvbo
    network file named here that states no open licence is refused (``ValueError``)."""
    name = str(name_or_path)
    if name not in TVBO_DATASETS:
        _refuse_unlicensed_network(name, database)
        return readers.load_dataset(name_or_path, normalize=normalize, drop_regions=drop_regions)
    from ..models.symbolic import tvbo_database

    path = _bids_folder(name, tvbo_database(database))
    return _read_bids(path, TVBO_DATASETS[name][1], name, normalize, drop_regions)


def network_catalog(database=None) -> list[dict]:
    """tvbo's SC/FC networks, one dict each: ``name`` (what :func:`load_dataset` takes), ``nodes``,
    ``measures`` (edge matrices: weight, length, fc, ...), ``data_in_package`` (whether the matrix
    file is in the installed package), ``licence`` (as stated by the files; "" if none),
    ``source`` (DOI, URL, reference or cohort the files give), ``loadable``, ``same_data_as`` (a
    loadable data set with the same matrices, or "") and ``path``. Without tvbo: dk_average only."""
    from ..models.symbolic import tvbo_database

    db = tvbo_database(database)
    rows = [_bids_row(name, db) for name in TVBO_DATASETS]
    if db is None:
        return rows
    for f in sorted((db / "networks").glob("*.yaml")):
        meta = yaml.load(f.read_text(), Loader=_YAML_LOADER) or {}
        if meta.get("descriptor") in _NETWORK_DESCRIPTORS:
            rows.append(_yaml_row(f, meta))
    return rows


def _bids_folder(name: str, db) -> Path:
    """The named BIDS data set's folder in the tvbo database ``db``, else the shipped copy."""
    folder = TVBO_DATASETS[name][0]
    return db / folder if db is not None and (db / folder).is_dir() else _SHIPPED[name]


def _bids_row(name: str, db) -> dict:
    path = _bids_folder(name, db)
    desc = json.loads((path / "dataset_description.json").read_text())
    source = (desc.get("SourceDatasets") or [{}])[0]
    measures = sorted(p.name.split("_meas-")[1].split("_")[0] for p in path.glob("*_meas-*.dense.tsv"))
    n = len(_labels(path, TVBO_DATASETS[name][1]))
    licence = str(desc.get("License", ""))
    return {"name": name, "nodes": n, "measures": measures, "data_in_package": True, "licence": licence,
            "source": f"doi:{source.get('DOI', '')}", "loadable": licence in _OPEN_LICENCES, "same_data_as": "",
            "path": str(path)}


def _yaml_row(f: Path, meta: dict) -> dict:
    licence = str(meta.get("license") or meta.get("licence") or (meta.get("provenance") or {}).get("license") or "")
    data_file = meta.get("data_file")
    prov, tract, bids = meta.get("provenance") or {}, meta.get("tractogram") or {}, meta.get("bids") or {}
    source = (prov.get("derived_from") or tract.get("reference") or
              (f"cohort {bids['cohort']}" if bids.get("cohort") else "") or meta.get("description", ""))
    return {"name": f.stem, "nodes": meta.get("number_of_nodes"),
            "measures": [e.get("label") for e in meta.get("edges") or []],
            "data_in_package": bool(data_file) and (f.parent / data_file).is_file(), "licence": licence,
            "source": " ".join(str(source).split()), "loadable": False, "same_data_as": SAME_DATA.get(f.stem, ""),
            "path": str(f)}


def _refuse_unlicensed_network(name: str, database) -> None:
    """A tvbo network file named by its stem: explain why it is not loaded (no path of that name)."""
    if Path(name).exists() or "/" in name or "\\" in name:
        return
    from ..models.symbolic import tvbo_database

    db = tvbo_database(database)
    stem = name[:-5] if name.endswith(".yaml") else name
    f = db / "networks" / f"{stem}.yaml" if db is not None else None
    if f is None or not f.is_file():
        return
    row = _yaml_row(f, yaml.load(f.read_text(), Loader=_YAML_LOADER) or {})
    loadable = ", ".join(n for n in TVBO_DATASETS)
    if row["licence"] in _OPEN_LICENCES:
        raise ValueError(f"{name}: tvbo network file {f} states licence {row['licence']}, but brainsweep reads "
                         f"only BIDS network folders ({loadable}); read its matrices and use load_connectome(path)")
    if stem in SAME_DATA:
        raise ValueError(f"{name}: tvbo network file {f} states no licence itself, but holds the matrices of "
                         f"{SAME_DATA[stem]!r} (to float32 precision): use load_dataset({SAME_DATA[stem]!r}), "
                         "which states its licence")
    stated = f"states licence {row['licence']!r}, not an open one" if row["licence"] else "states no licence"
    raise ValueError(f"{name}: tvbo network file {f} {stated} for its data (source: {row['source'] or 'not given'}; "
                     f"the source data's own terms apply); brainsweep loads only data sets whose files state an "
                     f"open licence ({', '.join(_OPEN_LICENCES)}): {loadable}. network_catalog() lists tvbo's networks")


def _matrix(folder: Path, prefix: str, measure: str) -> tuple[np.ndarray, dict]:
    tsv = folder / f"{prefix}_meas-{measure}_relmat.dense.tsv"
    meta = json.loads((folder / f"{prefix}_meas-{measure}_relmat.json").read_text())
    arr = np.loadtxt(tsv, delimiter="\t", ndmin=2)
    sizes = [ax.get("Size") for ax in meta.get("Axes", [])]
    if sizes and list(arr.shape) != sizes:
        raise ValueError(f"{tsv}: shape {arr.shape}, but its JSON sidecar says {sizes}")
    return arr, meta


def _labels(folder: Path, prefix: str) -> list[str]:
    """Region labels in matrix order, from the BIDS ``<prefix>_nodeindices.tsv``."""
    with open(folder / f"{prefix}_nodeindices.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [r["label"] for r in sorted(rows, key=lambda r: int(r["matrix_index"]))]


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
    labels = _labels(folder, prefix)
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
