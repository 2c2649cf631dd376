"""Parametric volume-conductor geometries (OCC) with named materials, contacts and ground.

Every builder returns a ``Geometry``: the glued OCC shape, the conductivity of each material
(with its fibre axis where anisotropic), the contact surface names in contact order and the
grounded outer surface (the distant return). Lengths are in mm.

* ``homogeneous``: a catalog lead in a large homogeneous sphere (validation, ``--source lead``).
* ``sphere``: a small spherical electrode in a sphere, optionally in one of two half-space layers
  (validation against V = I / (4 pi sigma r) and the method of images).
* ``drg`` and ``scs``: anatomical models, in ``drgsim.fields.anatomy_models``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from drgsim.fields.lead import LeadPlacement, lead_solids
from drgsim.fields.materials import Conductivity


@dataclass
class Geometry:
    shape: object  # netgen.occ shape
    materials: dict[str, tuple[Conductivity, tuple[float, float, float]]]
    contacts: list[str]
    ground: str = "ground"
    placements: list[LeadPlacement] = field(default_factory=list)
    outlines: dict[str, object] = field(default_factory=dict)  # for figures: name -> callable or data
    contact_faces: dict[str, list[str]] = field(default_factory=dict)  # contact -> its faces (default: its name)
    notes: list[str] = field(default_factory=list)  # dimensions the construction changed, and why

    @classmethod
    def with_lead(cls, shape, materials, placement: LeadPlacement, notes=()) -> Geometry:
        """A geometry whose contacts are those of one placed lead (every set of ``contact_slides_mm``)."""
        return cls(shape, materials, placement.contact_names(), placements=[placement],
                   contact_faces=placement.contact_faces(), notes=list(notes))

    def faces(self, contact: str) -> list[str]:
        return self.contact_faces.get(contact, [contact])


class HomogeneousParams(BaseModel):
    """A lead centred in a homogeneous sphere; the sphere surface is the distant return."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Literal["homogeneous"] = "homogeneous"
    lead: LeadPlacement = LeadPlacement(lead_id="drg", tip_mm=(0.0, 0.0, -10.0))
    resistivity_ohm_cm: float = Field(500.0, gt=1, le=100_000)
    radius_mm: float = Field(60.0, gt=5, le=1000)
    sheath_radius_mm: float = Field(1.0, gt=0, le=10, description="meshing sheath around the lead (same medium)")
    near_radius_mm: float = Field(5.0, gt=1, le=50, description="finely meshed cylinder around the contacts")

    def build(self, mesh) -> Geometry:
        from netgen.occ import Cylinder, Glue, Pnt, Sphere, Vec

        sigma = Conductivity(isotropic=100.0 / self.resistivity_ohm_cm)
        segments, envelope = lead_solids(self.lead, self.sheath_radius_mm, "medium",
                                         contact_maxh_mm=mesh.contact_maxh_mm)
        outer = Sphere(Pnt(0, 0, 0), self.radius_mm)
        outer.faces.name = "ground"
        d = np.asarray(self.lead.direction)
        margin = 10.0
        start = np.asarray(self.lead.tip_mm) - d * margin
        span = self.lead.bands()[-1][0]  # tip to the proximal edge of the last contact
        near = Cylinder(Pnt(*start), Vec(*d), self.near_radius_mm, span + 2 * margin)
        near = near * outer
        far = outer - near - envelope
        near = near - envelope
        near.maxh = mesh.near_maxh_mm
        for s in (far, near):
            s.mat("medium")
        return Geometry.with_lead(Glue([far, near, *segments]), {"medium": (sigma, (0.0, 0.0, 1.0))}, self.lead)


class SphereParams(BaseModel):
    """A spherical electrode of radius ``electrode_radius_mm`` at ``centre_mm`` inside a grounded sphere.

    With ``sigma2_s_per_m`` the medium below ``interface_z_mm`` has that conductivity (two layers).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Literal["sphere"] = "sphere"
    electrode_radius_mm: float = Field(0.5, gt=0, le=10)
    radius_mm: float = Field(100.0, gt=5, le=1000)
    centre_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    sigma_s_per_m: float = Field(0.2, gt=0, le=100)
    sigma2_s_per_m: float | None = Field(None, gt=0, le=100)
    interface_z_mm: float = Field(-2.0, ge=-100, le=100)

    def build(self, mesh) -> Geometry:
        from netgen.occ import Box, Glue, Pnt, Sphere

        outer = Sphere(Pnt(0, 0, 0), self.radius_mm)
        outer.faces.name = "ground"
        electrode = Sphere(Pnt(*self.centre_mm), self.electrode_radius_mm)
        electrode.faces.name = "contact1"
        electrode.faces.maxh = mesh.contact_maxh_mm
        medium = outer - electrode
        mats = {"medium": (Conductivity(isotropic=self.sigma_s_per_m), (0.0, 0.0, 1.0))}
        if self.sigma2_s_per_m is None:
            medium.mat("medium")
            return Geometry(medium, mats, ["contact1"])
        r = self.radius_mm
        below = Box(Pnt(-r, -r, -r), Pnt(r, r, self.interface_z_mm))
        lower = medium * below
        upper = medium - below
        upper.mat("medium")
        lower.mat("lower")
        mats["lower"] = (Conductivity(isotropic=self.sigma2_s_per_m), (0.0, 0.0, 1.0))
        return Geometry(Glue([upper, lower]), mats, ["contact1"])
