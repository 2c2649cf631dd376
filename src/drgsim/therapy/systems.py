"""The stimulation systems, one registry entry each: everything therapy, cohort and clinic know of a system.

A ``SystemSpec`` names a system's devices (its IPG and trial stimulator in the device catalog, and through
them the leads each accepts), the field model of one lead, the cells that lead can reach, the optimizer's
pulse grid, which cells count as motor or discomfort, and the planning rule that places its leads. The
implant (``Implant``: one system's IPG and leads) carries each lead's catalog model, and the field is built
for that lead. A third system is one ``SystemSpec`` here plus its catalog data (devices, leads).

Geometry per lead and posture:
- DRG: the patient's ganglion at the lead's level and side; the lead beside it with the patient's
  placement error, its contacts moved along the lead by the posture's displacement (posture.json).
  The ganglion and its cells do not depend on posture, so one field holds every posture of a lead:
  one contact set per distinct displacement on the same lead body (``contact_slides_mm``), one mesh.
- SCS: the patient's canal at the lead's level in that posture (dCSF, cord offset); the lead over
  the dorsal midline, offset towards the painful side (``SCS_IPSILATERAL_OFFSET_MM``) plus the
  patient's lateral placement error. The cells move with the cord.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from drgsim.anatomy.levels import Level, Side
from drgsim.anatomy.patient import Patient
from drgsim.anatomy.planning import plan_targets
from drgsim.anatomy.posture import Posture, drg_lead_displacement_mm
from drgsim.anatomy.spine import CANAL_LEVELS
from drgsim.devices.hardware import IPGModel, System, default_model_id, get_ipg_model
from drgsim.fields.anatomy_models import LEAD_ANGLE_LIMIT_DEG, DRGParams, SCSParams
from drgsim.populations import Population
from drgsim.populations.drg import drg_population
from drgsim.populations.scs import scs_population

SCS_IPSILATERAL_OFFSET_MM = 1.0  # SCS lead placed this far from the midline towards unilateral pain [project default]
_FROZEN = ConfigDict(extra="forbid", frozen=True)


class LeadPlan(BaseModel):
    """Where one lead lies: a DRG lead beside the ganglion of (level, side); an SCS lead over the
    dorsal columns at a thoracic level, ``lateral_offset_mm`` from the midline (+ left). ``lead_model``
    is the lead's catalog id (the implant's device's default lead model when not given)."""

    model_config = _FROZEN

    level: Level
    side: Side
    lateral_offset_mm: float = Field(0.0, ge=-10, le=10)
    lead_model: str | None = None


class Implant(BaseModel):
    """One system's leads and pulse generator for one patient: the device is of the system, holds the
    leads and accepts each lead's model."""

    model_config = _FROZEN

    system: System
    ipg_model: str
    leads: list[LeadPlan] = Field(min_length=1)

    @model_validator(mode="after")
    def _fits_the_device(self) -> Implant:
        try:
            ipg = get_ipg_model(self.ipg_model)
        except KeyError as err:
            raise ValueError(f"ipg_model: {err.args[0]}") from None
        if ipg.system != self.system:
            raise ValueError(f"ipg_model={self.ipg_model!r} is a {ipg.system} device; allowed: a {self.system} device")
        if len(self.leads) > ipg.max_leads:
            raise ValueError(f"leads: {len(self.leads)} given; allowed: 1-{ipg.max_leads} for {ipg.id}")
        for k, lead in enumerate(self.leads):
            if lead.lead_model is None:
                self.leads[k] = lead.model_copy(update={"lead_model": ipg.default_lead_model.id})
            elif lead.lead_model not in ipg.lead_models:
                raise ValueError(f"leads.{k}.lead_model={lead.lead_model!r}; allowed for {ipg.id}: "
                                 f"{', '.join(ipg.lead_models)}")
        return self

    def ipg(self) -> IPGModel:
        return get_ipg_model(self.ipg_model)


