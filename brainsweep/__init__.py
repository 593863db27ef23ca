"""brainsweep: simulate whole-brain neural mass models, sweep and fit their parameters,
keep every run in a pypet/HDF5 trajectory."""

__version__ = "0.1.0"
