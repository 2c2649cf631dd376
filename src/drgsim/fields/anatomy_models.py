"""Anatomical volume conductors: a lumbosacral DRG in its foramen, and a thoracic spinal canal.

Both take their dimensions from ``drgsim.anatomy.spine`` (published means per level, or a virtual
patient's draws) and their conductivities from ``drgsim.fields.materials``.

DRG model (one level, T12-S1). Frame: x along the nerve (lateral), y dorsal, z completing the
right-handed frame, origin at the centre of the intervertebral foramen; ``DRGParams.body_axes``
orients it in the body at the root take-off angle (Silverstein 2015: 50-59 degrees). Around the
foramen stands a slab of vertebral bone (pedicles) of the foramen's depth, pierced by the foramen
(an elliptic tunnel filled with epidural fat); medial to it lies the epidural fat of the canal,
lateral to it muscle. The ganglion is an ellipsoid on the nerve axis inside an epineurial sleeve
(dural sleeve plus its thin CSF), both ending in the planes near its poles where the dorsal root
(medially) and the spinal nerve (laterally) begin; the ventral root runs along its ventral side at
``ventral_root_gap_mm`` and joins the spinal nerve beyond the lateral pole. ``DRGParams.layout`` keeps the
parts' clearances for any drawn anatomy (issue 14: a root that began 0.05 mm inside the ganglion's surface
left a draw unmeshable): the cut planes lie where no outline grazes another, the ventral root and the lead
clear the roots as well as the sleeve, the foramen is enlarged to hold everything 0.3 mm inside its wall
(the published mean widths, 6-8 mm, would put the ventral root and part of the lead into bone) and its faces
are moved clear of transverse features; each change is a note in the run report. The domain runs
``domain_mm / 2`` medially and ``lateral_mm`` laterally from the foramen's centre (the spinal nerve carries current
far laterally, so the axons in
it need room beyond the contacts) and ``domain_mm`` across; all its outer faces are grounded (the
distant return). Within it the roots run straight along the nerve axis. The lead lies in the foramen on
the dorsal surface of the ganglion, parallel to the nerve, tip lateral, with ``contact_over_ganglion`` over the ganglion
centre, in an encapsulation sheath, on the dorso-cranial side of the ganglion (``lead_angle_deg``)
where the foramen has room. Little or no CSF separates lead and ganglion (Shen 2006).

SCS model (T8-T12). Frame: z along the cord (cranial), y dorsal, x to the patient's left. A
vertebral ring of bone surrounds the canal; inside, epidural fat, the dural sac (dura), CSF and
the cord: anisotropic white matter (longitudinal along z) around grey matter. The cord sits
``dcsf_mm`` below the dura dorsally (Holsheimer 1994) and ``cord_offset_mm`` off the midline.
Dorsal rootlets cross the CSF from the dorsolateral sulcus at the lead's level. An 8-contact
percutaneous lead lies in the dorsal epidural space along z, on the midline or offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from drgsim.fields.geometry import Geometry
from drgsim.fields.lead import TIP_MARGIN_MM, LeadPlacement, lead_solids
from drgsim.fields.materials import Conductivity, conductivity

# Clearances that keep the DRG model's parts from meeting at grazing angles, where the mesher fails (issue 14:
# a drawn L3 ganglion whose dorsal root started 0.05 mm inside the ganglion's surface could not be meshed).
# Each is a project choice, small beside the parts (0.3-5 mm) [project choice].
WALL_CLEARANCE_MM = 0.3  # least tissue between the foramen's bony wall and the ganglion, roots and lead
RADIAL_GAP_MM = 0.15  # least difference between the radii of two outlines meeting in one plane
PLANE_GAP_MM = 0.15  # least distance along the nerve between two transverse features
LEAD_ANGLE_LIMIT_DEG = 90.0  # a DRG lead lies between the ganglion's caudal (-90) and cranial (90) sides
# Where (fraction of the half-length) the ganglion may end in its roots, the nearest to 0.8 first.
CUT_FRACTIONS = tuple(sorted((round(0.5 + 0.01 * k, 2) for k in range(46)), key=lambda f: (abs(f - 0.8), f)))


@dataclass(frozen=True)
class DRGLayout:
    """Where the DRG model's parts lie, derived so that they keep their clearances for any draw: the
    planes (x) where the ganglion and its sleeve end and the dorsal root and spinal nerve begin, the
    ventral root's height (y), the lead's distance from the nerve axis, the foramen's semi-axes and
    half-length, and a note for every published or drawn dimension the construction had to change."""

    cut_medial_mm: float
    cut_lateral_mm: float
    ventral_root_y_mm: float
    lead_radius_mm: float
    foramen_semi_y_mm: float
    foramen_semi_z_mm: float
    foramen_half_length_mm: float
    notes: tuple[str, ...]


class _LeadModel(BaseModel):
    """An anatomy with a lead in it; ``LEAD_FIELDS`` are the parameters that only place the lead."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    LEAD_FIELDS: ClassVar[tuple[str, ...]] = ()

    def anatomy_only(self):
        """The same anatomy with the lead at its default place: what a cell population may depend on."""
        return self.model_copy(update={f: type(self).model_fields[f].default for f in self.LEAD_FIELDS})


