"""The JSON API under ``/api/v1``: the pathway's operations of ``drgsim.clinic.service``, answering JSON.
A device refusal answers 409 with the device's reason; invalid bodies answer 422 naming the field."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from drgsim.clinic import service as svc
from drgsim.clinic.deps import CommitFirst, Ctx, ctx, iso, prediction
from drgsim.clinic.guards import json_safe
from drgsim.clinic.models import (
    AdverseEvent,
    AuditEntry,
    FollowUp,
    ImplantRecord,
    ParesthesiaMapRecord,
    Patient,
    PlanRecord,
    Screening,
    ThresholdRecord,
)
from drgsim.clinic.schemas import (
    AdverseEventIn,
    ClosedLoopIn,
    DecisionIn,
    DiaryIn,
    FollowUpIn,
    ImplantIn,
    LeadIn,
    MappingIn,
    PainMapIn,
    PatientIn,
    PatientSearchIn,
    PlanIn,
    ProgramIn,
    RampIn,
    ReplacementIn,
    ScreeningIn,
    StepIn,
    TherapyIn,
    ThresholdIn,
    TrialIn,
)

router = APIRouter(prefix="/api/v1", tags=["api"], route_class=CommitFirst)


# ------------------------------------------------------------ JSON views
def device_body(out: svc.DeviceOutcome, **extra: Any) -> JSONResponse:
    body = {"accepted": out.accepted, "reason": out.reason, "warnings": out.warnings, **extra}
    return JSONResponse(body, status_code=200 if out.accepted else 409)


def device_json(row) -> dict[str, Any]:
    dev = svc.load_device(row)
    return {"serial": row.serial, "kind": row.kind, "model": row.model_id, "leads": row.leads,
            "status": dev.status().model_dump(mode="json"), "programs": dev.snapshot()["programs"]}


def contact_check_json(out: svc.DeviceOutcome, lead: int) -> list[dict[str, Any]]:
    """The lead's last contact check on the device: ohms and open/short flag per contact, contact 1 first."""
    chk = out.device.state.contact_checks.get(lead)
    return [] if chk is None else [{"contact": i, "impedance_ohm": z, "flag": f}
                                   for i, (z, f) in enumerate(zip(chk.impedance_ohm, chk.flags), start=1)]


def threshold_json(t: ThresholdRecord) -> dict[str, Any]:
    return {"id": t.id, "program": t.program, "lead": t.lead, "contacts": t.contacts,
            "pulse_width_us": t.pulse_width_us, "frequency_hz": t.frequency_hz, "perception_ma": t.perception_ma,
            "comfort_ma": t.comfort_ma, "discomfort_ma": t.discomfort_ma, "captured_at": iso(t.created_at)}


def mapping_json(m: ParesthesiaMapRecord) -> dict[str, Any]:
    return {"id": m.id, "day": iso(m.day), "program": m.program, "configuration": m.configuration,
            "regions": m.regions}


def implant_json(rec: ImplantRecord) -> dict[str, Any]:
    return {"device": rec.device.serial, "implant_date": iso(rec.implant_date),
            "projected_replacement_date": iso(rec.projected_replacement_date)}


def trial_json(db: Session, t) -> dict[str, Any]:
    d = svc.decision_of(db, t)
    return {"id": t.id, "status": t.status, "start_date": iso(t.start_date),
            "screening_override_reason": t.screening_override_reason,
            "planned_end_date": iso(t.planned_end_date), "targets": t.targets, "baseline_nrs": t.baseline_nrs,
            "diary": [{"day": iso(e.day), "nrs": e.nrs, "medication": e.medication,
                       "activity_minutes": e.activity_minutes} for e in t.diary],
            "relief": svc.relief(t).__dict__, "decision": None if d is None else
            {"proceed": d.proceed, "relief_pct": d.relief_pct, "meets_rule": d.meets_rule, "note": d.note,
             "end_early_reason": d.end_early_reason}}


def patient_json(p: Patient) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "birth_year": p.birth_year, "sex": p.sex, "diagnosis": p.diagnosis,
            "stage": p.stage}


def patient_record_json(db: Session, p: Patient) -> dict[str, Any]:
    """The patient with their pathway so far: pain map, screening, plan, trial, implant, follow-ups."""
    t = svc.active_trial(db, p.id)
    imp = svc.latest(db, ImplantRecord, p.id)
    plan = svc.latest(db, PlanRecord, p.id)
    scr = svc.latest(db, Screening, p.id)
    pain = svc.current_pain(db, p.id)
    return {**patient_json(p), "pain_map": dict(pain.nrs) if pain else {}, "plan": plan.targets if plan else None,
            "screening": None if scr is None else {"eligible": scr.eligible, "criteria": scr.criteria},
            "trial": None if t is None else trial_json(db, t),
            "implant": None if imp is None else implant_json(imp),
            "follow_ups": [{"visit_date": iso(f.visit_date), "nrs": f.nrs, "odi_pct": f.odi_pct, "eq5d": f.eq5d}
                           for f in svc.records(db, FollowUp, p.id)],
            "adverse_events": [{"onset_date": iso(a.onset_date), "kind": a.kind, "severity": a.severity,
                                "resolved": a.resolved} for a in svc.records(db, AdverseEvent, p.id)]}


