"""Catalog leads as OCC solids: an insulating body with ring contacts, inside a sheath.

The lead is a cylinder (removed from the conducting domain: its surface is insulating except on
the contacts) laid from its distal tip along a straight trajectory. Around it runs a sheath of
stacked annular segments, one per contact or insulation band; the segment boundaries give each
contact its own named surface after the boolean operations. The sheath is encapsulation tissue for
implanted leads, or the surrounding medium for validation.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from drgsim.devices.leads import LeadModel, get_lead

TIP_INSULATION_MM = 1.0  # insulated distal end beyond contact 1 [unverified]


class LeadPlacement(BaseModel):
    """A catalog lead placed along a straight trajectory, tip first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_id: str = "drg"
    tip_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, float, float] = Field((0.0, 0.0, 1.0), description="from the tip towards the IPG")
    body_length_mm: float = Field(30.0, gt=0, le=500, description="modelled lead length from the tip")

    @field_validator("lead_id")
    @classmethod
    def _known(cls, v: str) -> str:
        get_lead(v)
        return v

    @field_validator("direction")
    @classmethod
    def _unit(cls, v):
        n = float(np.linalg.norm(v))
        if n == 0:
            raise ValueError("direction must be a non-zero vector")
        return tuple(float(x) / n for x in v)

    @property
    def lead(self) -> LeadModel:
        return get_lead(self.lead_id)

    def contact_centres_mm(self) -> np.ndarray:
        """3D centre of every contact (n_contacts, 3)."""
        axial = TIP_INSULATION_MM + self.lead.contact_length_mm / 2 + self.lead.contact_centres_mm
        return np.asarray(self.tip_mm) + axial[:, None] * np.asarray(self.direction)

    def bands(self) -> list[tuple[float, float, str]]:
        """Axial intervals (from the tip) of insulation and contacts, with their surface names."""
        lead = self.lead
        out, cur = [], 0.0
        for k, c in enumerate(TIP_INSULATION_MM + lead.contact_centres_mm):
            if c > cur:
                out.append((cur, c, "insulation"))
            out.append((c, c + lead.contact_length_mm, f"contact{k + 1}"))
            cur = c + lead.contact_length_mm
        if self.body_length_mm <= cur:
            raise ValueError(f"body_length_mm={self.body_length_mm} must exceed the contact span ({cur:.2f} mm)")
        out.append((cur, self.body_length_mm, "insulation"))
        return out


def lead_solids(placement: LeadPlacement, sheath_radius_mm: float, sheath_material: str,
                tip_margin_mm: float = 0.5, contact_maxh_mm: float | None = None):
    """OCC sheath segments (with the lead hollowed out) and the sheath's envelope for subtraction."""
    from netgen.occ import Cylinder, Pnt, Z

    lead = placement.lead
    r = lead.contact_diameter_mm / 2
    if sheath_radius_mm <= r:
        raise ValueError(f"sheath radius {sheath_radius_mm} mm must exceed the lead radius {r} mm")
    segments = []
    for a, b, name in placement.bands():
        seg = Cylinder(Pnt(0, 0, a), Z, sheath_radius_mm, b - a)
        core = Cylinder(Pnt(0, 0, a - 0.01), Z, r, b - a + 0.02)
        core.faces.name = name
        if contact_maxh_mm and name.startswith("contact"):
            core.faces.maxh = contact_maxh_mm
        s = seg - core
        s.mat(sheath_material)
        segments.append(s)
    cap = Cylinder(Pnt(0, 0, -tip_margin_mm), Z, sheath_radius_mm, tip_margin_mm)
    cap.mat(sheath_material)
    segments.append(cap)
    envelope = Cylinder(Pnt(0, 0, -tip_margin_mm), Z, sheath_radius_mm, placement.body_length_mm + tip_margin_mm)
    return [_place(s, placement) for s in segments], _place(envelope, placement)


def _place(shape, placement: LeadPlacement):
    """Rotate the z-aligned construction onto the placement's direction and move it to the tip."""
    from netgen.occ import Axis, Pnt, Vec

    d = np.asarray(placement.direction)
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(z, d)
    s = float(np.linalg.norm(axis))
    angle = float(np.degrees(np.arctan2(s, float(np.dot(z, d)))))
    if s > 1e-12:
        shape = shape.Rotate(Axis(Pnt(0, 0, 0), Vec(*(axis / s))), angle)
    elif np.dot(z, d) < 0:
        shape = shape.Rotate(Axis(Pnt(0, 0, 0), Vec(1, 0, 0)), 180.0)
    return shape.Move(Vec(*placement.tip_mm))