class DRGParams(_LeadModel):
    LEAD_FIELDS: ClassVar[tuple[str, ...]] = ("lead_id", "contact_over_ganglion", "lead_gap_mm", "lead_angle_deg",
                                              "lead_shift_mm", "contact_slides_mm", "encapsulation_mm",
                                              "placement_notes")

    model: Literal["drg"] = "drg"
    level: str = "L5"
    anatomy: dict | None = Field(None, description="DRGGeometry fields overriding the level's published means")
    lead_id: str = "drg"
    contact_over_ganglion: float = Field(2.5, ge=1, le=4,
                                         description="contact number (fractional) over the ganglion centre")
    lead_gap_mm: float = Field(0.1, ge=0.05, le=5, description="encapsulation surface to the ganglion's sleeve "
                               "(or to the dorsal root or spinal nerve, where one stands out further)")
    lead_angle_deg: float = Field(60.0, ge=-LEAD_ANGLE_LIMIT_DEG, le=LEAD_ANGLE_LIMIT_DEG,
                                  description="side of the ganglion: 0 dorsal, 90 cranial")
    lead_shift_mm: tuple[float, float, float] = Field((0.0, 0.0, 0.0), description="placement error / posture shift")
    placement_notes: tuple[str, ...] = Field((), description="where placing the lead had to depart from its error "
                                             "(reported with the geometry's notes)")
    contact_slides_mm: tuple[float, ...] = Field((0.0,), description="sets of contacts displaced along the lead "
                                                 "(medially, mm) on one lead body: postures that move only the lead "
                                                 "share one mesh (``LeadPlacement.contact_slides_mm``)")
    encapsulation_mm: float = Field(0.3, gt=0.05, le=2)
    domain_mm: float = Field(60.0, gt=20, le=400, description="edge of the tissue domain across the nerve and "
                             "twice its medial extent")
    lateral_mm: float = Field(45.0, gt=15, le=400, description="lateral extent of the domain from the foramen's "
                              "centre, along the spinal nerve")
    conductivities: dict[str, Conductivity] = Field(default_factory=dict)

    def drg(self):
        from drgsim.anatomy.spine import DRGGeometry, drg_geometry

        base = drg_geometry(self.level)
        return DRGGeometry(**{**base.model_dump(), **(self.anatomy or {})})

    def ganglion_centre_mm(self) -> np.ndarray:
        return np.array([self.drg().ganglion_offset_mm, 0.0, 0.0])

    def body_axes(self) -> np.ndarray:
        """Rows: the model's x (nerve), y (dorsal), z axes in body coordinates (x lateral, y dorsal,
        z cranial): the nerve leaves the cord axis at the root take-off angle, caudally."""
        a = np.radians(self.drg().root_angle_deg)
        nerve = np.array([np.sin(a), 0.0, -np.cos(a)])
        dorsal = np.array([0.0, 1.0, 0.0])
        return np.stack([nerve, dorsal, np.cross(nerve, dorsal)])

    def ventral_root_axis_mm(self) -> np.ndarray:
        """Axis of the ventral root: along the ganglion's ventral side at ``ventral_root_gap_mm`` from the
        sleeve (or from the dorsal root or spinal nerve, where one is thicker), from the medial face to the
        ganglion's lateral pole, where it bends over 3 mm into the ventral half of the spinal nerve (which it
        joins) and runs on to the lateral face."""
        g = self.drg()
        vy = self.layout().ventral_root_y_mm
        join = self.ganglion_centre_mm()[0] + g.ganglion_length_mm / 2
        inside = -0.25 * g.spinal_nerve_diameter_mm
        return np.array([[-self.domain_mm / 2, vy, 0.0], [join, vy, 0.0], [join + 3.0, inside, 0.0],
                         [self.lateral_mm, inside, 0.0]])

    def _lead_direction(self) -> np.ndarray:
        a = np.radians(self.lead_angle_deg)
        return np.array([0.0, np.cos(a), np.sin(a)])  # from the ganglion axis towards the lead, in the y-z plane

    def _lead_from_tip_mm(self) -> float:
        from drgsim.devices.leads import get_lead
        from drgsim.fields.lead import TIP_INSULATION_MM

        lead = get_lead(self.lead_id)
        return TIP_INSULATION_MM + lead.contact_length_mm / 2 + (self.contact_over_ganglion - 1) * lead.contact_pitch_mm

    def lead_placement(self) -> LeadPlacement:
        return self._placement(self.layout().lead_radius_mm)

    def _placement(self, lead_radius_mm: float) -> LeadPlacement:
        from_tip = self._lead_from_tip_mm()
        tip = self.ganglion_centre_mm() + np.array([from_tip, 0.0, 0.0]) + lead_radius_mm * self._lead_direction() + \
            np.asarray(self.lead_shift_mm)
        return LeadPlacement(lead_id=self.lead_id, tip_mm=tuple(float(v) for v in tip), direction=(-1.0, 0.0, 0.0),
                             body_length_mm=from_tip + self.domain_mm / 3, contact_slides_mm=self.contact_slides_mm)

    def layout(self) -> DRGLayout:
        """The parts' places with their clearances (``DRGLayout``); a ValueError names the dimension when a
        draw leaves no room for them."""
        from drgsim.devices.leads import get_lead

        g = self.drg()
        t = g.dural_sleeve_thickness_mm + g.sleeve_csf_mm
        semi = np.array([g.ganglion_length_mm, g.ganglion_height_mm, g.ganglion_width_mm]) / 2
        r_root, r_nerve = g.dorsal_root_diameter_mm / 2, g.spinal_nerve_diameter_mm / 2
        r_v = g.ventral_root_diameter_mm / 2
        if g.ventral_root_gap_mm < RADIAL_GAP_MM:
            raise ValueError(f"ventral_root_gap_mm={g.ventral_root_gap_mm:g}; allowed: >= {RADIAL_GAP_MM:g} mm (the "
                             "ventral root would graze the ganglion's sleeve)")
        c = self.ganglion_centre_mm()[0]
        cut_m = c - _cut_fraction(r_root, semi, t, "dorsal_root_diameter_mm") * semi[0]
        cut_l = c + _cut_fraction(r_nerve, semi, t, "spinal_nerve_diameter_mm") * semi[0]
        outer = max(semi[1] + t, r_root, r_nerve)  # what the ventral root runs beside
        vy = -(outer + g.ventral_root_gap_mm + r_v)
        lead = get_lead(self.lead_id)
        u = self._lead_direction()
        surface = 1.0 / np.sqrt((u[1] / semi[1]) ** 2 + (u[2] / semi[2]) ** 2)
        r_env = self.encapsulation_mm + lead.contact_diameter_mm / 2
        lead_r = max(surface + t, r_root, r_nerve) + self.lead_gap_mm + r_env
        notes = list(self.placement_notes)
        # The foramen's tunnel holds the sleeve, the roots and the lead with WALL_CLEARANCE_MM of fat to spare.
        w = WALL_CLEARANCE_MM
        held = [_ring(semi[1:] + t + w), _ring(max(r_root, r_nerve) + w), _ring(r_v + w) + [vy, 0.0],
                _ring(r_env + w) + lead_r * u[1:]]
        a, b = _tunnel(g.foramen_width_mm / 2, g.foramen_height_mm / 2, np.concatenate(held))
        if (a, b) != (g.foramen_width_mm / 2, g.foramen_height_mm / 2):
            notes.append(f"foramen enlarged from {g.foramen_width_mm:.2f} x {g.foramen_height_mm:.2f} to {2 * a:.2f} x "
                         f"{2 * b:.2f} mm (width x height) to hold the ganglion, roots and lead {w:g} mm inside its "
                         "wall")
        features = [cut_m, cut_l, *self._transverse_features(lead_r, c + semi[0], r_v)]
        half = _clear_plane(g.foramen_length_mm / 2, np.array(features))
        if half != g.foramen_length_mm / 2:
            notes.append(f"foramen length {g.foramen_length_mm:.2f} -> {2 * half:.2f} mm so that its faces clear the "
                         f"ganglion's ends, the ventral root's bends and the lead's bands by {PLANE_GAP_MM:g} mm")
        return DRGLayout(cut_m, cut_l, vy, lead_r, a, b, half, tuple(notes))

    def _transverse_features(self, lead_r: float, join: float, r_v: float) -> list[float]:
        """Positions along the nerve (x) that the foramen's faces must clear: the ventral root's bends (balls of
        its radius, at the ganglion's lateral pole ``join`` and 3 mm on) and the lead's band edges and tip (its
        cap reaches TIP_MARGIN_MM beyond it; the lead runs medially from the tip)."""
        place = self._placement(lead_r)
        tip_x = place.tip_mm[0]
        edges = [tip_x - e for band in place.bands() for e in band[:2]] + [tip_x + TIP_MARGIN_MM]
        return [join - r_v, join + r_v, join + 3.0 - r_v, join + 3.0 + r_v, *edges]

    def build(self, mesh) -> Geometry:
        from netgen.occ import Axes, Box, Cylinder, Ellipsoid, Glue, Pnt, Sphere, Vec, X, Y

        g = self.drg()
        lay = self.layout()
        h, lat = self.domain_mm / 2, self.lateral_mm
        c = self.ganglion_centre_mm()
        half_block = lay.foramen_half_length_mm
        need = max(c[0] + g.ganglion_length_mm / 2, half_block) + 5.0
        if lat < need:
            raise ValueError(f"lateral_mm={lat:g}: the domain must reach {need:.1f} mm laterally "
                             "(5 mm past the ganglion's lateral pole and the foramen)")
        outer = Box(Pnt(-h, -h, -h), Pnt(lat, h, h))
        outer.faces.name = "ground"
        block = _slab(-half_block, half_block, (-h, lat), h)
        medial = _slab(-h, -half_block, (-h, lat), h)
        lateral = _slab(half_block, lat, (-h, lat), h)
        tunnel = _elliptic_prism((-h, 0.0, 0.0), (1, 0, 0), (0, 1, 0), lay.foramen_semi_y_mm, lay.foramen_semi_z_mm,
                                 h + lat)
        axes = Axes(Pnt(*c), n=X, h=Y)
        t = g.dural_sleeve_thickness_mm + g.sleeve_csf_mm
        # Ganglion and sleeve end in the planes where the roots begin: no root grazes an ellipsoid's tip.
        ends = Box(Pnt(lay.cut_medial_mm, -h, -h), Pnt(lay.cut_lateral_mm, h, h))
        ganglion = Ellipsoid(axes, g.ganglion_length_mm / 2, g.ganglion_height_mm / 2, g.ganglion_width_mm / 2) * ends
        sleeve = Ellipsoid(axes, g.ganglion_length_mm / 2 + t, g.ganglion_height_mm / 2 + t,
                           g.ganglion_width_mm / 2 + t) * ends
        droot = Cylinder(Pnt(lay.cut_medial_mm, 0, 0), Vec(-1, 0, 0), g.dorsal_root_diameter_mm / 2,
                         lay.cut_medial_mm + h)
        nerve = Cylinder(Pnt(lay.cut_lateral_mm, 0, 0), Vec(1, 0, 0), g.spinal_nerve_diameter_mm / 2,
                         lat - lay.cut_lateral_mm)
        axis = self.ventral_root_axis_mm()
        rv = g.ventral_root_diameter_mm / 2
        vroot = Cylinder(Pnt(*axis[0]), Vec(*(axis[1] - axis[0])), rv, float(np.linalg.norm(axis[1] - axis[0])))
        for p, q in zip(axis[1:-1], axis[2:]):  # a ball at each bend fills its outer corner
            vroot = vroot + Sphere(Pnt(*p), rv) + Cylinder(Pnt(*p), Vec(*(q - p)), rv, float(np.linalg.norm(q - p)))
        placement = self.lead_placement()
        segments, envelope = lead_solids(placement, placement.lead.contact_diameter_mm / 2 + self.encapsulation_mm,
                                         "encapsulation", contact_maxh_mm=mesh.contact_maxh_mm)
        neural = (sleeve + droot + vroot + nerve) * outer
        pieces = {
            "bone": block - tunnel - neural - envelope,
            "fat_foramen": (tunnel * block) - neural - envelope,
            "fat_canal": medial - neural - envelope,
            "muscle": lateral - neural - envelope,
            "epineurium": sleeve - ganglion - droot - nerve - vroot - envelope,
            "ganglion": ganglion - envelope,
            "root": ((droot + vroot) * outer) - ganglion - nerve - envelope,
            "nerve": (nerve * outer) - ganglion - envelope,
        }
        for name, shape in pieces.items():
            shape.mat(name)
            if name in ("ganglion", "epineurium", "root", "nerve", "fat_foramen"):
                shape.maxh = mesh.near_maxh_mm  # where the DRG neurons and root fibres run
        axis = (1.0, 0.0, 0.0)
        cond = lambda name: (conductivity(name, self.conductivities), axis)  # noqa: E731
        materials = {"bone": cond("bone"), "fat_foramen": cond("epidural_fat"), "fat_canal": cond("epidural_fat"),
                     "muscle": cond("muscle"), "epineurium": cond("epineurium"), "ganglion": cond("ganglion"),
                     "root": cond("root"), "nerve": cond("root"), "encapsulation": cond("encapsulation")}
        return Geometry.with_lead(Glue([*pieces.values(), *segments]), materials, placement, lay.notes)


