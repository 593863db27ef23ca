"""Check a study file's consistency before a study resumes; repair what an interrupted
write can leave, refuse what it cannot.

A study file is consistent when the committed batches (rows of the ``batches`` table)
cover exactly the runs registered in pypet's explored ranges and run table, every
strategy state belongs to a told batch, every table row is a registered run stored
once, and every run group has its table row. The write order of :mod:`.storage` means
an interruption can leave only these, each repaired here with a note:

- explored values or pypet run rows beyond the committed batches (registration cut short):
  dropped;
- a committed batch whose explored values are not all there: dropped if none of its runs
  is stored and it was not told, otherwise refused;
- a strategy state whose batch is not marked told (or the reverse): the flags follow the states;
- a run group without a table row (its write was cut short): removed, the run runs again;
- rows of small per-run arrays (``results/arrays``) without a table row at the end of their
  array, or a rows array longer than its index array: truncated (a run index stored twice is
  read from its last row, so a row left elsewhere can never be read for a rerun run);
- a replacement runs table left beside the old one: the complete one is kept;
- a sorted tail of the runs table written aside: copied over the table's tail again;
- pypet's run-information table (``overview/runs``) unreadable (a kill while HDF5 rewrote one
  of its compressed chunks, whose space it had already given to another write): written again
  from the registered parameters and the runs table, which hold everything in it.

Before any repair every leaf a study writes is read (the runs table whole, the append-only
leaves at their end, where writes happen); one that HDF5 cannot read is named in the refusal.

Anything else (a run stored twice, a told batch without all its runs, stored runs whose
parameters are gone) is refused: the study's runs stay readable with ``load``.
"""

from __future__ import annotations

import numpy as np
import tables

from ._leaves import row_indices, rows_leaf, rows_lengths, truncate_rows
from .storage import StudyFileError

__all__ = ["check_and_repair"]


def check_and_repair(file) -> list[str]:
    """Make ``file`` (a :class:`~.storage.StudyFile` open for writing) consistent; return
    a note per repair. ``StudyFileError`` if it cannot be made consistent."""
    notes: list[str] = []
    _settle_table(file, notes)
    _check_readable(file)
    _settle_run_info(file, notes)
    _settle_registration(file, notes)
    _settle_told(file, notes)
    _check_rows(file)
    _drop_orphan_groups(file, notes)
    _drop_orphan_rows(file, notes)
    if notes:
        file.h5.flush()
        file._nodes.clear()
        file._done = None
    return notes


def _refuse(file, what: str):
    raise StudyFileError(f"{file.path}: inconsistent study file ({what}); it cannot be resumed safely. "
                         f"Its stored runs can still be read with load(); start the study again on "
                         f"another path (or with overwrite=True)")


def _settle_table(file, notes: list) -> None:
    parent = f"{file._root}/results/table"
    h5 = file.h5
    if f"{parent}/table_tail" in h5:
        tail = h5.get_node(f"{parent}/table_tail")
        table = h5.get_node(f"{parent}/table") if f"{parent}/table" in h5 else None
        # without its start attribute the tail was not complete, and the table not yet touched
        if table is not None and "start" in tail.attrs:
            start = int(tail.attrs.start)
            if start + tail.nrows != table.nrows:
                _refuse(file, "the runs table and its sorted tail differ in length")
            table.modify_rows(start, rows=tail.read())
            notes.append("finished an interrupted sorting of the runs table")
        tail._f_remove()
    for spare in ("table_new", "table_old"):
        if f"{parent}/{spare}" not in h5:
            continue
        if f"{parent}/table" in h5:
            # table_new is complete only once table is removed; format 1 renamed the old
            # table to table_old before writing the new one, so there table may be partial
            if spare == "table_old":
                h5.remove_node(parent, "table")
                h5.get_node(f"{parent}/table_old")._f_rename("table")
            else:
                h5.remove_node(parent, spare)
            notes.append(f"undid an interrupted replacement of the runs table ({spare})")
        else:
            h5.get_node(f"{parent}/{spare}")._f_rename("table")
            notes.append(f"finished an interrupted replacement of the runs table ({spare})")
    file._nodes.clear()


def _check_readable(file) -> None:
    """Read every leaf a study writes or refuse naming the first one HDF5 cannot read: the runs
    table whole (its sorting rewrites rows anywhere in a batch), the append-only leaves (batches,
    states, explored values, array rows) in their last two chunks, the only ones rewritten."""
    if file._table is not None:
        _read_or_refuse(file, file._table, 0)
    tails = [file._bk.batches, file._states_node()] + _explored_tables(file)
    if file.rows_path in file.h5:
        tails += [leaf for group in file.h5.get_node(file.rows_path)._f_iter_nodes("Group")
                  for leaf in group._f_iter_nodes("Leaf")]
    for leaf in tails:
        if leaf is not None:
            _read_or_refuse(file, leaf, max(0, leaf.nrows - 2 * (leaf.chunkshape or (1,))[0]))


def _readable(leaf, start: int = 0, block: int = 65_536) -> bool:
    """Whether HDF5 can read rows ``start ..`` of ``leaf`` (read a block at a time: memory stays small)."""
    try:
        for first in range(start, leaf.nrows, block):
            leaf.read(first, min(first + block, leaf.nrows))
    except tables.HDF5ExtError:
        return False
    return True