@dataclass(frozen=True)
class SystemSpec:
    """One system: its catalog devices, lead field model, cells, optimizer grid and planning rule."""

    system: System
    colour: str  # in figures
    field_params: Callable[[Patient, LeadPlan, Posture], BaseModel]  # the field model of one lead in one posture
    contact_set: Callable[[Posture], int]  # which of the field's contact sets a posture uses
    population_quality: str  # the ``Quality`` field holding this system's population settings
    population_counts: tuple[str, ...]  # its fields that count cells (``Quality.scaled`` scales them)
    build_population: Callable[[BaseModel, BaseModel], Population]
    population_update: Callable[[LeadPlan], dict]  # per-lead settings of the population (besides its seed)
    plan_leads: Callable[[Patient, IPGModel], list[LeadPlan]]
    pulse_widths_us: tuple[float, ...]  # the optimizer's pulse widths, in the order it tries them
    frequency_hz: float  # the optimizer's frequency
    motor_kinds: tuple[str, ...]  # cells whose activation is a motor response
    discomfort_kinds: tuple[str, ...]  # cells whose activation is uncomfortable (the window's upper end)

    @property
    def label(self) -> str:
        return self.system.value.upper()

    def device(self, kind: str = "ipg") -> IPGModel:
        """The catalog's device of this system: the implanted ``ipg`` or the external ``trial`` stimulator."""
        return get_ipg_model(default_model_id(self.system.value, kind))

    def plan(self, patient: Patient, kind: str = "ipg") -> Implant:
        """The implant a clinician would plan for ``patient`` with the ``kind`` device (``Implant`` gives each lead
        the device's default lead model)."""
        ipg = self.device(kind)
        return Implant(system=self.system, ipg_model=ipg.id, leads=self.plan_leads(patient, ipg))


# The contact sets of a DRG lead's field: one per distinct posture displacement, supine's first.
DRG_SLIDES_MM = tuple(dict.fromkeys(drg_lead_displacement_mm(p) for p in Posture))


def _lead_id(lead: LeadPlan) -> dict[str, str]:
    """The lead's catalog model for a field model, or nothing (the field model's default lead) for a bare plan."""
    return {"lead_id": lead.lead_model} if lead.lead_model else {}


def _drg_params(patient: Patient, lead: LeadPlan, posture: Posture = Posture.SUPINE) -> DRGParams:
    """The patient's ganglion and the lead beside it (every posture: one field). The placement error moves the
    lead along the nerve, around the ganglion (its cross-section component tangent to the sleeve) and away
    from it (the outward radial component); a lead cannot go into the sleeve, so an inward error leaves it
    resting on the sleeve at the planned gap, nor past the ganglion's cranial or caudal side (the ventral root
    lies beyond), where it rests, noted in the run report. Each posture slides the contacts along the lead
    (``DRG_SLIDES_MM``), the lead's body and tip staying at the supine place: in the homogeneous test of issue
    13's note the slid contacts' potentials differ from a lead moved whole by 0.4-0.6% of their peak, as much
    as two meshes of one geometry differ."""
    g = patient.ganglion(lead.level, lead.side)
    along, cranial, dorsal = g.drg_lead_error_mm  # model frame: x along the nerve, y dorsal, z ~ cranial
    base = DRGParams(level=lead.level.value, anatomy=g.geometry.model_dump(mode="json"), **_lead_id(lead))
    a = np.radians(base.lead_angle_deg)
    radial = dorsal * np.cos(a) + cranial * np.sin(a)
    tangential = -dorsal * np.sin(a) + cranial * np.cos(a)
    tip = np.asarray(base.lead_placement().tip_mm) - base.ganglion_centre_mm()
    angle = float(base.lead_angle_deg + np.degrees(tangential / float(np.hypot(tip[1], tip[2]))))
    rest = float(np.clip(angle, -LEAD_ANGLE_LIMIT_DEG, LEAD_ANGLE_LIMIT_DEG))
    notes = () if rest == angle else (
        f"the placement error ({tangential:+.2f} mm around the ganglion) would take the lead to {angle:.1f} deg, past "
        f"the ganglion's {'cranial' if angle > 0 else 'caudal'} side: it rests there at {rest:g} deg",)
    return DRGParams.model_validate({
        **base.model_dump(), "lead_angle_deg": rest, "lead_gap_mm": float(base.lead_gap_mm + max(radial, 0.0)),
        "lead_shift_mm": (float(along), 0.0, 0.0), "contact_slides_mm": DRG_SLIDES_MM, "placement_notes": notes})