ROOTLET_GAP_MM = 0.3  # a dorsal rootlet's end from the inner dura
CORD_GAP_MM = 0.5  # the cord's surface from the inner dura, everywhere (0.3 mm left an unmeshable wedge)


def _ellipse_gap(inner: tuple[float, float, float, float], outer: tuple[float, float, float, float],
                 n: int = 360) -> float:
    """Least distance between the ellipse ``inner`` (x, y, a, b) and the ellipse ``outer`` holding it."""
    th = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    pts = [np.stack([x + a * np.cos(th), y + b * np.sin(th)], axis=1) for x, y, a, b in (inner, outer)]
    return float(np.sqrt(((pts[0][:, None, :] - pts[1][None, :, :]) ** 2).sum(-1).min()))


def _rest_cord(cord: tuple[float, float, float, float], sac: tuple[float, float, float, float]) -> tuple[float, float]:
    """The cord's centre (x, y): where the canal's numbers put it, or, where its surface would come within
    ``CORD_GAP_MM`` of the inner dura (an offset cord falling ventrally in a sac that narrows there), the
    nearest place towards the sac's centre where it rests that far inside (a cord cannot cross the dura;
    the grazing surfaces could not be meshed)."""
    x, y, a, b = cord
    if _ellipse_gap(cord, sac) >= CORD_GAP_MM - 1e-6:  # the mean prone cord rests at the gap itself
        return x, y
    at = lambda s: (x * (1 - s), y + s * (sac[1] - y), a, b)  # noqa: E731
    if _ellipse_gap(at(1.0), sac) < CORD_GAP_MM:
        raise ValueError(f"cord_lr_mm={2 * a:g}, cord_ap_mm={2 * b:g}: the cord does not fit the dural sac "
                         f"({2 * sac[2]:.2f} x {2 * sac[3]:.2f} mm inside)")
    lo, hi = 0.0, 1.0
    for _ in range(24):  # to 6e-8 of the way
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if _ellipse_gap(at(mid), sac) >= CORD_GAP_MM else (mid, hi)
    return at(hi)[:2]


