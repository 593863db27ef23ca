"""Write a new, empty study file: pypet's skeleton plus brainsweep's bookkeeping, under a
temporary name beside the final one, renamed into place only once complete."""

from __future__ import annotations

import glob
import json
import os
import warnings

import numpy as np
import tables

from . import _plain
from .storage import (_BK, _COL, FORMAT_VERSION, _as_kind, _col_name, _param_kind, _pickle_or_none,
                      new_study_id, open_h5, recreate_run_info)

__all__ = ["write_new_study"]

_COMPACT_FROM = 16  # explored parameters from which a new file is compacted


def write_new_study(path: str, space, fingerprint: dict, seed: int, provenance: dict, traj_name: str,
                    evaluator=None, attachments: dict | None = None) -> str:
    """Create the study file ``path`` (replacing any file there); return its study id.

    The caller holds the writer lock of ``path``."""
    folder, base = os.path.split(os.path.abspath(path))
    for stale in glob.glob(os.path.join(folder, glob.escape(f".{base}.creating-") + "*.h5")):
        os.remove(stale)  # left by a creation that was killed (we hold the lock: not in progress)
    tmp = os.path.join(folder, f".{base}.creating-{os.getpid()}.h5")  # pypet wants an HDF5 extension
    try:
        _write_skeleton(tmp, space, provenance, traj_name)
        study_id = new_study_id()
        compact = tmp[:-3] + "-compact.h5"
        h5 = open_h5(tmp, "a")
        try:
            _write_bookkeeping(h5, space, fingerprint, seed, provenance, traj_name, evaluator,
                               attachments, study_id)
            # HDF5 does not give back the space of the tables replaced above (64 kB each, two per
            # explored parameter); a copy holds only what is in use. It costs ~0.15 s: worth it
            # from _COMPACT_FROM parameters on (2 MB; 136 per-node parameters: 31 -> 5 MB)
            if len(space.dimensions) >= _COMPACT_FROM:
                h5.copy_file(compact, overwrite=True)
        finally:
            h5.close()
        if os.path.exists(compact):
            os.replace(compact, path)
            os.remove(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        for name in (tmp, tmp[:-3] + "-compact.h5"):
            if os.path.exists(name):
                os.remove(name)
        raise
    return study_id


def _write_skeleton(tmp: str, space, provenance: dict, traj_name: str) -> None:
    from pypet import Trajectory

    kinds = {d.name: _param_kind(d) for d in space.dimensions}
    traj = Trajectory(traj_name, add_time=False, filename=tmp, overwrite_file=True,
                      comment="brainsweep study", complevel=0)
    for d in space.dimensions:
        first = (d.values or d.categories or (d.low,))[0]
        traj.f_add_parameter(d.name, _as_kind(first, kinds[d.name]), comment=_describe(d))
    for name, value in space.fixed.items():
        traj.f_add_parameter(name, value, comment="fixed")
    # explore one placeholder run so pypet records which parameters are explored;
    # it is removed below and the study registers its own runs batch by batch
    traj.f_explore({d.name: [traj.f_get(d.name).f_get()] for d in space.dimensions})
    traj.f_add_result("study.provenance", **{k: str(v) for k, v in provenance.items()},
                      comment="where and how the study was created")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traj.f_store()


def _write_bookkeeping(h5, space, fingerprint, seed, provenance, traj_name, evaluator, attachments,
                       study_id) -> None:
    kinds = {d.name: _param_kind(d) for d in space.dimensions}
    # string parameters take only the space's values: their columns are as wide as the longest
    widths = {d.name: max(len(str(v).encode()) for v in (d.values or d.categories))
              for d in space.dimensions if kinds[d.name] == "str"}
    bk = h5.create_group(f"/{traj_name}/overview", _BK, "brainsweep study bookkeeping")
    bk._v_attrs.format_version = FORMAT_VERSION
    bk._v_attrs.trajectory = traj_name
    bk._v_attrs.study_id = study_id
    # json documents as byte arrays: attributes are limited to 64 kB
    _write_bytes(h5, bk, "fingerprint", json.dumps(fingerprint, sort_keys=True).encode())
    bk._v_attrs.seed = int(seed)
    bk._v_attrs.param_names = json.dumps(space.names)
    bk._v_attrs.param_kinds = json.dumps(kinds)
    bk._v_attrs.param_widths = json.dumps(widths)
    _write_bytes(h5, bk, "provenance", json.dumps(provenance, sort_keys=True).encode())
    att = h5.create_group(bk, "attachments", "files the study was made from (e.g. its YAML)")
    for name, text in (attachments or {}).items():
        data = text.encode() if isinstance(text, str) else bytes(text)
        _write_bytes(h5, att, _col_name(name).replace("/", "_"), data).attrs.filename = name
    reference = _reference_of(evaluator)
    if reference is not None:  # how to rebuild the evaluator without unpickling anything
        _write_bytes(h5, bk, "evaluator_ref", _plain.encode(reference))
    blob = _pickle_or_none(evaluator)
    if blob is not None:  # what `brainsweep reproduce` re-runs (only with trust)
        _write_bytes(h5, bk, "evaluator", blob)
    h5.create_table(bk, "batches", {"batch": tables.Int64Col(pos=0), "first": tables.Int64Col(pos=1),
                                    "n": tables.Int64Col(pos=2), "told": tables.BoolCol(pos=3)})
    h5.create_vlarray(bk, "states", tables.UInt8Atom(), "JSON strategy state after each tell")
    h5.create_group(f"/{traj_name}/results", "runs", createparents=True)
    recreate_run_info(h5, h5.get_node(f"/{traj_name}/overview/runs"))
    for d in space.dimensions:  # pypet's placeholder range -> an empty one of full width
        group = h5.get_node(f"/{traj_name}/parameters/{d.name.replace('.', '/')}")
        h5.remove_node(group, "explored_data")
        _shrink_chunks(group.data, (1,))
        col = (tables.StringCol(widths[d.name], pos=0) if kinds[d.name] == "str"
               else _COL[kinds[d.name]](0))
        # small chunks: PyTables' default (8192 rows) allocates 64 kB per table even for a few runs,
        # 17 MB for the two tables of each of 136 per-node parameters
        table = h5.create_table(group, "explored_data", {"data": col}, chunkshape=(_EXPLORED_CHUNK,))
        table.attrs.SRVC_COLUMN_data_COLL_TYPE = np.str_("COLL_SCALAR")
        table.attrs.SRVC_COLUMN_data_SCALAR_TYPE = np.str_(kinds[d.name])
        table.attrs.SRVC_STORE = np.str_("TABLE")
    h5.get_node(f"/{traj_name}/overview/info").cols.length[0] = 0


_EXPLORED_CHUNK = 1024  # rows of a parameter's explored_data chunk: 8 kB of float64


def _shrink_chunks(table, chunkshape) -> None:
    """Rewrite ``table`` (pypet's one-row table of a parameter's value) with ``chunkshape``."""
    parent, name = table._v_parent, table._v_name
    table.copy(parent, name + "_small", chunkshape=chunkshape)
    table.remove()
    parent._f_get_child(name + "_small").rename(name)


def _reference_of(evaluator):
    """The evaluator's importable reference document, if it offers one."""
    ref = getattr(evaluator, "reference", None)
    if not callable(ref):
        return None
    try:
        doc = ref()
        if doc is not None:
            _plain.encode(doc)
        return doc
    except Exception as err:  # noqa: BLE001 - the study runs; only reproduction by reference is lost
        warnings.warn(f"the evaluator's reference() could not be stored ({err}); "
                      f"the study runs, but cannot be rerun by reference", stacklevel=4)
        return None


def _write_bytes(h5, where, name: str, data: bytes):
    return h5.create_array(where, name, np.frombuffer(data, dtype=np.uint8) if data else np.zeros(0, np.uint8))


def _describe(d) -> str:
    """A short pypet comment for an explored parameter."""
    if d.kind == "grid":
        return f"grid of {len(d.values)} values"
    if d.kind == "categorical":
        return f"categorical: {', '.join(map(str, d.categories))}"[:200]
    return f"bounds [{d.low}, {d.high}] ({d.scale})"


def classify_existing(path: str) -> str:
    """What is at ``path``: ``"none"``, ``"study"``, or ``"half-made"`` (a study whose
    creation by an older brainsweep was cut short: pypet's skeleton without complete
    bookkeeping, no run stored). Anything else raises ``StudyFileError`` naming it."""
    from .storage import StudyFileError, bookkeeping

    if not os.path.exists(path):
        return "none"
    if os.path.isdir(path):
        raise StudyFileError(f"{path} is a directory, not a study file")
    with open_h5(path, "r") as h5:
        try:
            bk = bookkeeping(h5)
        except StudyFileError:
            if _is_bare_skeleton(h5):
                return "half-made"
            raise
        if bk._v_pathname == f"/{_BK}":  # format 1: bookkeeping written after pypet's skeleton
            complete = all(n in bk for n in ("fingerprint", "provenance", "batches", "states"))
            if not complete or (bk.batches.nrows == 0 and _n_table_rows(h5, bk) == 0):
                return "half-made"
        return "study"


def _is_bare_skeleton(h5) -> bool:
    groups = [g for g in h5.root._f_iter_nodes("Group") if g._v_name != _BK]
    if len(groups) != 1 or f"/{groups[0]._v_name}/overview/info" not in h5:
        return False
    comment = h5.get_node(f"/{groups[0]._v_name}/overview/info").cols.comment[0]
    return comment == b"brainsweep study"


def _n_table_rows(h5, bk) -> int:
    where = f"/{bk._v_attrs.trajectory}/results/table/table" if "trajectory" in bk._v_attrs else None
    return h5.get_node(where).nrows if where and where in h5 else 0