def audit_json(a: AuditEntry) -> dict[str, Any]:
    return {"at": iso(a.at), "username": a.username, "role": a.role, "action": a.action,
            "patient_id": a.patient_id, "allowed": a.allowed, "detail": json_safe(a.detail)}  # old rows: Infinity


# ------------------------------------------------------------ patients and evaluation
@router.get("/patients")
def api_patients(query: Annotated[PatientSearchIn, Query()], c: Ctx = Depends(ctx)):
    """The clinician's patients, filtered as the list's search (``q``, ``stage``, ``diagnosis``)."""
    return [patient_json(p) for p in svc.list_patients(c.db, c.user, query)]


@router.post("/patients", status_code=201)
def api_new_patient(body: PatientIn, c: Ctx = Depends(ctx)):
    return patient_json(svc.create_patient(c.db, c.user, body))


@router.get("/patients/{pid}")
def api_patient(pid: int, c: Ctx = Depends(ctx)):
    """The clinical record: for the patient's clinician (a patient has their controller and diary; 403)."""
    return patient_record_json(c.db, svc.patient_for(c.db, c.user, pid, "patient.read", clinician_only=True))


@router.put("/patients/{pid}/painmap")
def api_painmap(pid: int, body: PainMapIn, c: Ctx = Depends(ctx)):
    return {"nrs": svc.save_pain_map(c.db, c.user, pid, body.pain()).nrs}


@router.post("/patients/{pid}/screening")
def api_screening(pid: int, body: ScreeningIn, c: Ctx = Depends(ctx)):
    s = svc.screen(c.db, c.user, pid, body)
    return {"eligible": s.eligible, "criteria": s.criteria}


@router.get("/patients/{pid}/plan/recommended")
def api_recommended(pid: int, c: Ctx = Depends(ctx)):
    svc.patient_for(c.db, c.user, pid, "plan.read", clinician_only=True)
    return svc.recommend(svc.current_pain(c.db, pid))


@router.post("/patients/{pid}/plan")
def api_plan(pid: int, body: PlanIn, c: Ctx = Depends(ctx)):
    return {"targets": svc.save_plan(c.db, c.user, pid, body).targets}


# ------------------------------------------------------------ trial and implant
@router.post("/patients/{pid}/trial", status_code=201)
def api_trial(pid: int, body: TrialIn, c: Ctx = Depends(ctx)):
    return trial_json(c.db, svc.start_trial(c.db, c.user, pid, body))


@router.post("/patients/{pid}/diary", status_code=201)
def api_diary(pid: int, body: DiaryIn, c: Ctx = Depends(ctx)):
    e = svc.add_diary(c.db, c.user, pid, body)
    return {"day": e.day.isoformat(), "nrs": e.nrs}


def _trial_of(c: Ctx, pid: int, action: str, *, clinician_only: bool):
    svc.patient_for(c.db, c.user, pid, action, clinician_only=clinician_only)
    t = svc.active_trial(c.db, pid)
    if t is None:
        raise svc.NotFound(f"patient {pid} has no trial")
    return t


@router.get("/patients/{pid}/trial")
def api_trial_read(pid: int, c: Ctx = Depends(ctx)):
    """The trial (targets, baseline, relief, decision): clinical, for the clinician; a patient reads the diary."""
    return trial_json(c.db, _trial_of(c, pid, "trial.read", clinician_only=True))


@router.get("/patients/{pid}/diary")
def api_diary_read(pid: int, c: Ctx = Depends(ctx)):
    """The trial diary, for the patient and their clinician."""
    return trial_json(c.db, _trial_of(c, pid, "diary.read", clinician_only=False))["diary"]


@router.post("/patients/{pid}/trial/decision")
def api_decide(pid: int, body: DecisionIn, c: Ctx = Depends(ctx)):
    d = svc.decide(c.db, c.user, pid, body)
    return {"relief_pct": d.relief_pct, "meets_rule": d.meets_rule, "proceed": d.proceed}


@router.post("/patients/{pid}/implant", status_code=201)
def api_implant(pid: int, body: ImplantIn, c: Ctx = Depends(ctx)):
    return implant_json(svc.implant(c.db, c.user, pid, body))


@router.post("/patients/{pid}/ipg-replacement", status_code=201)
def api_replace(pid: int, body: ReplacementIn, c: Ctx = Depends(ctx)):
    return implant_json(svc.replace_ipg(c.db, c.user, pid, body))


# ------------------------------------------------------------ device
@router.post("/patients/{pid}/programs")
def api_program(pid: int, body: ProgramIn, c: Ctx = Depends(ctx)):
    return device_body(svc.create_program(c.db, c.user, pid, body.name))


@router.put("/patients/{pid}/programs/{name}/leads/{lead}")
def api_program_lead(pid: int, name: str, lead: int, body: LeadIn, c: Ctx = Depends(ctx)):
    return device_body(svc.program_lead(c.db, c.user, pid, name, lead, body))