class SCSParams(_LeadModel):
    LEAD_FIELDS: ClassVar[tuple[str, ...]] = ("lead_id", "lead_offset_mm", "encapsulation_mm")

    model: Literal["scs"] = "scs"
    level: str = "T10"
    posture: str = "supine"
    anatomy: dict | None = Field(None, description="CanalGeometry fields overriding the level's means")
    dcsf_mm: float | None = Field(None, gt=0.2, le=15, description="dorsal CSF thickness (overrides anatomy)")
    lead_id: str = "scs8"
    lead_offset_mm: float = Field(0.0, ge=-10, le=10, description="lateral offset of the lead (+ left)")
    lead_centre_z_mm: float = Field(0.0, ge=-50, le=50, description="array centre along the cord")
    encapsulation_mm: float = Field(0.2, gt=0.05, le=2)
    length_mm: float = Field(80.0, gt=30, le=400, description="modelled length of the spine")
    domain_mm: float = Field(80.0, gt=30, le=400, description="edge of the tissue domain (x, y)")
    rootlet_diameter_mm: float = Field(0.8, gt=0.1, le=3)
    conductivities: dict[str, Conductivity] = Field(default_factory=dict)

    def canal(self):
        from drgsim.anatomy.spine import CanalGeometry, canal_geometry

        base = canal_geometry(self.level, self.posture)
        fields = {**base.model_dump(), **(self.anatomy or {})}
        if self.dcsf_mm is not None:
            fields["dcsf_mm"] = self.dcsf_mm
        return CanalGeometry(**fields)

    def layout(self) -> dict[str, float]:
        """Centres (y) and semi-axes of the canal, dural sac and cord, in the model frame."""
        k = self.canal()
        canal_b = k.canal_ap_mm / 2
        dura_out_dorsal = canal_b - k.epidural_fat_mm
        dura_in_dorsal = dura_out_dorsal - k.dura_thickness_mm
        cord_b = k.cord_ap_mm / 2
        cord_y = dura_in_dorsal - k.dcsf_mm - cord_b
        sac_a = k.canal_lr_mm / 2 - 1.0
        sac_b = (dura_out_dorsal + canal_b - 0.5) / 2
        sac_y = dura_out_dorsal - sac_b
        if cord_y - cord_b < sac_y - sac_b + k.dura_thickness_mm + 0.3:
            raise ValueError(f"dcsf_mm={k.dcsf_mm}: the cord ({k.cord_ap_mm} mm) does not fit below that much dorsal "
                             f"CSF in a {k.canal_ap_mm} mm canal")
        inner = (0.0, sac_y, sac_a - k.dura_thickness_mm, sac_b - k.dura_thickness_mm)
        placed = (k.cord_offset_mm, cord_y)
        cord_x, cord_y = _rest_cord((*placed, k.cord_lr_mm / 2, cord_b), inner)
        return dict(canal_a=k.canal_lr_mm / 2, canal_b=canal_b, sac_a=sac_a, sac_b=sac_b, sac_y=sac_y,
                    cord_a=k.cord_lr_mm / 2, cord_b=cord_b, cord_y=cord_y, cord_x=cord_x,
                    dura=k.dura_thickness_mm, dura_dorsal_y=dura_out_dorsal, bone=k.vertebral_bone_mm,
                    grey=k.grey_ap_fraction,
                    dcsf=k.dcsf_mm if (cord_x, cord_y) == placed else dura_in_dorsal - cord_y - cord_b)

    def notes(self) -> list[str]:
        """Where the cord had to rest on the dura: its dCSF and offset as modelled."""
        k, lay = self.canal(), self.layout()
        if (lay["cord_x"], lay["dcsf"]) == (k.cord_offset_mm, k.dcsf_mm):
            return []
        return [f"the cord rests {CORD_GAP_MM} mm inside the dura instead of crossing it: dCSF {k.dcsf_mm:.2f} -> "
                f"{lay['dcsf']:.2f} mm, cord offset {k.cord_offset_mm:.2f} -> {lay['cord_x']:.2f} mm"]

    def lead_placement(self) -> LeadPlacement:
        from drgsim.devices.leads import get_lead

        lay = self.layout()
        lead = get_lead(self.lead_id)
        r = lead.contact_diameter_mm / 2
        y = lay["dura_dorsal_y"] + self.encapsulation_mm + r + 0.05
        from drgsim.fields.lead import TIP_INSULATION_MM

        half_span = (lead.n_contacts - 1) * lead.contact_pitch_mm / 2
        tip_z = self.lead_centre_z_mm + half_span + TIP_INSULATION_MM + lead.contact_length_mm / 2
        # Tip cranial, lead running caudally towards its entry.
        return LeadPlacement(lead_id=self.lead_id, tip_mm=(self.lead_offset_mm, y, tip_z), direction=(0.0, 0.0, -1.0),
                             body_length_mm=tip_z + self.length_mm / 2 - 1.0)

    def build(self, mesh) -> Geometry:
        from netgen.occ import Box, Glue, Pnt

        lay = self.layout()
        L = self.length_mm
        half = self.domain_mm / 2
        z0 = -L / 2
        ell = lambda a, b, x=0.0, y=0.0: _z_elliptic_cylinder(x, y, a, b, z0, L)  # noqa: E731
        outer = Box(Pnt(-half, -half, z0), Pnt(half, half, z0 + L))
        outer.faces.name = "ground"
        vertebra = ell(lay["canal_a"] + lay["bone"], lay["canal_b"] + lay["bone"])
        canal = ell(lay["canal_a"], lay["canal_b"])
        sac = ell(lay["sac_a"], lay["sac_b"], 0.0, lay["sac_y"])
        sac_in = ell(lay["sac_a"] - lay["dura"], lay["sac_b"] - lay["dura"], 0.0, lay["sac_y"])
        cord = ell(lay["cord_a"], lay["cord_b"], lay["cord_x"], lay["cord_y"])
        grey = ell(lay["cord_a"] * 0.55, lay["cord_b"] * lay["grey"], lay["cord_x"], lay["cord_y"])
        placement = self.lead_placement()
        segments, envelope = lead_solids(placement, placement.lead.contact_diameter_mm / 2 + self.encapsulation_mm,
                                         "encapsulation", contact_maxh_mm=mesh.contact_maxh_mm)
        rootlets, root_axes = self._rootlets(lay, sac_in)
        roots = None
        for r in rootlets:
            roots = r if roots is None else roots + r
        tissue = outer - vertebra
        bone = vertebra - canal
        fat = canal - sac - envelope
        dura = sac - sac_in - envelope
        csf = sac_in - cord - roots
        white = cord - grey
        for shape, mat in ((tissue, "tissue"), (bone, "bone"), (fat, "epidural_fat"), (dura, "dura"), (csf, "csf"),
                           (white, "white_matter"), (grey, "grey_matter")):
            shape.mat(mat)
        for shape in (white, grey, dura):  # where the dorsal-column fibres run; the dura is a thin shell
            shape.maxh = mesh.near_maxh_mm
        pieces = [tissue, bone, fat, dura, csf, white, grey, *segments]
        for k, r in enumerate(rootlets):
            piece = r * sac_in - cord
            piece.mat(f"rootlet{k}")
            pieces.append(piece)
        cond = lambda name: conductivity(name, self.conductivities)  # noqa: E731
        z = (0.0, 0.0, 1.0)
        materials = {"tissue": (cond("fat"), z), "bone": (cond("bone"), z), "epidural_fat": (cond("epidural_fat"), z),
                     "dura": (cond("dura"), z), "csf": (cond("csf"), z), "white_matter": (cond("white_matter"), z),
                     "grey_matter": (cond("grey_matter"), z), "encapsulation": (cond("encapsulation"), z)}
        for k, axis in enumerate(root_axes):
            materials[f"rootlet{k}"] = (cond("root"), axis)
        return Geometry.with_lead(Glue(pieces), materials, placement, self.notes())

    def rootlet_paths(self) -> list[np.ndarray]:
        """Dorsal rootlets at the lead's level: from the dorsolateral sulcus, laterally and caudally
        across the CSF (both sides), as (2, 3) segments. Each begins buried in the cord (its start cap
        ``ROOTLET_GAP_MM`` inside the cord's surface; ``build`` keeps only its part in the CSF) and ends
        with its end cap that far inside the dura: a cap grazing either surface left slivers that Netgen
        could not mesh."""
        lay = self.layout()
        r = self.rootlet_diameter_mm / 2
        paths = []
        for sx in (-1.0, 1.0):
            sulcus = np.array([lay["cord_x"] + sx * lay["cord_a"] * 0.6, lay["cord_y"] + lay["cord_b"] * 0.75,
                               self.lead_centre_z_mm])
            d = np.array([sx * 0.8, 0.25, -0.55])
            d /= np.linalg.norm(d)
            rel = sulcus - np.array([lay["cord_x"], 0.0, 0.0])
            surface = sulcus + d * _ray_to_ellipse(rel, d, lay["cord_a"], lay["cord_b"], lay["cord_y"])
            start = surface - d * _buried(surface, d, r, lay)
            inset = lay["dura"] + ROOTLET_GAP_MM + r
            t = _ray_to_ellipse(sulcus, d, lay["sac_a"] - inset, lay["sac_b"] - inset, lay["sac_y"])
            paths.append(np.stack([start, sulcus + d * t]))
        return paths

    def _rootlets(self, lay, sac_in):
        from netgen.occ import Cylinder, Pnt, Vec

        shapes, axes = [], []
        for p in self.rootlet_paths():
            d = p[1] - p[0]
            length = float(np.linalg.norm(d))
            shapes.append(Cylinder(Pnt(*p[0]), Vec(*(d / length)), self.rootlet_diameter_mm / 2, length))
            axes.append(tuple(float(x) for x in d / length))
        return shapes, axes


