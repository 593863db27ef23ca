"""brainsweep: simulate whole-brain neural mass models, sweep and fit their parameters,
keep every run in a pypet/HDF5 trajectory."""

import os as _os

# Study files have one writer, guarded by brainsweep's own lock file (see
# explorer/storage.py); HDF5's file lock would also stop anyone from *reading* a study
# while it runs (``brainsweep info``, ``load`` in a notebook). HDF5 reads this setting
# once, when the library loads, so it is set before PyTables is first imported.
_os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")

__version__ = "0.1.0"
