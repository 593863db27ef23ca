"""Run studies on MPI ranks: ``mpiexec -n N python study.py`` needs no change to the script."""

from .executor import MPIExecutor, is_root, world

__all__ = ["MPIExecutor", "is_root", "world"]