def _cut_fraction(r: float, semi: np.ndarray, t: float, name: str) -> float:
    """Where (fraction of the half-length) the ganglion and its sleeve end in the plane from which a root of
    radius ``r`` runs on: the first of ``CUT_FRACTIONS`` at which ``r`` differs from the semi-axes of both
    cut outlines by at least ``RADIAL_GAP_MM`` (outlines nearly touching in the plane leave slivers)."""
    for f in CUT_FRACTIONS:
        inner = np.sqrt(1 - f**2) * semi[1:]
        outer = np.sqrt(1 - (f * semi[0] / (semi[0] + t)) ** 2) * (semi[1:] + t)
        if np.all(np.abs(np.concatenate([inner, outer]) - r) >= RADIAL_GAP_MM):
            return f
    raise ValueError(f"{name}={2 * r:g}: the root's outline grazes the ganglion's ({2 * semi[1]:.2f} x "
                     f"{2 * semi[2]:.2f} mm) wherever it could leave it")


def _ring(radii, n: int = 144) -> np.ndarray:
    """Points (y, z) on an ellipse (or circle) about the nerve axis."""
    th = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    return np.stack([np.cos(th), np.sin(th)], axis=1) * radii


def _tunnel(a: float, b: float, points: np.ndarray) -> tuple[float, float]:
    """Semi-axes (y, z) of the smallest-area ellipse at least (a, b) that holds ``points`` (y, z): (a, b) itself
    when it does."""
    y, z = np.abs(points[:, 0]), np.abs(points[:, 1])
    if np.all((y / a) ** 2 + (z / b) ** 2 <= 1.0):
        return a, b
    best = None
    for a2 in a + np.arange(0.0, 4 * a + 10.0, 0.01):
        if np.any(y >= a2):
            continue
        b2 = max(b, float(np.max(z / np.sqrt(1.0 - (y / a2) ** 2))))
        if best is None or a2 * b2 < best[0] * best[1] - 1e-12:
            best = (float(a2), b2)
    return best


