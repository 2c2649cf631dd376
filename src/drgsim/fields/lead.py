"""Catalog leads as OCC solids: an insulating body with ring contacts, inside a sheath.

The lead is a cylinder (removed from the conducting domain: its surface is insulating except on
the contacts) laid from its distal tip along a straight trajectory. Around it runs a sheath of
stacked annular segments, one per band of the lead's surface; the segment boundaries give each
band its own named face after the boolean operations, and a contact is the union of its bands. The
sheath is encapsulation tissue for implanted leads, or the surrounding medium for validation.

Several sets of contacts can share one lead body (``contact_slides_mm``): the contacts displaced along
the lead, as a posture displaces them relative to the tissue, with the body and its tip left in place.
The surface is then split at every edge of every set, so that one mesh and one assembled operator
give the unit solutions of all of them (each set is only another right-hand side).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from drgsim.devices.leads import LeadModel, get_lead

TIP_INSULATION_MM = 1.0  # insulated distal end beyond contact 1 [unverified]
MIN_BAND_MM = 0.05  # narrowest band of the surface that contact sets may cut (the mesher must resolve it)
SLIDE_RANGE_MM = (-TIP_INSULATION_MM + MIN_BAND_MM, 5.0)
TIP_MARGIN_MM = 0.5  # the sheath's cap beyond the lead's tip


class LeadPlacement(BaseModel):
    """A catalog lead placed along a straight trajectory, tip first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_id: str = "drg"
    tip_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, float, float] = Field((0.0, 0.0, 1.0), description="from the tip towards the IPG")
    body_length_mm: float = Field(30.0, gt=0, le=500, description="modelled lead length from the tip")
    contact_slides_mm: tuple[float, ...] = Field((0.0,), min_length=1, max_length=8, description="displacements "
                                                 "of the contacts along the lead, away from the tip, one set of "
                                                 "contacts each on the same body (the first set is contact1...)")

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

    @field_validator("contact_slides_mm")
    @classmethod
    def _slides(cls, v):
        lo, hi = SLIDE_RANGE_MM
        for s in v:
            if not lo <= s <= hi:
                raise ValueError(f"contact_slides_mm has {s:g}; allowed: {lo:g} to {hi:g} mm (the contacts stay "
                                 f"at least {MIN_BAND_MM:g} mm from the tip)")
        if len(set(v)) != len(v):
            raise ValueError(f"contact_slides_mm={v} repeats a value")
        return v

    @property
    def lead(self) -> LeadModel:
        return get_lead(self.lead_id)

    def contact_names(self) -> list[str]:
        """Every contact of every set: contact1..n for the first, ``contact1@0.2mm`` ... for the others."""
        n = self.lead.n_contacts
        return [f"contact{k + 1}" if j == 0 else f"contact{k + 1}@{s:g}mm"
                for j, s in enumerate(self.contact_slides_mm) for k in range(n)]

    def contact_centres_mm(self) -> np.ndarray:
        """3D centre of every contact of the first set (n_contacts, 3)."""
        axial = self._starts(self.contact_slides_mm[0]) + self.lead.contact_length_mm / 2
        return np.asarray(self.tip_mm) + axial[:, None] * np.asarray(self.direction)

    def _starts(self, slide: float) -> np.ndarray:
        return TIP_INSULATION_MM + slide + self.lead.contact_centres_mm

    def bands(self) -> list[tuple[float, float, str]]:
        """Axial intervals (from the tip) of the lead's surface, split at every contact edge of every set,
        with their face names (``band0`` at the tip on)."""
        length = self.lead.contact_length_mm
        edges = np.concatenate([[0.0, self.body_length_mm], *[np.concatenate([a, a + length]) for a in
                                                             map(self._starts, self.contact_slides_mm)]])
        edges = np.unique(edges)
        edges = edges[np.concatenate([[True], np.diff(edges) > 1e-9])]
        if edges[-1] != self.body_length_mm:
            raise ValueError(f"body_length_mm={self.body_length_mm} must exceed the contact span ({edges[-1]:.2f} mm)")
        if np.diff(edges).min() < MIN_BAND_MM:
            raise ValueError(f"contact_slides_mm={self.contact_slides_mm} cut the lead's surface into a band "
                             f"{np.diff(edges).min():.3g} mm wide; allowed: >= {MIN_BAND_MM:g} mm")
        return [(float(a), float(b), f"band{i}") for i, (a, b) in enumerate(zip(edges[:-1], edges[1:]))]

    def contact_faces(self) -> dict[str, list[str]]:
        """The bands that make up each contact (``contact_names`` order)."""
        bands = self.bands()
        length = self.lead.contact_length_mm
        starts = np.concatenate([self._starts(s) for s in self.contact_slides_mm])
        return {name: [f for a, b, f in bands if a >= s - 1e-9 and b <= s + length + 1e-9]
                for name, s in zip(self.contact_names(), starts)}


def lead_solids(placement: LeadPlacement, sheath_radius_mm: float, sheath_material: str,
                tip_margin_mm: float = TIP_MARGIN_MM, contact_maxh_mm: float | None = None):
    """OCC sheath segments (with the lead hollowed out) and the sheath's envelope for subtraction."""
    from netgen.occ import Cylinder, Pnt, Z

    lead = placement.lead
    r = lead.contact_diameter_mm / 2
    if sheath_radius_mm <= r:
        raise ValueError(f"sheath radius {sheath_radius_mm} mm must exceed the lead radius {r} mm")
    segments = []
    on_contact = {f for faces in placement.contact_faces().values() for f in faces}
    for a, b, name in placement.bands():
        seg = Cylinder(Pnt(0, 0, a), Z, sheath_radius_mm, b - a)
        core = Cylinder(Pnt(0, 0, a - 0.01), Z, r, b - a + 0.02)
        core.faces.name = name
        if contact_maxh_mm and name in on_contact:
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
