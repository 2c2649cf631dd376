"""Lead catalog: contact geometry and surface area of the DRG, trial and SCS leads.

Loaded from ``drgsim/data/leads.json`` (sources per field there; DRG and SCS contact geometry is
[unverified]: cylindrical contacts about 1.25 mm long, 1.0 mm across, 5 mm apart). Shared with ``drgsim.fields``,
which meshes the
contacts from ``contact_centres_mm``, ``contact_length_mm`` and ``contact_diameter_mm``; safety
uses ``contact_area_cm2`` for charge density.

Conventions: contacts are numbered from 1 at the distal end; centres are measured proximally
along the lead axis from the centre of contact 1. A ring contact exposes its lateral surface,
area = pi * diameter * length (DRG: pi * 1.0 mm * 1.25 mm = 0.0393 cm2).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class LeadModel(BaseModel):
    """One catalog lead: ring contacts of equal size at a fixed pitch."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    system: Literal["drg", "scs"]
    use: Literal["permanent", "trial"]
    n_contacts: int = Field(ge=1, le=32)
    contact_length_mm: float = Field(gt=0)
    contact_diameter_mm: float = Field(gt=0)
    contact_pitch_mm: float = Field(gt=0)
    lengths_cm: list[float] = Field(default_factory=list)
    sources: dict[str, str] = Field(default_factory=dict)

    @property
    def contact_area_cm2(self) -> float:
        """Lateral area of one ring contact, pi * d * L, in cm2."""
        return math.pi * self.contact_diameter_mm * self.contact_length_mm * 1e-2

    @property
    def contact_centres_mm(self) -> np.ndarray:
        """Axial position of each contact centre from the centre of contact 1 (distal), in mm."""
        return np.arange(self.n_contacts) * self.contact_pitch_mm

    @property
    def span_mm(self) -> float:
        """From the distal edge of contact 1 to the proximal edge of the last contact."""
        return (self.n_contacts - 1) * self.contact_pitch_mm + self.contact_length_mm

    @property
    def unverified(self) -> list[str]:
        return sorted(k for k, v in self.sources.items() if "[unverified]" in v)


@lru_cache(maxsize=1)
def lead_catalog() -> dict[str, LeadModel]:
    """All catalog leads by id."""
    raw = json.loads(resources.files("drgsim.data").joinpath("leads.json").read_text())
    return {d["id"]: LeadModel.model_validate(d) for d in raw["leads"]}


def get_lead(lead_id: str) -> LeadModel:
    catalog = lead_catalog()
    if lead_id not in catalog:
        raise KeyError(f"lead model {lead_id!r} is not in the catalog; allowed: {', '.join(sorted(catalog))}")
    return catalog[lead_id]