def _clear_plane(half: float, features: np.ndarray, step: float = 0.05, most: float = 5.0) -> float:
    """The half-length nearest ``half`` (in ``step``s, longer first on a tie) whose faces at +-x lie
    ``PLANE_GAP_MM`` from every feature."""
    for k in range(int(most / step) + 1):
        for x in (half + k * step, half - k * step):
            if x > PLANE_GAP_MM and np.all(np.abs(features + x) >= PLANE_GAP_MM) and \
                    np.all(np.abs(features - x) >= PLANE_GAP_MM):
                return x
    raise ValueError(f"foramen_length_mm={2 * half:g}: no length within {most:g} mm clears the ganglion's ends, "
                     "the ventral root's bends and the lead's bands")


def _slab(x0: float, x1: float, x_range: tuple[float, float], h: float):
    """The part x0 <= x <= x1 of the box x_range x [-h, h]^2, its faces on the box's surface named "ground"
    (the distant return); the faces it shares with its neighbouring slabs stay unnamed."""
    from netgen.occ import Box, Pnt, X, Y, Z

    box = Box(Pnt(x0, -h, -h), Pnt(x1, h, h))
    for axis in (Y, Z):
        box.faces.Min(axis).name = "ground"
        box.faces.Max(axis).name = "ground"
    if x0 <= x_range[0]:
        box.faces.Min(X).name = "ground"
    if x1 >= x_range[1]:
        box.faces.Max(X).name = "ground"
    return box


