"""Cell models, one module each: ``mrg``, ``sundt``, ``drg_abeta``, ``drg_adelta``, ``drg_c``, ``motor``."""

from __future__ import annotations

from enum import StrEnum


class CellModel(StrEnum):
    MRG = "mrg"
    SUNDT = "sundt"
    DRG_ABETA = "drg_abeta"
    DRG_ADELTA = "drg_adelta"
    DRG_C = "drg_c"
    MOTOR = "motor"