def _read_or_refuse(file, leaf, start: int) -> None:
    if not _readable(leaf, start):
        _refuse(file, f"{leaf._v_pathname} is unreadable: a kill while HDF5 rewrote it tore one of its "
                      f"chunks, and what it held is stored nowhere else")


def _settle_run_info(file, notes: list) -> None:
    if _readable(file.h5.get_node(f"{file._root}/overview/runs")):
        return
    n = min(t.nrows for t in _explored_tables(file))
    file.rebuild_run_info(n)
    notes.append(f"rebuilt pypet's run information table (overview/runs, {n} runs) from the registered "
                 f"parameters and the runs table: a kill during a write had left a chunk unreadable")


def _explored_tables(file) -> list:
    return [file.h5.get_node(f"{file._root}/parameters/{n.replace('.', '/')}/explored_data")
            for n in file.param_names]


def _settle_registration(file, notes: list) -> None:
    bk, h5 = file._bk, file.h5
    batches = bk.batches.read()
    firsts = np.concatenate([[0], np.cumsum(batches["n"])[:-1]]) if len(batches) else np.zeros(0)
    if len(batches) and (np.any(batches["first"] != firsts) or np.any(batches["batch"] != np.arange(len(batches)))):
        _refuse(file, "the batches table is not contiguous")
    explored = _explored_tables(file)
    runs = h5.get_node(f"{file._root}/overview/runs")
    have = min([t.nrows for t in explored] + [runs.nrows])
    stored = file._table.col("idx") if file._table is not None else np.zeros(0, np.int64)
    while len(batches) and int(batches["n"].sum()) > have:
        last = batches[-1]
        if last["told"] or np.any(stored >= last["first"]):
            _refuse(file, f"batch {int(last['batch'])} has stored runs but only {have} of its "
                          f"{int(batches['n'].sum())} registered runs' parameters")
        bk.batches.remove_rows(len(batches) - 1, len(batches))
        batches = batches[:-1]
        notes.append(f"dropped batch {int(last['batch'])}, whose registration was cut short "
                     f"(none of its runs was stored; it is asked again)")
    total = int(batches["n"].sum()) if len(batches) else 0
    cut = False
    for table in explored + [runs]:
        if table.nrows > total:
            table.remove_rows(total, table.nrows)
            cut = True
    if cut:
        notes.append(f"dropped parameter values registered beyond the {total} committed runs")
    info = h5.get_node(f"{file._root}/overview/info")
    if int(info.cols.length[0]) != total:
        info.cols.length[0] = total


def _settle_told(file, notes: list) -> None:
    told = file._bk.batches.col("told")
    n_states = file.n_states()
    if n_states > len(told):
        _refuse(file, f"{n_states} strategy states for {len(told)} batches")
    want = np.arange(len(told)) < n_states
    if np.any(told != want):
        for i in np.flatnonzero(told != want):
            file._bk.batches.cols.told[int(i)] = bool(want[i])
        notes.append("marked the told batches after an interrupted save of the strategy state")


def _check_rows(file) -> None:
    t = file._table
    if t is None:
        return
    idx = t.col("idx")
    total = int(file._bk.batches.col("n").sum())
    if len(np.unique(idx)) != len(idx):
        _refuse(file, "a run is stored twice in the runs table")
    if len(idx) and (idx.min() < 0 or idx.max() >= total):
        _refuse(file, f"the runs table holds run {int(idx.max())} of only {total} registered runs")
    batches = file._bk.batches.read()
    told = batches[batches["told"]]
    n_told_runs = int(told["n"].sum())  # told batches are a prefix (see _settle_told)
    if int(np.count_nonzero(idx < n_told_runs)) != n_told_runs:
        _refuse(file, "a batch the strategy was told of lacks stored runs")


def _drop_orphan_groups(file, notes: list) -> None:
    where = f"{file._root}/results/runs"
    if where not in file.h5:
        return
    stored = set(file._table.col("idx").tolist()) if file._table is not None else set()
    orphans = []
    for child in file.h5.get_node(where)._f_iter_nodes("Group"):
        if child._v_name.startswith("run_set_"):
            orphans += [g for g in child._f_iter_nodes("Group") if _idx_of(g._v_name) not in stored]
        elif _idx_of(child._v_name) not in stored:
            orphans.append(child)
    for group in orphans:
        group._f_remove(recursive=True)
    if orphans:
        notes.append(f"removed {len(orphans)} run group(s) whose table row was never written "
                     f"(an interrupted write); those runs run again")


def _drop_orphan_rows(file, notes: list) -> None:
    stored = file._table.col("idx") if file._table is not None else np.zeros(0, np.int64)
    for name, (n_data, n_idx) in rows_lengths(file.h5, file.rows_path).items():
        leaf = rows_leaf(file.h5, file.rows_path, name)
        idx = row_indices(leaf)
        orphan = ~np.isin(idx, stored)
        keep = len(idx) - int(np.argmin(orphan[::-1])) if not orphan.all() else 0
        if keep < max(n_data, n_idx):
            truncate_rows(file.h5, file.rows_path, name, keep)
            notes.append(f"dropped {max(n_data, n_idx) - keep} row(s) of result {name!r} whose table row "
                         f"was never written (an interrupted write); those runs run again")


def _idx_of(name: str) -> int:
    try:
        return int(name.removeprefix("run_"))
    except ValueError:
        return -1