def _buried(surface: np.ndarray, d: np.ndarray, r: float, lay: dict) -> float:
    """How far behind the point where its axis leaves the cord a rootlet of radius ``r`` along ``d`` must
    begin for its start cap to lie ``ROOTLET_GAP_MM`` inside the cord's surface everywhere."""
    u = np.cross(d, [0.0, 0.0, 1.0])
    u /= np.linalg.norm(u)
    v = np.cross(d, u)
    th = np.linspace(0.0, 2 * np.pi, 72, endpoint=False)
    rim = r * (np.outer(np.cos(th), u) + np.outer(np.sin(th), v))
    a, b = lay["cord_a"] - ROOTLET_GAP_MM, lay["cord_b"] - ROOTLET_GAP_MM
    for bury in np.arange(0.5, 3.0, 0.05):
        p = surface - d * bury + rim
        if np.all(((p[:, 0] - lay["cord_x"]) / a) ** 2 + ((p[:, 1] - lay["cord_y"]) / b) ** 2 < 1.0):
            return float(bury)
    raise ValueError(f"rootlet_diameter_mm={2 * r:g}: a rootlet that thick cannot begin inside the cord")


def _ray_to_ellipse(p, d, a, b, yc) -> float:
    """Distance along d from p (inside) to the elliptic cylinder x^2/a^2 + (y-yc)^2/b^2 = 1."""
    px, py = p[0], p[1] - yc
    A = d[0] ** 2 / a**2 + d[1] ** 2 / b**2
    B = 2 * (px * d[0] / a**2 + py * d[1] / b**2)
    C = px**2 / a**2 + py**2 / b**2 - 1
    return float((-B + np.sqrt(B * B - 4 * A * C)) / (2 * A))


def _z_elliptic_cylinder(x, y, a, b, z0, length):
    """Elliptic cylinder along z from z0: centre (x, y), semi-axes a along x and b along y."""
    return _elliptic_prism((x, y, z0), (0, 0, 1), (1, 0, 0), a, b, length)


def _elliptic_prism(origin, axis, dir1, s1, s2, length):
    """Elliptic cylinder from ``origin`` along ``axis``: semi-axis s1 along dir1 and s2 along axis x dir1.

    OCC ellipses need the major radius first, so the workplane's h axis takes the longer one.
    """
    from netgen.occ import Axes, Pnt, Vec, WorkPlane

    n = np.asarray(axis, dtype=float)
    d1 = np.asarray(dir1, dtype=float)
    d2 = np.cross(n, d1)
    # WorkPlane(Axes(n, h)).Ellipse(major, minor): major along h, minor along n x h.
    h, major, minor = (d1, s1, s2) if s1 >= s2 else (-d2, s2, s1)
    wp = WorkPlane(Axes(Pnt(*origin), n=Vec(*n), h=Vec(*h)))
    return wp.Ellipse(major, minor).Face().Extrude(length)