def _scs_params(patient: Patient, lead: LeadPlan, posture: Posture) -> SCSParams:
    if lead.level.value not in CANAL_LEVELS:
        raise ValueError(f"SCS lead level={lead.level.value}; allowed: {', '.join(CANAL_LEVELS)}")
    canal = patient.canal_geometry(lead.level, posture)
    return SCSParams(level=lead.level.value, posture=posture.value, anatomy=canal.model_dump(mode="json"),
                     lead_offset_mm=lead.lateral_offset_mm + patient.scs_lead_lateral_error_mm, **_lead_id(lead))


def _plan_drg(patient: Patient, ipg: IPGModel) -> list[LeadPlan]:
    """A lead at each recommended ganglion of the pain map, at most the device's lead count."""
    plan = plan_targets(patient.pain_map, max_leads=ipg.max_leads)
    return [LeadPlan(level=t.level, side=t.side) for t in plan.recommended]


def _plan_scs(patient: Patient, ipg: IPGModel) -> list[LeadPlan]:
    """One lead at T10 over the dorsal columns, towards the painful side when the pain is on one side."""
    sides = {t.side for t in plan_targets(patient.pain_map, max_leads=ipg.max_leads).recommended}
    sign = 0.0 if len(sides) != 1 else (1.0 if sides == {Side.LEFT} else -1.0)
    return [LeadPlan(level=Level.T10, side=next(iter(sides)) if sides else Side.LEFT,
                     lateral_offset_mm=sign * SCS_IPSILATERAL_OFFSET_MM)]


SYSTEMS: dict[System, SystemSpec] = {spec.system: spec for spec in (
    SystemSpec(System.DRG, colour="#1f77b4", field_params=_drg_params,
               contact_set=lambda posture: DRG_SLIDES_MM.index(drg_lead_displacement_mm(posture)),
               population_quality="drg_population", population_counts=("n_neurons", "n_motor"),
               build_population=drg_population,
               population_update=lambda lead: {"side": lead.side.value}, plan_leads=_plan_drg,
               pulse_widths_us=(300.0, 200.0, 120.0), frequency_hz=20.0,
               motor_kinds=("motor",), discomfort_kinds=("adelta", "c", "motor")),
    SystemSpec(System.SCS, colour="#d62728", field_params=_scs_params, contact_set=lambda posture: 0,
               population_quality="scs_population", population_counts=("n_dorsal_column", "n_dorsal_root"),
               build_population=scs_population,
               population_update=lambda lead: {}, plan_leads=_plan_scs,
               pulse_widths_us=(300.0, 200.0, 450.0), frequency_hz=50.0,
               motor_kinds=("dorsal_root",), discomfort_kinds=("dorsal_root",)),
)}


def system_spec(system: System | str) -> SystemSpec:
    """The registry entry of ``system``; a clear error naming the allowed systems otherwise."""
    try:
        return SYSTEMS[System(system)]
    except ValueError:
        raise ValueError(f"system={system!r}; allowed: {', '.join(s.value for s in SYSTEMS)}") from None


def plan_implant(patient: Patient, system: System | str, kind: str = "ipg") -> Implant:
    """The implant a clinician would plan: DRG leads at the recommended targets of the pain map (at most
    the IPG's lead count); one SCS lead at T10 over the painful side's dorsal columns. ``kind="trial"``
    plans the trial's external stimulator and temporary leads."""
    return system_spec(system).plan(patient, kind)
