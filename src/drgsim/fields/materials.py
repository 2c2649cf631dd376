"""Tissue conductivities (S/m), isotropic or transversely isotropic about a local fibre axis.

Defaults and their sources are in ``drgsim/data/conductivities.json`` (Capogrosso 2013 for the
spinal tissues, ASCENT defaults for nerve tissues); every value can be overridden per model.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


class Conductivity(BaseModel):
    """Either ``isotropic`` or both ``longitudinal`` and ``transverse`` (S/m)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    isotropic: float | None = Field(None, gt=0, le=100)
    longitudinal: float | None = Field(None, gt=0, le=100)
    transverse: float | None = Field(None, gt=0, le=100)

    @model_validator(mode="after")
    def _one_kind(self):
        aniso = self.longitudinal is not None or self.transverse is not None
        if (self.isotropic is None) == (not aniso) or (aniso and None in (self.longitudinal, self.transverse)):
            raise ValueError("give either isotropic, or longitudinal and transverse (S/m)")
        return self

    @property
    def anisotropic(self) -> bool:
        return self.isotropic is None

    def tensor(self, axis=(0.0, 0.0, 1.0)) -> np.ndarray:
        """3x3 conductivity tensor for a fibre axis: sigma_t I + (sigma_l - sigma_t) a a^T."""
        if not self.anisotropic:
            return self.isotropic * np.eye(3)
        a = np.asarray(axis, dtype=float)
        a = a / np.linalg.norm(a)
        return self.transverse * np.eye(3) + (self.longitudinal - self.transverse) * np.outer(a, a)


@cache
def default_conductivities() -> dict[str, Conductivity]:
    raw = json.loads(resources.files("drgsim.data").joinpath("conductivities.json").read_text())["materials"]
    return {name: Conductivity(**{k: v for k, v in entry.items() if k != "source"}) for name, entry in raw.items()}


def conductivity(name: str, overrides: dict[str, Conductivity] | None = None) -> Conductivity:
    if overrides and name in overrides:
        return overrides[name]
    table = default_conductivities()
    if name not in table:
        raise KeyError(f"material {name!r} unknown; allowed: {', '.join(sorted(table))}")
    return table[name]
