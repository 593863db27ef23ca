"""Merge study files of one parameter space and one evaluator (e.g. separate cluster jobs)
into one study file: pypet's ``f_merge`` for brainsweep studies.

    from brainsweep.explorer.merge import merge
    merge(["job0.h5", "job1.h5"], "all.h5")

The runs of each input are copied in input order and renumbered from 0 (the input's runs
in their index order); each keeps its parameters, status, seed, runtime, worker, message,
scores (with their kinds), strategy tags and stored values (arrays, strings, frames,
dicts, a failed run's traceback). Inputs must have the same parameter space and the same
evaluator identity (its code included); their strategies may differ (a grid split over
jobs, evolutions with other seeds): the merged file's strategy is the inputs' one if they
all share it, else ``{"name": "merged", "parts": [...]}``, keeping objectives and weights
the inputs share. The merged file is read with :func:`load`; it is not resumable (no
strategy state is carried over). Nothing is unpickled: the evaluator's plain reference is
copied as bytes from the first input; its pickle (if any) is not copied.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ._leaves import read_rows, read_value, rows_leaf, rows_lengths
from .results import load
from .space import ParameterSpace
from .storage import TAG_NAMES, RunRecord, StudyFile, StudyFileError, bookkeeping, run_group

__all__ = ["merge"]

_CHUNK = 500  # runs read and written at once
# not copied: the merged file's own documents, and the evaluator pickle (a file created by
# this process is trusted by reproduce, so a copied pickle would bypass --trust)
_OWN_NODES = ("fingerprint", "provenance", "batches", "states", "states_plain", "attachments", "evaluator")


def merge(paths, out, overwrite: bool = False) -> str:
    """Merge the study files ``paths`` into a new study file ``out``; return ``out``.

    ``StudyFileError`` naming the inputs if they are not studies of one parameter space
    and one evaluator, if fewer than two are given, or if ``out`` exists (unless
    ``overwrite``, which replaces only a brainsweep study file)."""
    paths = [os.fspath(p) for p in paths]
    out = os.fspath(out)
    if len(paths) < 2:
        raise StudyFileError(f"merge needs at least two study files (got {len(paths)})")
    if any(os.path.realpath(p) == os.path.realpath(out) for p in paths if os.path.exists(out)):
        raise StudyFileError(f"merge: the output {out} is one of the inputs; write to a new file")
    results = [load(p) for p in paths]
    fingerprint = _merged_fingerprint(paths, results)
    if os.path.exists(out):
        if not overwrite:
            raise StudyFileError(f"{out} exists; choose another output or pass overwrite=True")
        load(out)  # StudyFileError if it is not a brainsweep study: never replace other files
    first = results[0]
    provenance = {**first.provenance, "merged_from": [
        {"path": os.path.abspath(p), "study_id": r.study_id, "runs": len(r.df)} for p, r in zip(paths, results)]}
    space = ParameterSpace.from_json(fingerprint["space"])
    with StudyFile.create(out, space, fingerprint, first.seed, provenance, evaluator=None,
                          attachments=first.attachments, replace=overwrite) as dest:
        _copy_evaluator_nodes(paths[0], dest)
        for path, res in zip(paths, results):
            _copy_runs(path, res, dest)
    return out


def _merged_fingerprint(paths: list, results: list) -> dict:
    first = results[0].fingerprint
    for path, res in zip(paths[1:], results[1:]):
        for key, what in (("space", "parameter spaces"), ("evaluate", "evaluators")):
            if res.fingerprint.get(key) != first.get(key):
                raise StudyFileError(f"cannot merge {paths[0]} and {path}: their {what} differ "
                                     f"(merge combines runs of one space and one evaluator)")
    strategies = [r.fingerprint.get("strategy") for r in results]
    if all(s == strategies[0] for s in strategies):
        strategy = strategies[0]
    else:
        strategy = {"name": "merged", "parts": strategies}
        for key in ("objectives", "weights"):
            values = [s.get(key) for s in strategies]
            if values[0] is not None and all(v == values[0] for v in values):
                strategy[key] = values[0]
    return {"space": first["space"], "strategy": strategy, "evaluate": first.get("evaluate")}


def _copy_evaluator_nodes(src_path: str, dest: StudyFile) -> None:
    """Copy the first input's evaluator reference (and other bookkeeping documents) as bytes."""
    with StudyFile.open(src_path, "r") as src:
        for node in bookkeeping(src.h5)._f_iter_nodes("Leaf"):
            if node._v_name not in _OWN_NODES and node._v_name not in dest._bk:
                node._f_copy(newparent=dest._bk)
    dest.h5.flush()


def _copy_runs(path: str, res, dest: StudyFile) -> None:
    df = res.df
    if df.empty:
        return
    score_kinds = {k: res._kinds[k] for k in res.scores}
    tags = [t for t in res.tags if t in TAG_NAMES or t in df]
    with StudyFile.open(path, "r") as src:
        for lo in range(0, len(df), _CHUNK):
            part = df.iloc[lo:lo + _CHUNK]
            first = dest.register_batch([{p: _py(row[p]) for p in res.params} for _, row in part.iterrows()])
            values = _stored_values(src, [int(i) for i in part.index])
            records = {}
            for k, (idx, row) in enumerate(part.iterrows()):
                vals = values.get(int(idx), {})
                traceback = vals.pop("error", "") if row["status"] != "ok" else ""
                scalars = {s: _kind(row[s], kind) for s, kind in score_kinds.items() if not pd.isna(row[s])}
                rec = RunRecord(first + k, str(row["status"]), int(row["seed"]), float(row["runtime"]),
                                float(row["finished"]), str(row["worker"]), scalars, vals,
                                str(row["message"]), str(traceback))
                key = tuple(int(row[t]) for t in tags)
                records.setdefault(key, []).append(rec)
            for key, recs in records.items():
                dest.write_runs(recs, dict(zip(tags, key)))


def _stored_values(src: StudyFile, idxs: list) -> dict:
    """``{idx: {name: value}}`` of runs ``idxs``: run groups and rows of small arrays."""
    out = {i: {} for i in idxs}
    for i in idxs:
        group = run_group(src.h5, src.traj, i)
        if group is not None:
            out[i] = {child._v_name: read_value(child) for child in group._f_iter_nodes()}
    for name in rows_lengths(src.h5, src.rows_path):
        for i, row in read_rows(rows_leaf(src.h5, src.rows_path, name), idxs).items():
            out[i][name] = row
    return out


def _kind(v, kind: str):
    return int(v) if kind == "int" else bool(v) if kind == "bool" else float(v)


def _py(v):
    return v.item() if isinstance(v, np.generic) else v