class EpineuralParams(BaseModel):
    """A ganglion in a saline bath with a bipolar epineural electrode on its dorsal surface: the scenario of
    Farooqui et al. 2024 (J Neural Eng 21:056030), rebuilt from their published cell placements.

    Frame: x along the ganglion (the dorsal root leaves at -x, the spinal nerve at +x), y dorsal. The
    ganglion is an ellipsoid (semi-axes ``half_length_mm`` along x, ``radius_mm`` across) cut flat at
    ``ventral_flat_mm`` below its axis, as the cell positions in Farooqui's data are (4 mm populated
    length, 1.5 mm radius at mid-length and 1.31 mm at 1.9 mm from it, nothing below -0.7 mm), inside an
    epineurium, and cut across at 0.8 of its half-length, where root and nerve leave as cylinders that
    run to the bath's faces. The electrode: a disc contact over the ganglion's centre in
    a thin insulating pad that follows the dorsal surface. Its return is distant (the bath's outer faces,
    the ground): Farooqui's data label the stimulation bipolar but name saline as the ground, and no
    second cluster of initiation sites appears anywhere (their stem-node initiations lie under the
    centred contact, x 24 um median, IQR -166..158 um, and follow it when it moves 0.75 mm), so their
    return's effect is not visible; a return 1.5-3 mm away on the ganglion makes most activation happen
    beside it in drgsim. Contact size, pad, epineurium and bath are not in their published data: stated
    assumptions [unverified].
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Literal["epineural"] = "epineural"
    half_length_mm: float = Field(3.9, gt=1, le=20)
    radius_mm: float = Field(1.5, gt=0.3, le=10)
    ventral_flat_mm: float = Field(0.7, gt=0.1, le=10, description="flat ventral face below the axis")
    root_radius_mm: float = Field(0.8, gt=0.1, le=5, description="below the cut face's 0.6 x radius_mm")
    epineurium_mm: float = Field(0.05, gt=0.03, le=1)
    contact_diameter_mm: float = Field(0.5, gt=0.05, le=3)
    pad_thickness_mm: float = Field(0.1, gt=0.02, le=2)
    pad_size_mm: tuple[float, float] = (3.0, 2.0)
    bath_mm: float = Field(30.0, gt=10, le=200, description="edge of the cubic saline bath")
    conductivities: dict[str, Conductivity] = Field(default_factory=dict)

    def contact_centre_mm(self) -> np.ndarray:
        """Centre of the contact's face, on the epineurium's dorsal surface."""
        return np.array([0.0, self.radius_mm + self.epineurium_mm, 0.0])

    def build(self, mesh) -> Geometry:
        from netgen.occ import Axes, Box, Cylinder, Ellipsoid, Glue, Pnt, Vec, X, Y

        h = self.bath_mm / 2
        r, e, a = self.radius_mm, self.epineurium_mm, self.half_length_mm
        bath = Box(Pnt(-h, -h, -h), Pnt(h, h, h))
        bath.faces.name = "ground"
        axes = Axes(Pnt(0, 0, 0), n=X, h=Y)
        shell = lambda d: Ellipsoid(axes, a + d, r + d, r + d)  # noqa: E731
        pole = a * 0.8  # the ellipsoid is cut there (no degenerate tips); root and nerve start at the cuts
        body = Box(Pnt(-pole, -self.ventral_flat_mm, -h), Pnt(pole, h, h))
        ganglion = shell(0.0) * body
        sheath = shell(e) * Box(Pnt(-pole, -self.ventral_flat_mm - e, -h), Pnt(pole, h, h))
        roots = (Cylinder(Pnt(-pole, 0, 0), Vec(-1, 0, 0), self.root_radius_mm, h) +
                 Cylinder(Pnt(pole, 0, 0), Vec(1, 0, 0), self.root_radius_mm, h)) * bath
        T = self.pad_thickness_mm
        L, W = self.pad_size_mm
        pad = (shell(e + T) - shell(e)) * Box(Pnt(-L / 2, 0, -W / 2), Pnt(L / 2, h, W / 2))
        disc = Cylinder(Pnt(0, 0, 0), Vec(0, 1, 0), self.contact_diameter_mm / 2, h) * (shell(e + T / 2) -
                                                                                    shell(e - 0.02))
        disc.faces.name = "contact1"
        disc.faces.maxh = mesh.contact_maxh_mm
        insulator = pad + disc
        neural = ganglion + roots
        pieces = {"saline": bath - sheath - roots - insulator, "epineurium": sheath - neural - insulator,
                  "ganglion": ganglion, "root": roots - sheath}
        for name, shape in pieces.items():
            shape.mat(name)
            if name != "saline":
                shape.maxh = mesh.near_maxh_mm
        cond = lambda name: (conductivity(name, self.conductivities), (1.0, 0.0, 0.0))  # noqa: E731
        materials = {name: cond(name) for name in pieces}
        return Geometry(Glue(list(pieces.values())), materials, ["contact1"])