@router.post("/patients/{pid}/therapy")
def api_therapy(pid: int, body: TherapyIn, c: Ctx = Depends(ctx)):
    return device_body(svc.set_therapy(c.db, c.user, pid, body))


@router.post("/patients/{pid}/amplitude")
def api_step(pid: int, body: StepIn, c: Ctx = Depends(ctx)):
    return device_body(svc.step_amplitude(c.db, c.user, pid, body))


@router.post("/patients/{pid}/device/leads/{lead}/contact-check")
def api_contact_check(pid: int, lead: int, c: Ctx = Depends(ctx), program: str | None = Query(None, max_length=20)):
    """The lead's contact check (and, with ``program``, its configuration's impedance), as the page's button."""
    out = svc.check_contacts(c.db, c.user, pid, lead, program)
    return device_body(out, contacts=contact_check_json(out, lead))


@router.post("/patients/{pid}/programs/{name}/leads/{lead}/ramp")
def api_ramp(pid: int, name: str, lead: int, body: RampIn, c: Ctx = Depends(ctx)):
    """One step of a threshold ramp; the lead's amplitude after it (refused past the device range: 409)."""
    out = svc.ramp_amplitude(c.db, c.user, pid, name, lead, body.steps)
    return device_body(out, amplitude_ma=out.device.program(name).leads[lead].amplitude_ma)


@router.put("/patients/{pid}/programs/{name}/leads/{lead}/closed-loop")
def api_closed_loop(pid: int, name: str, lead: int, body: ClosedLoopIn, c: Ctx = Depends(ctx)):
    """The lead's closed-loop controller (``{"closed_loop": {"mode": "off"}}`` for open loop), as the page's form;
    the device keeps it with the program (refused without patient limits or ECAP sensing: 409)."""
    out = svc.set_closed_loop(c.db, c.user, pid, name, lead, body)
    setting = out.device.program(name).leads[lead].closed_loop
    return device_body(out, closed_loop=None if setting is None else setting.model_dump())


@router.post("/patients/{pid}/programs/{name}/leads/{lead}/thresholds", status_code=201)
def api_capture_thresholds(pid: int, name: str, lead: int, body: ThresholdIn, c: Ctx = Depends(ctx)):
    """Thresholds of the lead's present configuration, merged with those captured before for it."""
    return threshold_json(svc.capture_thresholds(c.db, c.user, pid, name, lead, body))


@router.get("/patients/{pid}/thresholds")
def api_thresholds(pid: int, c: Ctx = Depends(ctx)):
    """The captured thresholds of the patient's stimulator, newest first."""
    p, row = svc.device_of(c.db, c.user, pid, "thresholds.read", clinician_only=True)
    return [threshold_json(t) for t in svc.thresholds(c.db, p.id, row.id)]


@router.post("/patients/{pid}/programs/{name}/mappings")
def api_record_mapping(pid: int, name: str, body: MappingIn, c: Ctx = Depends(ctx)):
    """Where the patient feels the program's present configuration today (replaces today's regions of it)."""
    return mapping_json(svc.record_mapping(c.db, c.user, pid, name, body.regions))


@router.get("/patients/{pid}/mappings")
def api_mappings(pid: int, c: Ctx = Depends(ctx)):
    """The mapping log of the patient's stimulator, newest first."""
    p, row = svc.device_of(c.db, c.user, pid, "mapping.read", clinician_only=True)
    return [mapping_json(m) for m in svc.mappings(c.db, p.id, row.id)]


@router.get("/patients/{pid}/device")
def api_device(pid: int, c: Ctx = Depends(ctx)):
    _, row = svc.device_of(c.db, c.user, pid, "device.read", clinician_only=False)
    return device_json(row)


@router.get("/patients/{pid}/device/events")
def api_events(pid: int, c: Ctx = Depends(ctx)):
    return [e.event for e in svc.device_events(c.db, c.user, pid)]


@router.get("/patients/{pid}/prediction")
def api_prediction(request: Request, pid: int, program: str, c: Ctx = Depends(ctx)):
    return prediction(request, c, pid, program).model_dump(mode="json")


# ------------------------------------------------------------ follow-up and audit
@router.post("/patients/{pid}/followups", status_code=201)
def api_followup(pid: int, body: FollowUpIn, c: Ctx = Depends(ctx)):
    return {"id": svc.add_follow_up(c.db, c.user, pid, body).id}


@router.post("/patients/{pid}/adverse-events", status_code=201)
def api_adverse(pid: int, body: AdverseEventIn, c: Ctx = Depends(ctx)):
    return {"id": svc.add_adverse_event(c.db, c.user, pid, body).id}


@router.get("/audit")
def api_audit(c: Ctx = Depends(ctx), limit: int = Query(100, ge=1, le=1000)):
    svc.require_clinician(c.user, "audit.read")
    return [audit_json(a) for a in svc.audit_entries(c.db, c.user, limit)]
