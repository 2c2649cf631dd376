"""Cell models, one module each (``mrg``, ``sundt``, ``drg_abeta``, ``drg_adelta``, ``drg_c``, ``motor``; ``drg``
is their shared DRG builder). Importing the package imports every module in it, and each model module
registers its ``CellModelSpec`` (``registry``): a new model is one new file here.
"""

from __future__ import annotations

import importlib
import pkgutil
from enum import StrEnum

from drgsim.neurons.models.registry import CellModelSpec, get, names, register

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

# The registered models' names as an enum, for the CLI's choices (``CellModel("mrg")``, ``CellModel.MRG``).
CellModel = StrEnum("CellModel", {name.upper(): name for name in names()})

__all__ = ["CellModel", "CellModelSpec", "get", "names", "register"]
